"""Warehouse upkeep flows: `rebuild-warehouse` (views rebuilt, replaced batch versions, dead
staging and files compaction replaced removed) and `compact-warehouse` (small files merged)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from docmill.flows.settings import DataDirParam, load_settings
from docmill.tasks import storage, store
from docmill.warehouse import compact
from docmill.warehouse.build import build_warehouse


@flow(name="rebuild-warehouse", validate_parameters=True)
def rebuild_warehouse(
    data_dir: DataDirParam = None,
) -> dict:
    """Rebuild every view and collect garbage of batches no run is working on.

    Args:
        data_dir: Data directory; default: DOCMILL_DATA_DIR or ./data.
    """
    logger = get_run_logger()
    settings = load_settings(data_dir=data_dir)
    layout = store.Layout.at(settings.data_dir)
    views = build_warehouse(layout.data_dir)
    removed: list[str] = []
    published = store.published_batches(layout)
    for batch_id in sorted({*published, *store.unpublished_batches(layout)}):
        if store.batch_is_locked(layout, batch_id):
            continue
        with store.batch_lock(layout, batch_id):
            # The staging of a batch never published may still serve a retry.
            garbage = store.collect_garbage(
                layout,
                batch_id,
                grace_seconds=settings.gc_grace_seconds,
                keep_staging=batch_id not in published,
            )
            removed += map(str, garbage)
    removed += map(
        str,
        compact.collect_compaction_garbage(layout, grace_seconds=settings.gc_grace_seconds),
    )
    logger.info(
        "%d views rebuilt; %d old versions, staging directories or compacted files removed",
        len(views),
        len(removed),
    )
    return {"views": views, "removed": removed}


@flow(name="compact-warehouse", validate_parameters=True)
def compact_warehouse(
    data_dir: DataDirParam = None,
    grace_seconds: float | None = None,
) -> dict:
    """Merge the current version of every batch into a few large Parquet files per table.

    View contents do not change; readers keep working while it runs.

    Args:
        data_dir: Data directory; default: DOCMILL_DATA_DIR or ./data.
        grace_seconds: Keep the replaced small files this long for readers that listed them
            (default: the gc_grace_seconds setting); later runs of this flow or of
            rebuild-warehouse remove them.
    """
    logger = get_run_logger()
    settings = load_settings(data_dir=data_dir)
    grace = settings.gc_grace_seconds if grace_seconds is None else grace_seconds
    result = compact.compact(storage.location(settings.data_dir), grace_seconds=grace)
    summary = result.summary()
    create_table_artifact(
        key="compaction",
        table=[{"table": name, **figures} for name, figures in summary["tables"].items()],
        description=(
            f"Generation {result.generation}: {result.batches} batches, "
            f"{result.loose_files_before} small files before, {len(result.removed)} paths "
            f"removed, {result.seconds:.1f} s."
        ),
    )
    logger.info(
        "generation %s: %d batches compacted in %.1f s; %d paths removed",
        result.generation,
        result.batches,
        result.seconds,
        len(result.removed),
    )
    return summary
