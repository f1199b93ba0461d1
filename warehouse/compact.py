"""Compaction: the current version of every batch merged into a few large files per table.

A warehouse fed by many small batches has many small files, and a query pays for each (a
listing, a footer, a scan set-up). Compaction writes one new *generation* under
`compacted/generation=<G>/`: per view table, the rows of each batch's current version, sorted by
batch, version and document, in row groups of `row_group_rows`, plus `batches.parquet` naming
the (batch, version) pairs it holds. The generation appears by one directory rename. The views
(warehouse/lake_table.sql) read, of the copies of a batch's current version, the oldest: the
loose files while they exist, else the oldest generation. One query lists files more than once,
and a copy that appears between two listings would be seen by one and missed by the other; the
oldest copy was there for both. So the loose files, and older generations, are removed
`grace_seconds` after the switch (by this call when the grace is 0, else by the next compaction
or the rebuild-warehouse flow), and from then on the views read the generation. The views are
never rebuilt for it, so an analyst's open session neither blocks compaction nor misses it.
Manifests and the near-duplicate index (`signatures`) stay in the batch directories.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from docmill.tasks import schemas, store
from docmill.warehouse import lake_scan

DEFAULT_ROW_GROUP_ROWS = 131_072
DEFAULT_ROWS_PER_FILE = 4_194_304
_LOCK_NAME = "_compaction"  # batch ids start with a letter or digit, so this is no batch's lock

# Sort order inside a generation: rows of one document sit together, in document order.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "documents": ("doc_id",),
    "paragraphs": ("doc_id", "para_idx"),
    "sentences": ("doc_id", "sent_idx"),
    "tokens": ("doc_id", "tok_idx"),
    "entities": ("doc_id", "ent_idx"),
    "noun_chunks": ("doc_id", "chunk_idx"),
    "cleaning": ("doc_id", "step_idx"),
    "rejects": ("source_uri", "source_id"),
}


class CompactionError(RuntimeError):
    """Compaction cannot run (another one is running, or newer data it would truncate)."""


@dataclass
class TableCompaction:
    rows: int = 0
    files: int = 0
    row_groups: int = 0


@dataclass
class CompactionResult:
    generation: str
    batches: int
    tables: dict[str, TableCompaction] = field(default_factory=dict)
    loose_files_before: int = 0
    removed: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        return {
            "generation": self.generation,
            "batches": self.batches,
            "loose_files_before": self.loose_files_before,
            "tables": {
                name: {"rows": t.rows, "files": t.files, "row_groups": t.row_groups}
                for name, t in self.tables.items()
            },
            "removed": len(self.removed),
            "seconds": round(self.seconds, 3),
        }


def compacted_versions(layout: store.Layout, generation: str) -> list[tuple[str, str]]:
    table = pq.read_table(
        lake_scan.generation_dir(layout, generation) / lake_scan.COMPACTED_BATCHES
    )
    return list(zip(table["batch"].to_pylist(), table["version"].to_pylist(), strict=True))


def compact(
    data_dir: Path,
    *,
    grace_seconds: float,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
) -> CompactionResult:
    """Write a new generation holding every batch's current version; return what was done."""
    started = time.monotonic()
    layout = store.Layout.at(data_dir)
    if layout.on_object_store:
        raise CompactionError(
            f"compaction of a data directory in an object store ({layout.data_dir}) is not "
            "supported yet: it publishes a generation by a directory rename"
        )
    try:
        with store.batch_lock(layout, _LOCK_NAME, what="compaction of"):
            result = _compact_locked(layout, row_group_rows, rows_per_file)
            result.removed = collect_compaction_garbage(layout, grace_seconds=grace_seconds)
    except store.BatchBusy:
        raise CompactionError(
            f"another compaction of {layout.data_dir} is running; wait for it to finish"
        ) from None
    result.seconds = time.monotonic() - started
    return result


def _compact_locked(
    layout: store.Layout, row_group_rows: int, rows_per_file: int
) -> CompactionResult:
    _refuse_newer_schema(layout)
    for stale in layout.compacted.glob(".tmp-*") if layout.compacted.is_dir() else ():
        shutil.rmtree(stale, ignore_errors=True)
    lake_scan.write_placeholders(layout)
    # What this generation holds: each batch's newest published version right now. A batch
    # published again while we copy keeps its newer loose version, which the views prefer.
    snapshot = {
        batch_id: version_dir.name.split("=", 1)[1]
        for batch_id, version_dir in store.current_version_dirs(layout).items()
    }
    generation = store.new_version()
    work = layout.compacted / f".tmp-{generation}"
    work.mkdir(parents=True)
    snapshot_table = pa.table(
        {"batch": list(snapshot), "version": list(snapshot.values())},
        schema=lake_scan.compacted_batches_schema(),
    )
    result = CompactionResult(generation=generation, batches=len(snapshot))
    result.loose_files_before = _count_loose_files(layout)
    con = duckdb.connect(":memory:")
    try:
        for statement in lake_scan.lake_ddl(layout):
            con.execute(statement)
        con.register("snapshot", snapshot_table)
        for table in lake_scan.VIEW_TABLES:
            result.tables[table] = _write_table(
                con, table, work / table, row_group_rows, rows_per_file
            )
    finally:
        con.close()
    pq.write_table(snapshot_table, work / lake_scan.COMPACTED_BATCHES)
    store.fsync_tree(work)
    os.rename(work, lake_scan.generation_dir(layout, generation))
    store.fsync_dir(layout.compacted)
    return result


def _refuse_newer_schema(layout: store.Layout) -> None:
    files = lake_scan.stored_files(layout)
    for table in lake_scan.VIEW_TABLES:
        newer = [v for v in files.lake[table].versions if v > schemas.SCHEMA_VERSION]
        if newer:
            raise CompactionError(
                f"the lake holds {table} files of schema version {max(newer)}, newer than this "
                f"docmill's {schemas.SCHEMA_VERSION}; compacting would drop their new columns. "
                "Compact with the docmill version that wrote them."
            )


def _count_loose_files(layout: store.Layout) -> int:
    return sum(
        1
        for table in lake_scan.VIEW_TABLES
        for _ in layout.lake.glob(f"batch=*/version=*/{table}/*.parquet")
    )


def _write_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    out_dir: Path,
    row_group_rows: int,
    rows_per_file: int,
) -> TableCompaction:
    schema = lake_scan.compacted_schema(table)
    order = ", ".join(f'"{column}"' for column in ("batch", "version", *SORT_KEYS[table]))
    reader = con.sql(
        f'select * from lake."{table}" semi join snapshot using (batch, version) order by {order}'
    ).to_arrow_reader(row_group_rows)
    out_dir.mkdir(parents=True)
    stats = TableCompaction()
    writer: pq.ParquetWriter | None = None
    rows_in_file = 0
    try:
        for batch in _full_batches(reader, row_group_rows):
            if writer is None or rows_in_file + batch.num_rows > rows_per_file:
                if writer is not None:
                    writer.close()
                path = out_dir / store.part_file_name(stats.files)
                writer = pq.ParquetWriter(path, schema, compression="zstd")
                stats.files += 1
                rows_in_file = 0
            writer.write_batch(
                batch.select(schema.names).cast(schema), row_group_size=row_group_rows
            )
            rows_in_file += batch.num_rows
            stats.rows += batch.num_rows
            stats.row_groups += 1
        if writer is None:
            # A table with no rows still gets a file, so its schema version is on record.
            pq.write_table(schema.empty_table(), out_dir / store.part_file_name(0))
            stats.files = 1
    finally:
        if writer is not None:
            writer.close()
    return stats


def _full_batches(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.RecordBatch]:
    """Re-cut the reader's batches so each but the last holds exactly `rows` rows."""
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in reader:
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= rows:
            combined = pa.Table.from_batches(pending).combine_chunks()
            yield combined.slice(0, rows).to_batches(max_chunksize=rows)[0]
            rest = combined.slice(rows)
            pending = rest.to_batches() if rest.num_rows else []
            pending_rows = rest.num_rows
    if pending_rows:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches(max_chunksize=rows)[0]


def collect_compaction_garbage(layout: store.Layout, *, grace_seconds: float) -> list[Path]:
    """Once the newest generation has been in place for `grace_seconds`: remove older
    generations and the loose view-table files of the versions it holds."""
    published = lake_scan.generations(layout)
    if not published or layout.on_object_store:
        return []
    newest = published[-1]
    switched_at = store.version_time(newest)
    age = (datetime.now(UTC) - switched_at).total_seconds() if switched_at else 0.0
    if age < grace_seconds:
        return []
    removed: list[Path] = []
    for batch_id, version in compacted_versions(layout, newest):
        version_dir = layout.batch_dir(batch_id) / f"version={version}"
        for table in lake_scan.VIEW_TABLES:
            if _remove_at_once(version_dir / table):
                removed.append(version_dir / table)
    for older in published[:-1]:
        if _remove_at_once(lake_scan.generation_dir(layout, older)):
            removed.append(lake_scan.generation_dir(layout, older))
    return removed


def _remove_at_once(path: Path) -> bool:
    """Remove a directory so that no listing sees part of it: rename it out of every glob
    the views use, then delete it."""
    if not path.is_dir():
        return False
    hidden = path.with_name(f".{path.name}.removed-{os.getpid()}")
    os.rename(path, hidden)
    shutil.rmtree(hidden, ignore_errors=True)
    return True
