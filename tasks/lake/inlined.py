"""Rows kept in the catalog by data inlining, and moving them out into Parquet.

A publish of fewer than `DOCMILL_INLINE_ROWS` rows to a table keeps them in the catalog itself
rather than as one small file. Reading them back goes through the catalog's database, which is
slow in bulk, and every delete scans them: a lake of 2,000 one-document batches left inlined
made a 5-document run 66 % slower and `docmill report` four times slower than the same lake
compacted (docs/performance.md, "Compaction"). So a publish that leaves more than
`DOCMILL_FLUSH_ROWS` rows inlined (100,000 by default; 0: never) moves them all into Parquet
right after its commit, in a transaction of its own: the catalog never holds more than about
that many, whatever the maintenance schedule. The weekly compaction still merges the files
these flushes write.
"""

from __future__ import annotations

import os

import duckdb

from docmill.tasks.lake import catalog
from docmill.tasks.lake.catalog import ALIAS, METADATA, CatalogError
from docmill.tasks.lake.crash_points import crash_point

FLUSH_ROWS_ENV = "DOCMILL_FLUSH_ROWS"
DEFAULT_FLUSH_ROWS = 100_000


def flush_rows() -> int:
    """How many inlined rows a publish tolerates before it flushes them (0: never)."""
    value = os.environ.get(FLUSH_ROWS_ENV, str(DEFAULT_FLUSH_ROWS))
    try:
        rows = int(value)
    except ValueError:
        rows = -1
    if rows < 0:
        raise CatalogError(
            f"{FLUSH_ROWS_ENV}={value!r}: give a row count (0 leaves inlined rows to compaction)"
        )
    return rows


def inlined_rows(con: duckdb.DuckDBPyConnection, *, current_only: bool = True) -> int:
    """Rows kept in the catalog: the current ones, or (not `current_only`) also the deleted
    ones, which stay inlined, and are scanned, until a flush."""
    tables = [
        row[0]
        for row in con.execute(
            f"select table_name from {METADATA}.ducklake_inlined_data_tables"
        ).fetchall()
    ]
    where = " where end_snapshot is null" if current_only else ""
    return sum(
        con.execute(f'select count(*) from {METADATA}."{name}"{where}').fetchone()[0]
        for name in tables
    )


def flush(con: duckdb.DuckDBPyConnection) -> int:
    """Move every inlined row into Parquet files, in one transaction retried on conflict; the
    rows moved."""

    def move(con: duckdb.DuckDBPyConnection) -> list[tuple]:
        moved = con.execute(f"call ducklake_flush_inlined_data('{ALIAS}')").fetchall()
        crash_point("flush_before_commit")
        return moved

    return sum(
        row[-1] or 0 for row in catalog.commit_with_retry(con, move, what="flushing inlined rows")
    )


def flush_if_due(con: duckdb.DuckDBPyConnection, limit: int) -> int:
    """Flush when more than `limit` rows (deleted ones included) are inlined; the rows moved
    (0 when not due; a limit of 0 never flushes)."""
    if not limit or inlined_rows(con, current_only=False) <= limit:
        return 0
    return flush(con)
