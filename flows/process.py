"""The `process-documents` flow: plan -> prepare each shard -> find duplicates -> tag each
shard -> publish -> views -> artifacts.

Flows only wire; every step is plain Python in `docmill.tasks` and `docmill.warehouse`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import Cancelled
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BeforeValidator

from docmill.flows.artifacts import merge_counts, publish_artifacts, run_record, stage_seconds
from docmill.flows.lifecycle import RunInterrupted, StopRequest, TiedProcessPool, stop_on_signals
from docmill.flows.progress import ShardProgress
from docmill.flows.settings import (
    DedupMode,
    Profile,
    Settings,
    TaskRunnerKind,
    Workers,
    flow_defaults,
    load_settings,
)
from docmill.tasks.dedup.minhash import Duplicate, batch_duplicates
from docmill.tasks.ingest.read import plan_items
from docmill.tasks.ingest.sources import resolve_sources
from docmill.tasks.lake import filesystem
from docmill.tasks.lake.layout import Layout, validate_batch_id
from docmill.tasks.lake.locks import batch_lock
from docmill.tasks.lake.publish import Published, publish_batch, write_run_record
from docmill.tasks.lake.recorded import batch_manifest
from docmill.tasks.lake.staging import (
    ShardWriter,
    discard_stale_staging,
    read_staged_plan,
    remove_staging,
    write_staged_plan,
)
from docmill.tasks.nlp.entities import VALUE_LABELS
from docmill.tasks.nlp.pipeline import model_identity, model_language
from docmill.tasks.passes.plan import (
    BatchPlan,
    default_batch_id,
    items_from_manifest,
    plan_batch,
    shard_key,
)
from docmill.tasks.passes.prepare import (
    PrepareResult,
    PrepareSpec,
    ProcessingOptions,
    prepare_shard,
    rejects_table,
)
from docmill.tasks.passes.tag import ShardResult, ShardSpec, process_shard
from docmill.tasks.records import Reject, SourceItem
from docmill.warehouse.build import build_warehouse, views_up_to_date
from docmill.warehouse.report import write_report


class ShardsFailed(RuntimeError):
    """Some shards raised; the finished ones are kept for a retry."""


@task(name="prepare-shard", task_run_name="prepare-{spec.shard_no}", cache_policy=NO_CACHE)
def prepare_shard_task(spec: PrepareSpec) -> PrepareResult:
    return prepare_shard(spec)


@task(name="find-duplicates", cache_policy=NO_CACHE)
def find_duplicates_task(
    data_dir: str, batch_id: str, prepared_files: list[str], mode: str, threshold: float
) -> dict[str, Duplicate]:
    layout = Layout.at(data_dir)
    files = [filesystem.location(f) for f in prepared_files]
    return batch_duplicates(layout, batch_id, files, mode=mode, threshold=threshold)


@task(name="process-shard", task_run_name="shard-{spec.shard_no}", cache_policy=NO_CACHE)
def process_shard_task(spec: ShardSpec) -> ShardResult:
    return process_shard(spec)


@task(name="publish-batch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def publish_task(
    data_dir: str, batch_id: str, shard_dirs: list[str], manifest: dict, run_record: dict
) -> Published:
    layout = Layout.at(data_dir)
    shards = [filesystem.location(p) for p in shard_dirs]
    return publish_batch(layout, batch_id, shards, manifest, run_record=run_record)


@task(name="refresh-views", cache_policy=NO_CACHE)
def refresh_views_task(data_dir: str) -> list[str]:
    path = filesystem.location(data_dir)
    if views_up_to_date(path):
        return []
    return build_warehouse(path)


@task(name="write-report", cache_policy=NO_CACHE)
def write_report_task(data_dir: str) -> str:
    return str(write_report(filesystem.location(data_dir)))


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
        return run_batch(batch_id, lambda layout: plan_items(paths), settings=settings, force=force)
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


# What a batch processes: planned items, optionally with items already known to be rejects.
BatchInput = Iterable[SourceItem] | tuple[list[SourceItem], list[Reject]]


def recorded_input(layout: Layout, batch_id: str) -> BatchInput | None:
    """The items of an unfinished attempt of the batch, else of its published version."""
    manifest = read_staged_plan(layout, batch_id) or batch_manifest(layout, batch_id)
    return items_from_manifest(manifest) if manifest else None


def run_batch(
    batch_id: str,
    select: Callable[[Layout], BatchInput],
    *,
    settings: Settings,
    force: bool,
) -> dict:
    """Plan (under the batch lock), process every shard, publish, record; see architecture.md."""
    logger = get_run_logger()
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    layout = Layout.at(settings.data_dir)
    filesystem.check_reachable(layout.data_dir)
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    run_id = str(flow_run.id or uuid.uuid4())
    options = ProcessingOptions(
        model=settings.model,
        model_id=model_identity(settings.model),
        profile=settings.profile,
        nlp_batch_size=settings.nlp_batch_size,
        chunk_docs=settings.chunk_docs,
        max_segment_chars=settings.max_segment_chars,
        tag_duplicates=settings.tag_duplicates,
        clean_steps=tuple(settings.clean_steps),
        dedup=settings.dedup,
        near_duplicate_threshold=settings.near_duplicate_threshold,
        languages=tuple(settings.languages or [model_language(settings.model)]),
        min_language_score=settings.min_language_score,
        quality_thresholds=tuple(sorted(settings.quality_thresholds.items())),
        use_trafilatura=settings.use_trafilatura,
        html_time_limit_s=settings.html_time_limit_s,
    )
    record = run_record(run_id, batch_id, started_at, options.model_id)
    try:
        with (
            stop_on_signals() as stop,
            batch_lock(layout, batch_id, wait_seconds=settings.lock_wait_seconds),
        ):
            stale = discard_stale_staging(layout, batch_id)
            if stale:
                logger.info("removed %d half-written staging directories of a dead run", stale)
            stage_clock = time.perf_counter()
            selected = select(layout)
            items, known_rejects = selected if isinstance(selected, tuple) else (selected, [])
            plan = plan_batch(
                batch_id,
                items,
                rejects=known_rejects,
                max_shard_docs=settings.max_shard_docs,
                min_shard_docs=settings.min_shard_docs,
            )
            if plan.n_input == 0:
                logger.info("batch %s: nothing to process", batch_id)
                record.update(status="nothing_new", finished_at=datetime.now(UTC))
                write_run_record(layout, record)
                return {**record, "data_dir": str(layout.data_dir), "top_entities": []}
            stop.check()
            write_staged_plan(layout, batch_id, plan.manifest())
            parent_seconds = {"plan": time.perf_counter() - stage_clock}
            logger.info(
                "batch %s: %d input items in %d shards; data in %s",
                batch_id,
                plan.n_input,
                len(plan.shards),
                layout.data_dir,
            )
            stage_clock = time.perf_counter()
            shards = _run_shards(plan, layout, run_id, options, settings, force, stop)
            parent_seconds.update(shards.seconds, shards_wall=time.perf_counter() - stage_clock)
            results = shards.results
            stage_clock = time.perf_counter()
            # Before publishing, so the new batch is never visible through outdated views.
            refresh_views_task(str(layout.data_dir))
            parent_seconds["views"] = time.perf_counter() - stage_clock
            shard_dirs = [str(layout.shard_dir(batch_id, s.shard_key)) for s in shards.specs]
            shard_dirs.append(str(_stage_planning_rejects(layout, plan, run_id)))
            record.update(_totals(plan, shards, parent_seconds), status="completed")
            stop.check()  # the last moment a stop leaves the published batch as it was
            # The run's row commits with the batch: a published batch is never left recorded
            # as failed, and a failed publish never as completed.
            published = publish_task(
                str(layout.data_dir), batch_id, shard_dirs, plan.manifest(), record
            )
            logger.info(
                "published batch %s as version %s (snapshot %s) in %.2f s",
                batch_id,
                published.version,
                published.snapshot_id,
                published.seconds,
            )
    except BaseException as err:
        record.update(status="failed", error=f"{type(err).__name__}: {err}"[:2000])
        record["finished_at"] = datetime.now(UTC)
        try:
            write_run_record(layout, record)
        except Exception as unrecorded:
            # The run's own error matters more than its record.
            logger.warning("the failed run could not be recorded: %s", unrecorded)
        raise
    try:
        remove_staging(layout, batch_id)
    except OSError as err:
        logger.warning("the spent staging of batch %s stays behind: %s", batch_id, err)
    record.update(batch_version=published.version, finished_at=published.committed_at)
    summary = {**record, "seconds": round(time.perf_counter() - clock, 2)}
    summary["publish_seconds"] = round(published.seconds, 3)
    summary["snapshot_id"] = published.snapshot_id
    summary["top_entities"] = _top_entities(shards.entity_totals)
    summary["data_dir"] = str(layout.data_dir)
    summary["report"] = None
    if settings.refresh_report:
        try:
            summary["report"] = write_report_task(str(layout.data_dir))
        except Exception as err:
            logger.warning("report not written (%s); the data is published regardless", err)
    try:
        publish_artifacts(summary, shards.prepared, results)
    except Exception as err:
        logger.warning("Prefect artifacts not written (%s); the data is published regardless", err)
    logger.info(
        "batch %s: %d documents, %d rejected, %d duplicates, %d tokens, %d entities",
        batch_id,
        record["n_documents"],
        record["n_rejected"],
        record["n_duplicates"],
        record["n_tokens"],
        record["n_entities"],
    )
    return summary


@dataclass(slots=True)
class ShardsDone:
    """What the two passes over the shards produced, for publishing and the run record."""

    prepared: list[PrepareResult]
    specs: list[ShardSpec]
    results: list[ShardResult]
    seconds: dict[str, float] = field(default_factory=dict)
    # (canonical name, label) -> mentions over every shard of the batch.
    entity_totals: Counter[tuple[str, str]] = field(default_factory=Counter)


def _run_shards(
    plan: BatchPlan,
    layout: Layout,
    run_id: str,
    options: ProcessingOptions,
    settings: Settings,
    force: bool,
    stop: StopRequest,
) -> ShardsDone:
    """Prepare every shard, decide duplicates over the whole batch, then tag every shard.

    Both passes share one task runner, so worker processes (and their loaded model) live for
    the whole batch. The runner is used directly (not through a subflow) so the shard specs
    never travel to the Prefect API as parameters.
    """
    logger = get_run_logger()
    prepare_specs = [
        PrepareSpec(
            batch_id=plan.batch_id,
            shard_no=n,
            key="prep-" + shard_key(plan.batch_id, items, options),
            data_dir=str(layout.data_dir),
            run_id=run_id,
            items=tuple(items),
            options=options,
            force=force,
        )
        for n, items in enumerate(plan.shards)
    ]
    runner = _task_runner(settings, len(prepare_specs))
    seconds: dict[str, float] = {}
    size = [sum(i.n_bytes for i in items) for items in plan.shards]
    stop_workers = getattr(runner, "stop_workers", None) or (lambda: None)
    with (
        _workers_use_this_api(),
        _local_cluster_config(settings),
        runner,
        stop.calling(stop_workers),
    ):
        clock = time.perf_counter()
        prepared = _fan_out(runner, prepare_shard_task, prepare_specs, "prepare", size, stop)
        seconds["prepare_wall"] = time.perf_counter() - clock
        logger.info(
            "prepared %d shards: %d documents, %d rejected",
            len(prepared),
            sum(r.n_documents for r in prepared),
            sum(r.n_rejected for r in prepared),
        )
        clock = time.perf_counter()
        duplicates = find_duplicates_task(
            str(layout.data_dir),
            plan.batch_id,
            [
                str(layout.prepared_dir(plan.batch_id, spec.key) / "prepared.parquet")
                for spec in prepare_specs
            ],
            options.dedup,
            options.near_duplicate_threshold,
        )
        seconds["dedup"] = time.perf_counter() - clock
        stop.check()
        logger.info(
            "%d duplicates (%d exact, %d near)",
            len(duplicates),
            sum(1 for d in duplicates.values() if d.kind == "exact"),
            sum(1 for d in duplicates.values() if d.kind == "near"),
        )
        specs = [
            _shard_spec(prep, items, duplicates)
            for prep, items in zip(prepare_specs, plan.shards, strict=True)
        ]
        progress = ShardProgress(
            total_shards=len(specs), total_items=len(plan.items), logger=logger
        )
        entity_totals: Counter[tuple[str, str]] = Counter()

        def on_result(result: ShardResult) -> None:
            progress.advance(result)
            # Merged as shards finish and dropped from the result: the futures keep every
            # result to the end, and a shard's distinct entities run into the thousands.
            entity_totals.update({(n, label): k for n, label, k in result.entity_counts})
            result.entity_counts = []

        with progress:
            results = _fan_out(runner, process_shard_task, specs, "shard", size, stop, on_result)
    return ShardsDone(prepared, specs, results, seconds, entity_totals)


def _task_runner(settings: Settings, n_shards: int):
    """Where the shard tasks run. Every choice keeps one worker process per core for the whole
    batch, each loading the model once (nlp.load_pipeline is cached per process)."""
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
def _workers_use_this_api() -> Iterator[None]:
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


def _local_cluster_config(settings: Settings) -> contextlib.AbstractContextManager:
    """Dask settings for the workers of a LocalCluster we start (a cluster given by address
    has its own; docs/runbook.md)."""
    if settings.task_runner != "dask" or settings.dask_address:
        return contextlib.nullcontext()
    import dask

    return dask.config.set(LOCAL_CLUSTER_CONFIG)


def _shard_spec(
    prep: PrepareSpec, items: list[SourceItem], duplicates: dict[str, Duplicate]
) -> ShardSpec:
    mine = {i.doc_id: duplicates[i.doc_id] for i in items if i.doc_id in duplicates}
    decisions = sorted((k, d.duplicate_of, d.kind, d.similarity) for k, d in mine.items())
    return ShardSpec(
        batch_id=prep.batch_id,
        shard_no=prep.shard_no,
        shard_key=shard_key(prep.batch_id, items, prep.options, decisions),
        data_dir=prep.data_dir,
        run_id=prep.run_id,
        prepared_key=prep.key,
        duplicates=mine,
        options=prep.options,
        force=prep.force,
    )


def _fan_out(
    runner, task_fn, specs: list, what: str, size: list[int], stop: StopRequest, on_result=None
) -> list:
    """Submit one task per spec, largest first (so the ones left when cores fall idle are
    small), collect results in shard order; raise ShardsFailed if any failed, RunInterrupted
    as soon as a stop signal ends the workers."""
    if not specs:
        return []
    logger = get_run_logger()
    results, failures = [], []
    by_size = sorted(specs, key=lambda spec: -size[spec.shard_no])
    futures = [runner.submit(task_fn, {"spec": spec}) for spec in by_size]
    for future in as_completed(futures):
        stop.check()
        try:
            result = future.result()
        except Exception as err:
            stop.check()
            failures.append(f"{type(err).__name__}: {err}")
            logger.error("a %s task failed: %s", what, err)
            continue
        results.append(result)
        if on_result is not None:
            on_result(result)
    if failures:
        raise ShardsFailed(
            f"{len(failures)} of {len(specs)} {what} tasks failed (finished shards are kept; "
            f"retry the run to finish the batch). First error: {failures[0]}"
        )
    return sorted(results, key=lambda r: r.shard_no)


def _stage_planning_rejects(layout: Layout, plan: BatchPlan, run_id: str) -> filesystem.Location:
    """Planning rejects (repeated ids) travel to the lake like one more, tiny shard."""
    listed = json.dumps([(r.source_uri, r.reason) for r in plan.rejects]).encode()
    key = "plan-" + hashlib.sha256(listed).hexdigest()[:16]
    shard_dir = layout.shard_dir(plan.batch_id, key)
    writer = ShardWriter(shard_dir, batch_id=plan.batch_id)
    writer.write("rejects", rejects_table(plan.batch_id, run_id, plan.rejects))
    writer.commit({"planning_rejects": len(plan.rejects)})
    return shard_dir


def _totals(plan: BatchPlan, shards: ShardsDone, parent_seconds: dict) -> dict:
    results, prepared = shards.results, shards.prepared
    return {
        "n_input": plan.n_input,
        "n_documents": sum(r.n_documents for r in results),
        "n_rejected": sum(r.n_rejected for r in results) + len(plan.rejects),
        "n_duplicates": sum(r.n_duplicates for r in results),
        "n_tokens": sum(r.n_tokens for r in results),
        "n_entities": sum(r.n_entities for r in results),
        "n_shards": len(results),
        "n_shards_reused": sum(1 for r in results if r.reused),
        "counters_json": json.dumps(
            {
                "seconds": stage_seconds([*prepared, *results]),
                "flow_seconds": {k: round(v, 3) for k, v in parent_seconds.items()},
                "rejects": merge_counts(
                    [
                        *(r.rejects_by_reason for r in results),
                        Counter(r.reason for r in plan.rejects),
                    ]
                ),
                "clean_ops": merge_counts(r.clean_ops for r in prepared),
                "languages": merge_counts(r.languages for r in prepared),
                "extraction": merge_counts(r.extraction for r in prepared),
                "duplicates": {
                    "exact": sum(r.n_exact_duplicates for r in results),
                    "near": sum(r.n_near_duplicates for r in results),
                },
                "tagged": sum(r.n_tagged for r in results),
                "not_tagged_by_reason": merge_counts(r.not_tagged_by_reason for r in results),
                "not_tagged": {
                    "duplicate": sum(
                        r.n_documents - r.n_tagged - r.n_untagged_language for r in results
                    ),
                    "language": sum(r.n_untagged_language for r in results),
                },
                "entity_repairs": merge_counts(r.entity_repairs for r in results),
            },
            sort_keys=True,
        ),
    }


def _top_entities(totals: Counter[tuple[str, str]], limit: int = 10) -> list[tuple[str, str, int]]:
    named = ((key, n) for key, n in totals.items() if key[1] not in VALUE_LABELS)
    ranked = sorted(named, key=lambda kv: (-kv[1], kv[0]))
    return [(name, label, count) for (name, label), count in ranked[:limit]]
