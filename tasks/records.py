"""The record types that travel between steps.

`SourceItem` is what planning produces (cheap: identity, location, content hash); `Document`
is the one record every processing step takes and returns; `Reject` is what an input item
becomes when it cannot be processed, with a reason a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, frozen=True)
class SourceItem:
    """One input item: a whole file, or one record (line, row) of a multi-record file."""

    source_uri: str
    path: str
    fmt: str
    record_no: int | None
    source_id: str
    doc_id: str
    content_hash: str
    n_bytes: int
    byte_offset: int = 0


@dataclass(slots=True)
class Document:
    doc_id: str
    source_id: str
    source_uri: str
    text: str
    title: str | None = None
    published_at: str | None = None
    encoding: str = "utf-8"
    decode_note: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    raw_hash: str = ""
    clean_ops: list[str] = field(default_factory=list)
    paragraphs: list[tuple[int, int]] = field(default_factory=list)
    title_paragraph: bool = False
    content_hash: str = ""
    # One entry per cleaning step that changed the document, in the order the steps ran.
    clean_audit: list[CleanEdit] = field(default_factory=list)
    # Set by ingest for HTML: how the text was extracted ("trafilatura", "fallback").
    extraction: str | None = None


@dataclass(slots=True, frozen=True)
class CleanEdit:
    """What one cleaning step did to one document: sizes and a short sample around the change."""

    op: str
    chars_before: int
    chars_after: int
    before_sample: str
    after_sample: str
    detail: str | None = None


@dataclass(slots=True, frozen=True)
class Reject:
    source_uri: str
    source_id: str
    doc_id: str
    reason: str
    detail: str
    content_hash: str = ""


class ItemRejected(Exception):
    """Raised by a step for an item that cannot become a document; carries a stable reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
