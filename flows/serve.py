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


def deployments(settings: Settings) -> list:
    return [
        process_documents.to_deployment(
            name="process-documents",
            description="Process given sources as one batch (custom runs, backfills). With no "
            "sources, rerun the items recorded for batch_id; force=true recomputes every shard. "
            "The batch is published in one catalog commit.",
            tags=["docmill"],
        ),
        process_inbox.to_deployment(
            name="process-inbox",
            cron=settings.inbox_cron,
            description="Every inbox item no batch holds yet, as a new batch named after the "
            "scheduled time.",
            tags=["docmill"],
        ),
        rebuild_warehouse.to_deployment(
            name="rebuild-warehouse",
            cron=settings.maintenance_cron,
            description="Rebuild the views, expire old snapshots, delete the files no snapshot "
            "needs, and check every file of the lake.",
            tags=["docmill"],
        ),
        compact_warehouse.to_deployment(
            name="compact-warehouse",
            cron=settings.compaction_cron,
            description="Write rows kept in the catalog to Parquet and merge small files into few "
            "large ones; views and time travel unchanged, readers keep working.",
            tags=["docmill"],
        ),
    ]


def serve_deployments(settings: Settings, *, limit: int | None = None) -> None:
    from prefect import serve

    serve(*deployments(settings), limit=limit)
