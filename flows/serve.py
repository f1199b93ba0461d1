"""`docmill serve`: the deployments of deployments/prefect.yaml, served by one process.

Same flows, names and schedules as the YAML; for one machine without a work pool or worker.
The parameters' defaults are the settings as this process's DOCMILL_* make them: the flows read
them when imported (`flow_defaults`), and the run forms show them.
"""

from __future__ import annotations

from docmill.flows.inbox import process_inbox
from docmill.flows.maintenance import compact_warehouse, rebuild_warehouse
from docmill.flows.process import process_documents
from docmill.flows.settings import Settings

DEPLOYMENT_NAMES = (
    "process-documents",
    "process-inbox",
    "rebuild-warehouse",
    "compact-warehouse",
)


def deployments(settings: Settings) -> list:
    return [
        process_documents.to_deployment(
            name="process-documents",
            description="Process given sources as one batch (custom runs, backfills); with no "
            "sources, rerun the items recorded for batch_id.",
            tags=["docmill"],
        ),
        process_inbox.to_deployment(
            name="process-inbox",
            cron=settings.inbox_cron,
            description="Every inbox item no batch holds yet, as a new batch.",
            tags=["docmill"],
        ),
        rebuild_warehouse.to_deployment(
            name="rebuild-warehouse",
            cron=settings.maintenance_cron,
            description="Rebuild views; remove replaced batch versions.",
            tags=["docmill"],
        ),
        compact_warehouse.to_deployment(
            name="compact-warehouse",
            cron=settings.compaction_cron,
            description="Merge small Parquet files into few large ones; views unchanged.",
            tags=["docmill"],
        ),
    ]


def serve_deployments(settings: Settings, *, limit: int | None = None) -> None:
    from prefect import serve

    serve(*deployments(settings), limit=limit)
