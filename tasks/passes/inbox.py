"""The inbox: which input items no batch holds yet.

An item is held when a published batch's manifest lists it with the same content hash, or when
a live run (one holding its batch lock) has staged a plan with it. A changed file is new again;
items claimed by a run that died are free for the next one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from docmill.tasks.ingest.read import plan_items
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.locks import batch_is_locked
from docmill.tasks.lake.recorded import batch_manifests
from docmill.tasks.lake.staging import read_staged_plan, staged_batches
from docmill.tasks.passes.plan import manifest_entries
from docmill.tasks.records import SourceItem

INBOX_LOCK = "_inbox"


def held_items(layout: Layout, *, exclude_batch: str | None = None) -> set[tuple[str, str]]:
    """(source_uri, content_hash) of every item a published batch or a live run holds."""
    held: set[tuple[str, str]] = set()
    manifests = batch_manifests(layout)
    manifests += [
        read_staged_plan(layout, b)
        for b in staged_batches(layout)
        if b != exclude_batch and batch_is_locked(layout, b)
    ]
    for manifest in manifests:
        for entry in manifest_entries(manifest or {}):
            held.add((entry["source_uri"], entry.get("content_hash", "")))
    return held


def new_items(paths: Iterable[Path], held: set[tuple[str, str]]) -> Iterator[SourceItem]:
    for item in plan_items(paths):
        if (item.source_uri, item.content_hash) not in held:
            yield item


def inbox_batch_id(scheduled_at: datetime | None, *, prefix: str = "inbox") -> str:
    """A batch id from the run's scheduled time, so a retry of that run is the same batch."""
    moment = (scheduled_at or datetime.now(UTC)).astimezone(UTC)
    return f"{prefix}-{moment:%Y%m%dT%H%M%SZ}"
