"""Rows kept in the catalog by data inlining, and moving them out into Parquet.

A publish of fewer than `DOCMILL_INLINE_ROWS` rows to a table keeps them in the catalog itself
rather than as one small file. Read back in bulk through the catalog's database they are slow,
and every delete scans them: a lake of 2,000 one-document batches left inlined made a
5-document run 66 % slower and `docmill report` four times slower than the same lake compacted
(docs/performance.md, "Compaction"). So every round of upkeep, the daily one included, moves
them into Parquet (warehouse/upkeep.py).

A flush deletes the rows from the catalog as it adds the files that now hold them, and DuckLake
1.5.5 lets a query that is reading at that moment miss rows or mix versions of a batch (seen in
a test with a reader looping beside writers that flushed after each publish; as with a merge,
the reader's snapshot predates the flush while the rows it scans are already gone). docmill's
own readers notice the flush's snapshot and read again (`read_consistently`); that is why the
flush runs in the scheduled upkeep and never after a run's publish.
"""

from __future__ import annotations

import duckdb

from docmill.tasks.lake import catalog
from docmill.tasks.lake.catalog import ALIAS, METADATA
from docmill.tasks.lake.crash_points import crash_point


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
