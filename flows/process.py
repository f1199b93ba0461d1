"""The `process-documents` flow: sources (or a batch id to rerun) in, one published batch out.

It only wires: parameters become Settings, sources become the batch's items, and
`flows/batch.py` does the rest (plan -> prepare each shard -> find duplicates -> tag each
shard -> publish -> views -> report and artifacts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Cancelled
from pydantic import BeforeValidator

from docmill.flows.batch import BatchInput, recorded_input, run_batch
from docmill.flows.lifecycle import RunInterrupted
from docmill.flows.settings import (
    DedupMode,
    Profile,
    Settings,
    TaskRunnerKind,
    Workers,
    flow_defaults,
    load_settings,
)
from docmill.tasks.ingest.read import plan_items
from docmill.tasks.ingest.sources import resolve_sources
from docmill.tasks.lake.layout import Layout, validate_batch_id
from docmill.tasks.passes.plan import default_batch_id


def _run_name() -> str:
    params = flow_run.parameters
    return f"process-{params.get('batch_id') or 'auto'}-{flow_run.id[:8] if flow_run.id else ''}"


# `docmill run` without a SOURCE passes None; the run form only ever offers a list.
Sources = Annotated[Sequence[str], BeforeValidator(lambda given: [] if given is None else given)]


DEFAULTS = flow_defaults()


@flow(name="process-documents", flow_run_name=_run_name, validate_parameters=True)
def process_documents(
    sources: Sources = (),
    batch_id: str = "",
    data_dir: str = DEFAULTS.data_dir,
    model: str = DEFAULTS.model,
    workers: Workers = DEFAULTS.workers,
    force: bool = False,
    profile: Profile = DEFAULTS.profile,
    dedup: DedupMode = DEFAULTS.dedup,
    tag_duplicates: bool = DEFAULTS.tag_duplicates,
    clean_steps: list[str] = DEFAULTS.clean_steps,
    quality_thresholds: dict[str, float] = DEFAULTS.quality_thresholds,
    task_runner: TaskRunnerKind = DEFAULTS.task_runner,
    dask_address: str = DEFAULTS.dask_address,
) -> dict:
    """Clean, segment and tag the sources as one batch, publish it atomically, refresh views.

    A parameter named after a setting defaults to its DOCMILL_* variable (DOCMILL_DATA_DIR,
    DOCMILL_WORKERS, ...) where the deployment was served or deployed, else to docmill's own.

    Args:
        sources: Files, folders or globs to process, one per item. Empty: rerun exactly the
            items recorded for batch_id (from an unfinished attempt, else from its published
            version).
        batch_id: Batch to (re)process. Empty: derived from the sources. Rerunning a batch
            replaces its published version atomically.
        data_dir: Data directory: a local path or s3://bucket/prefix.
        model: spaCy pipeline package or path.
        workers: Worker processes for tagging.
        force: Recompute every shard, even those finished by an earlier attempt.
        profile: accurate (the full pipeline) or fast (a sentence recogniser instead of the
            parser).
        dedup: near (exact and MinHash near duplicates, within the batch and against every
            earlier batch), exact (same cleaned text) or off.
        tag_duplicates: Tag duplicate documents as well.
        clean_steps: Cleaning steps by name, in order (see docs/cleaning.md).
        quality_thresholds: Quality thresholds such as {"min_words": 50}; documents that fail
            one are rejected with reason low_quality. Empty: none (signals are still stored).
        task_runner: local (worker processes on this machine) or dask (shards run on a Dask
            cluster).
        dask_address: With task_runner dask: the scheduler of an existing cluster
            (tcp://host:8786). Empty: a LocalCluster of `workers` processes on this machine.
    """
    settings = load_settings(
        data_dir=data_dir,
        model=model,
        workers=workers,
        profile=profile,
        dedup=dedup,
        tag_duplicates=tag_duplicates,
        clean_steps=clean_steps,
        quality_thresholds=quality_thresholds,
        task_runner=task_runner,
        dask_address=dask_address,
    )
    try:
        return _process(sources, batch_id, settings, force)
    except RunInterrupted as err:
        # A person stopped it: Cancelled, not a failure of the pipeline (the lake's runs row
        # says failed, with the reason).
        return Cancelled(message=str(err))


def _process(sources: Sequence[str], batch_id: str, settings: Settings, force: bool) -> dict:
    if sources:
        paths = resolve_sources(sources)
        batch_id = validate_batch_id(batch_id or default_batch_id(paths))
        return run_batch(
            batch_id, lambda layout: BatchInput(plan_items(paths)), settings=settings, force=force
        )
    if not batch_id:
        raise ValueError("give sources, or the batch_id of an existing batch to rerun it")
    batch_id = validate_batch_id(batch_id)

    def recorded(layout: Layout) -> BatchInput:
        found = recorded_input(layout, batch_id)
        if found is None:
            raise ValueError(
                f"batch {batch_id!r} has no recorded items in {layout.data_dir}; give sources"
            )
        return found

    return run_batch(batch_id, recorded, settings=settings, force=force)
