"""One planned item read as a batch reads it, for tests of reading and decoding."""

from __future__ import annotations

from docmill.tasks.ingest.read import read_items
from docmill.tasks.records import Document, ItemRejected, SourceItem


def read_item(item: SourceItem, **options) -> Document:
    """The item's Document, or its ItemRejected raised."""
    [(_, result)] = read_items([item], **options)
    if isinstance(result, ItemRejected):
        raise result
    return result
