"""Where a batch's shard tasks run: a thread, worker processes tied to the run, or Dask; and the
environment those workers need."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from prefect.task_runners import ThreadPoolTaskRunner

from docmill.flows.lifecycle import TiedProcessPool
from docmill.flows.settings import Settings


def task_runner(settings: Settings, n_shards: int):
    """Where the shard tasks run. Every choice keeps one worker process per core for the whole
    batch, each loading the model once (tasks/nlp/pipeline.py caches it per process)."""
    if settings.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if settings.dask_address:
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": settings.workers,
                "threads_per_worker": 1,
                "processes": True,
                "host": "127.0.0.1",
                "dashboard_address": None,
            }
        )
    if settings.workers > 1 and n_shards > 1:
        return TiedProcessPool(max_workers=min(settings.workers, n_shards))
    # A batch of one shard runs on a thread here whatever the workers: a worker process would
    # spend seconds starting (interpreter, imports, the model) for the one task it runs.
    return ThreadPoolTaskRunner(max_workers=1)


# Two Dask defaults slow spaCy's allocation-heavy work (figures: docs/performance.md, "The Dask
# task runner"): a fixed MALLOC_TRIM_THRESHOLD_ makes glibc give memory back after every few
# frees, and the statistical profiler samples the task thread every 10 ms.
LOCAL_CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
}


@contextlib.contextmanager
def workers_use_this_api() -> Iterator[None]:
    """Worker processes report to the Prefect API this flow reports to.

    With no server configured, Prefect runs the flow against a temporary server of its own, and
    every spawned worker process would start one more (measured on 1,000 BBC articles with 2
    workers: ~3 s before a worker's first shard and ~4 s of CPU per worker, taken from tagging).
    Naming the flow's server in the environment the workers inherit avoids both; the variable
    is restored afterwards so a later flow in this process starts clean.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        yield
        return
    with get_client(sync_client=True) as client:
        api_url = str(client.api_url)
    saved = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = api_url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = saved


def local_cluster_config(settings: Settings) -> contextlib.AbstractContextManager:
    """Dask settings for the workers of a LocalCluster we start (a cluster given by address
    has its own; docs/runbook.md)."""
    if settings.task_runner != "dask" or settings.dask_address:
        return contextlib.nullcontext()
    import dask

    return dask.config.set(LOCAL_CLUSTER_CONFIG)
