"""The `process-inbox` flow: everything in the inbox that no batch holds yet, as a new batch."""

from __future__ import annotations

from typing import Annotated, Literal

from prefect import flow
from prefect.runtime import flow_run
from pydantic import Field

from docmill.flows.process import BatchInput, recorded_input, run_batch
from docmill.flows.settings import load_settings
from docmill.tasks import store
from docmill.tasks.inbox import INBOX_LOCK, held_items, inbox_batch_id, new_items
from docmill.tasks.ingest import SourceNotFound, resolve_sources
from docmill.tasks.plan import item_entry


def _run_name() -> str:
    return f"inbox-{flow_run.scheduled_start_time:%Y%m%dT%H%M%SZ}"


@flow(name="process-inbox", flow_run_name=_run_name, validate_parameters=True)
def process_inbox(
    inbox: Annotated[
        str | None, Field(description="Inbox folder or glob; default: DOCMILL_INBOX or ./inbox.")
    ] = None,
    batch_id: Annotated[
        str | None,
        Field(description="Batch id; default: inbox-<scheduled time>, stable across retries."),
    ] = None,
    data_dir: Annotated[
        str | None, Field(description="Data directory; default: DOCMILL_DATA_DIR or ./data.")
    ] = None,
    model: Annotated[str | None, Field(description="spaCy pipeline package or path.")] = None,
    workers: Annotated[int | None, Field(ge=1, le=64, description="Worker processes.")] = None,
    profile: Annotated[
        Literal["accurate", "fast"] | None, Field(description="Tagging profile.")
    ] = None,
) -> dict:
    """Process the inbox items that no published batch (or live run) holds yet.

    A retry of a run processes the same items as the attempt it retries, even if the inbox
    changed since: they were recorded before any work started.
    """
    settings = load_settings(
        data_dir=data_dir, model=model, workers=workers, profile=profile, inbox=inbox
    )
    batch_id = store.validate_batch_id(batch_id or inbox_batch_id(flow_run.scheduled_start_time))

    def select(layout: store.Layout) -> BatchInput:
        recorded = recorded_input(layout, batch_id)
        if recorded is not None:
            return recorded
        try:
            paths = resolve_sources([settings.inbox])
        except SourceNotFound:
            return []
        # Serialised so that two inbox runs never claim the same new item.
        with store.batch_lock(layout, INBOX_LOCK, wait_seconds=120, what="inbox"):
            held = held_items(layout, exclude_batch=batch_id)
            items = list(new_items(paths, held))
            store.write_staged_plan(layout, batch_id, {"items": [item_entry(i) for i in items]})
            return items

    return run_batch(batch_id, select, settings=settings, force=False)
