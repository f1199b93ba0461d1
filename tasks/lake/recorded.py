"""What the catalog records about batches and runs: their manifests (the exact items of each
published batch) and the MinHash signatures of every other batch, read consistently.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import duckdb
import pyarrow as pa

from docmill.tasks import schemas
from docmill.tasks.lake import catalog
from docmill.tasks.lake.catalog import CatalogMissing, stored_table
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.staging import DamagedRecord, is_manifest


@contextlib.contextmanager
def reading(layout: Layout) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """A read-only catalog connection, or None when nothing was ever published."""
    try:
        con = catalog.connect(layout.catalog, read_only=True)
    except CatalogMissing:
        yield None
        return
    try:
        yield con
    finally:
        con.close()


def catalog_rows(layout: Layout, sql: str, params: list | None = None) -> list[tuple]:
    """The rows of a read-only query of the catalog; none when nothing was ever published."""
    with reading(layout) as con:
        if con is None:
            return []
        return catalog.read_consistently(con, lambda con: con.execute(sql, params or []).fetchall())


def batch_manifest(layout: Layout, batch_id: str) -> dict | None:
    """The manifest (exact input items) of the batch's published version, if any."""
    rows = catalog_rows(
        layout,
        f"select manifest_json from {stored_table('batches')} where batch_id = ?",
        [batch_id],
    )
    if not rows:
        return None
    return _manifest(batch_id, rows[0][0])


def batch_manifests(layout: Layout) -> list[dict]:
    """The manifest of every published batch."""
    sql = f"select batch_id, manifest_json from {stored_table('batches')} order by batch_id"
    return [_manifest(batch_id, manifest) for batch_id, manifest in catalog_rows(layout, sql)]


def _manifest(batch_id: str, text: str) -> dict:
    try:
        manifest = json.loads(text)
    except ValueError:
        manifest = None
    if not is_manifest(manifest):
        raise DamagedRecord(
            f"the record of the items of batch {batch_id} (its row in the catalog's batches "
            "table) cannot be read: give the sources again (docmill run SOURCE... --batch-id "
            f"{batch_id}), which replaces it"
        )
    return manifest


def other_batches_signatures(layout: Layout, batch_id: str) -> pa.Table:
    """The signatures of the kept documents of every other published batch (dedup's index)."""
    with reading(layout) as con:
        if con is None:
            return schemas.SIGNATURES.empty_table()
        # A signature missed here is a duplicate let through, so a merge overlapping the read
        # (which DuckLake would show as an empty table) means reading again.
        return catalog.read_consistently(
            con,
            lambda con: con.execute(
                f"select doc_id, content_hash, minhash, kept from {stored_table('signatures')} "
                "where kept and batch_id <> ? order by batch_id, doc_id",
                [batch_id],
            ).to_arrow_table(),
        )
