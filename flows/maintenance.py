"""Warehouse upkeep flows: `rebuild-warehouse` (views rebuilt, inlined rows flushed, old
snapshots expired, files no snapshot needs deleted) and `compact-warehouse` (the same and small
files merged)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from docmill.flows.settings import Seconds, flow_defaults, load_settings
from docmill.warehouse.build import build_warehouse
from docmill.warehouse.check import check_lake
from docmill.warehouse.upkeep import upkeep

DEFAULTS = flow_defaults()


class LakeDamaged(RuntimeError):
    """`docmill check` found damaged files; the flow run fails so that someone looks."""


@flow(name="rebuild-warehouse", validate_parameters=True)
def rebuild_warehouse(
    data_dir: str = DEFAULTS.data_dir,
) -> dict:
    """Rebuild every view, move the rows kept in the catalog into Parquet, expire snapshots
    older than the retention, delete the files no remaining snapshot needs, then check every
    file of the lake (docmill check): the run fails, naming the batches, when one is missing or
    damaged.

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
        "%d views rebuilt; %d inlined rows flushed; %d snapshots expired; %d unused and %d "
        "orphaned files deleted",
        len(views),
        result.rows_flushed,
        result.snapshots_expired,
        result.files_deleted,
        result.orphans_deleted,
    )
    checked = check_lake(settings.data_dir)
    if not checked.ok:
        create_table_artifact(
            key="lake-check",
            table=[
                {
                    "table": d.file.table,
                    "file": d.file.path,
                    "problem": d.problem,
                    "batches": ", ".join(d.batches),
                }
                for d in checked.damaged
            ],
            description=checked.catalog_problem or "damaged files of the lake",
        )
        raise LakeDamaged(
            f"{len(checked.damaged)} damaged files of batches "
            f"{', '.join(checked.damaged_batches) or '(none)'}"
            + (f"; {checked.catalog_problem}" if checked.catalog_problem else "")
            + ": run `docmill check` for the list, `docmill check --repair` to take those "
            "batches out of the lake and rerun them"
        )
    logger.info("checked %d files (%d rows): no damage", checked.files, checked.rows)
    return {"views": views, **result.summary(), "files_checked": checked.files}


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
