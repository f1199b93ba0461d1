"""Warehouse upkeep flows: `rebuild-warehouse` (views rebuilt, old snapshots expired, files no
snapshot needs deleted) and `compact-warehouse` (inlined rows flushed, small files merged)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from docmill.flows.settings import Seconds, flow_defaults, load_settings
from docmill.warehouse.build import build_warehouse
from docmill.warehouse.upkeep import upkeep

DEFAULTS = flow_defaults()


@flow(name="rebuild-warehouse", validate_parameters=True)
def rebuild_warehouse(
    data_dir: str = DEFAULTS.data_dir,
) -> dict:
    """Rebuild every view, expire snapshots older than the retention and delete the files
    no remaining snapshot needs.

    Args:
        data_dir: Data directory: a local path or s3://bucket/prefix (default:
            DOCMILL_DATA_DIR where the deployment was served or deployed).
    """
    logger = get_run_logger()
    settings = load_settings(data_dir=data_dir)
    views = build_warehouse(settings.data_dir)
    result = upkeep(
        settings.data_dir,
        merge=False,
        retention_days=settings.snapshot_retention_days,
        grace_seconds=settings.gc_grace_seconds,
    )
    logger.info(
        "%d views rebuilt; %d snapshots expired; %d unused and %d orphaned files deleted",
        len(views),
        result.snapshots_expired,
        result.files_deleted,
        result.orphans_deleted,
    )
    return {"views": views, **result.summary()}


@flow(name="compact-warehouse", validate_parameters=True)
def compact_warehouse(
    data_dir: str = DEFAULTS.data_dir,
    grace_seconds: Seconds = DEFAULTS.gc_grace_seconds,
) -> dict:
    """Move rows kept in the catalog into Parquet and merge small files into few large ones.

    View contents do not change, and time travel answers as before; readers keep working.

    Args:
        data_dir: Data directory: a local path or s3://bucket/prefix (default:
            DOCMILL_DATA_DIR where the deployment was served or deployed).
        grace_seconds: Delete the replaced files once unused this long (default:
            DOCMILL_GC_GRACE_SECONDS); later runs of this flow or of rebuild-warehouse delete
            them otherwise.
    """
    logger = get_run_logger()
    settings = load_settings(data_dir=data_dir)
    result = upkeep(
        settings.data_dir,
        merge=True,
        retention_days=settings.snapshot_retention_days,
        grace_seconds=grace_seconds,
    )
    summary = result.summary()
    create_table_artifact(
        key="compaction",
        table=[{"table": name, **figures} for name, figures in summary["tables"].items()],
        description=(
            f"{result.rows_flushed} inlined rows flushed, {sum(result.files_merged.values())} "
            f"files merged into {sum(result.files_written.values())}, "
            f"{result.files_deleted} unused files deleted, {result.seconds:.1f} s."
        ),
    )
    logger.info(
        "%d inlined rows flushed; %d files merged into %d in %.1f s; %d files deleted",
        result.rows_flushed,
        sum(result.files_merged.values()),
        sum(result.files_written.values()),
        result.seconds,
        result.files_deleted,
    )
    return summary
