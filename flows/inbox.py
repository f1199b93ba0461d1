"""The `process-inbox` flow: everything in the inbox that no batch holds yet, as a new batch."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from docmill.flows.batch import BatchInput, recorded_input, run_batch
from docmill.flows.settings import Profile, Workers, flow_defaults, load_settings
from docmill.tasks.ingest.sources import SourceNotFound, resolve_sources
from docmill.tasks.lake.layout import Layout, validate_batch_id
from docmill.tasks.lake.locks import batch_lock
from docmill.tasks.lake.staging import write_staged_plan
from docmill.tasks.passes.inbox import INBOX_LOCK, held_items, inbox_batch_id, new_items
from docmill.tasks.passes.plan import item_entry

DEFAULTS = flow_defaults()


def _run_name() -> str:
    return f"inbox-{flow_run.scheduled_start_time:%Y%m%dT%H%M%SZ}"


@flow(name="process-inbox", flow_run_name=_run_name, validate_parameters=True)
def process_inbox(
    inbox: str = DEFAULTS.inbox,
    batch_id: str = "",
    data_dir: str = DEFAULTS.data_dir,
    model: str = DEFAULTS.model,
    workers: Workers = DEFAULTS.workers,
    profile: Profile = DEFAULTS.profile,
) -> dict:
    """Process the inbox items that no published batch (or live run) holds yet.

    A retry of a run processes the same items as the attempt it retries, even if the inbox
    changed since: they were recorded before any work started. A parameter named after a
    setting defaults to its DOCMILL_* variable (DOCMILL_INBOX, ...) where the deployment was
    served or deployed, else to docmill's own.

    Args:
        inbox: Inbox folder or glob.
        batch_id: Batch id. Empty: inbox-<scheduled time>, the same for every retry.
        data_dir: Data directory: a local path or s3://bucket/prefix.
        model: spaCy pipeline package or path.
        workers: Worker processes for tagging.
        profile: accurate (the full pipeline) or fast (a sentence recogniser instead of the
            parser).
    """
    settings = load_settings(
        data_dir=data_dir, model=model, workers=workers, profile=profile, inbox=inbox
    )
    batch_id = validate_batch_id(batch_id or inbox_batch_id(flow_run.scheduled_start_time))

    def select(layout: Layout) -> BatchInput:
        recorded = recorded_input(layout, batch_id)
        if recorded is not None:
            return recorded
        try:
            paths = resolve_sources([settings.inbox])
        except SourceNotFound:
            return BatchInput([])
        # Serialised so that two inbox runs never claim the same new item.
        with batch_lock(layout, INBOX_LOCK, wait_seconds=120, what="inbox"):
            held = held_items(layout, exclude_batch=batch_id)
            items = list(new_items(paths, held))
            write_staged_plan(layout, batch_id, {"items": [item_entry(i) for i in items]})
            return BatchInput(items)

    return run_batch(batch_id, select, settings=settings, force=False)
