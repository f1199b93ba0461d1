"""A batch from start to finish, for every flow that processes one (process-documents,
process-inbox): under the batch's lock plan it, run the two passes over its shards on one task
runner, publish it in one commit, refresh views, write the report and artifacts, and record
the run. The @task wrappers here are thin: each step is plain Python in `docmill.tasks` and
`docmill.warehouse`."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run

from docmill.flows import runners
from docmill.flows.artifacts import publish_artifacts
from docmill.flows.lifecycle import StopRequest, stop_on_signals
from docmill.flows.progress import ShardProgress
from docmill.flows.run_record import ShardsDone, batch_totals, run_record, top_entities
from docmill.flows.settings import Settings
from docmill.tasks.dedup.minhash import Duplicate, batch_duplicates
from docmill.tasks.lake import filesystem
from docmill.tasks.lake.layout import Layout
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
from docmill.tasks.nlp.pipeline import model_identity, model_language
from docmill.tasks.passes.plan import (
    BatchPlan,
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
from docmill.tasks.timing import StageTimer
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


@dataclass(frozen=True, slots=True)
class BatchInput:
    """What a batch processes: planned items, and items already known to be rejects (a rerun's
    recorded items whose source is gone)."""

    items: Iterable[SourceItem]
    known_rejects: Sequence[Reject] = ()


def recorded_input(layout: Layout, batch_id: str) -> BatchInput | None:
    """The items of an unfinished attempt of the batch, else of its published version."""
    manifest = read_staged_plan(layout, batch_id) or batch_manifest(layout, batch_id)
    if not manifest:
        return None
    items, rejects = items_from_manifest(manifest)
    return BatchInput(items, rejects)


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
    timer = StageTimer()
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
            with timer("plan"):
                selected = select(layout)
                plan = plan_batch(
                    batch_id,
                    selected.items,
                    rejects=list(selected.known_rejects),
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
            logger.info(
                "batch %s: %d input items in %d shards; data in %s",
                batch_id,
                plan.n_input,
                len(plan.shards),
                layout.data_dir,
            )
            with timer("shards_wall"):
                shards = _run_shards(plan, layout, run_id, options, settings, force, stop)
            results = shards.results
            # Before publishing, so the new batch is never visible through outdated views.
            with timer("views"):
                refresh_views_task(str(layout.data_dir))
            parent_seconds = {**timer.seconds, **shards.seconds}
            shard_dirs = [str(layout.shard_dir(batch_id, s.shard_key)) for s in shards.specs]
            shard_dirs.append(str(_stage_planning_rejects(layout, plan, run_id)))
            record.update(batch_totals(plan, shards, parent_seconds), status="completed")
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
    summary["top_entities"] = top_entities(shards.entity_totals)
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
    runner = runners.task_runner(settings, len(prepare_specs))
    timer = StageTimer()
    size = [sum(i.n_bytes for i in items) for items in plan.shards]
    stop_workers = getattr(runner, "stop_workers", None) or (lambda: None)
    with (
        runners.workers_use_this_api(),
        runners.local_cluster_config(settings),
        runner,
        stop.calling(stop_workers),
    ):
        with timer("prepare_wall"):
            prepared = _fan_out(runner, prepare_shard_task, prepare_specs, "prepare", size, stop)
        logger.info(
            "prepared %d shards: %d documents, %d rejected",
            len(prepared),
            sum(r.n_documents for r in prepared),
            sum(r.n_rejected for r in prepared),
        )
        with timer("dedup"):
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
    return ShardsDone(prepared, specs, results, timer.seconds, entity_totals)


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
