"""The `rebuild-warehouse` flow: views rebuilt, replaced batch versions and dead staging removed."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from docmill.flows.settings import DataDirParam, load_settings
from docmill.tasks import store
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
    layout = store.Layout(Path(settings.data_dir).resolve())
    views = build_warehouse(layout.data_dir)
    removed: list[str] = []
    for batch_id in store.published_batches(layout):
        if store.batch_is_locked(layout, batch_id):
            continue
        with store.batch_lock(layout, batch_id):
            removed += map(
                str,
                store.collect_garbage(layout, batch_id, grace_seconds=settings.gc_grace_seconds),
            )
    logger.info(
        "%d views rebuilt; %d old versions or staging directories removed", len(views), len(removed)
    )
    return {"views": views, "removed": removed}
