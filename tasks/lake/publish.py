"""Publishing a batch to the catalog in one transaction.

Publishing a batch is one catalog transaction: every stored table loses the batch's old rows
and gains the new ones, the batch's record (its version and exact input items) is replaced,
and so is the run's row. Readers see the old batch or the new one, never a mixture, in every
table at once (DuckLake's snapshot isolation).

The workers have already written each shard's tables as Parquet files in staging; the
transaction reads them (`INSERT ... SELECT * FROM read_parquet([...])`) and DuckLake writes one
file per table, or, for fewer than `DOCMILL_INLINE_ROWS` (1,000) rows, keeps them in the
catalog itself (data inlining, so a scheduled batch of a few documents makes no small files;
`docmill compact` writes them out later). Registering the staged files in place
(`ducklake_add_data_files`) was measured too and lost on every count (bench/publish.py, on the
BBC batch: 6.0–6.8 s against 4.0–5.0 s, a commit of 1.7–2.4 s against 0.1–0.3 s, since each
file brings its own name mapping and statistics rows into the catalog; and 32 files per table
where the copy writes one).

DuckLake writes the new files before it commits: a run killed in between leaves files no
snapshot references, which the maintenance flow deletes once they are a day old. DuckDB's files
carry no page checksums, so after the commit each new file's digest is recorded
(tasks/lake/file_sums.py) for `docmill check`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from docmill.tasks import schemas
from docmill.tasks.lake import catalog, file_sums, filesystem
from docmill.tasks.lake.catalog import ALIAS, stored_table
from docmill.tasks.lake.crash_points import crash_point
from docmill.tasks.lake.filesystem import Location
from docmill.tasks.lake.layout import Layout, new_version

COMMIT_AUTHOR = "docmill"


@dataclass(frozen=True, slots=True)
class Published:
    """What one publish did: the batch's new version, its snapshot and the rows in and out."""

    batch_id: str
    version: str
    snapshot_id: int | None
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    committed_at: datetime | None = None
    files_summed: int = 0  # new data files whose checksums were recorded (tasks/lake/file_sums.py)


@dataclass(frozen=True, slots=True)
class _StagedTable:
    name: str
    files: list[Location]
    rows: int


def publish_batch(
    layout: Layout,
    batch_id: str,
    shard_dirs: Sequence[Location],
    manifest: dict,
    *,
    run_record: dict | None = None,
    version: str | None = None,
) -> Published:
    """Replace the batch's rows in every stored table with the staged shards' rows, its record
    with `manifest`, and (given) the run's row, in one catalog transaction.

    `version` names the new version (default: the publish time, so later publishes sort later;
    `docmill migrate` keeps the versions of the old layout)."""
    started = time.perf_counter()
    version = version or new_version()
    staged = _staged_tables(shard_dirs)
    published_at = datetime.now(UTC)
    batch_row = {
        "batch_id": batch_id,
        "version": version,
        "published_at": published_at,
        "run_id": (run_record or {}).get("run_id"),
        "n_input": manifest.get("n_input"),
        "manifest_json": json.dumps({**manifest, "batch_id": batch_id, "version": version}),
    }
    rows_in = {table.name: table.rows for table in staged}

    def replace(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], datetime]:
        committed_at = datetime.now(UTC)
        rows_out = {name: _delete(con, name, "batch_id", batch_id) for name in schemas.BATCH_TABLES}
        for table in staged:
            if table.files:
                con.execute(
                    f"insert into {stored_table(table.name)} by name select * from read_parquet(?)",
                    [[str(path) for path in table.files]],
                )
        _delete(con, "batches", "batch_id", batch_id)
        _insert_rows(con, "batches", [batch_row])
        con.execute(f"delete from {stored_table('last_publish')}")
        _insert_rows(
            con,
            "last_publish",
            [
                {
                    **{k: batch_row[k] for k in ("batch_id", "version", "run_id")},
                    "published_at": committed_at,
                }
            ],
        )
        if run_record is not None:
            _delete(con, "runs", "run_id", run_record["run_id"])
            row = {**run_record, "batch_version": version, "finished_at": committed_at}
            _insert_rows(con, "runs", [row])
        _commit_message(
            con,
            f"publish batch {batch_id}",
            {
                "kind": "publish",
                "batch_id": batch_id,
                "version": version,
                "run_id": batch_row["run_id"],
                "rows_in": rows_in,
                "rows_out": rows_out,
            },
        )
        crash_point("publish_before_commit")
        return rows_out, committed_at

    con = catalog.connect(layout.catalog)
    try:
        before = file_sums.next_file_id(con)
        rows_out, committed_at = catalog.commit_with_retry(
            con, replace, what=f"publishing batch {batch_id}"
        )
        snapshot_id = _last_snapshot(con)
        summed = 0
        # The batch is published: a recording that fails leaves its files checked without sums.
        with contextlib.suppress(OSError, duckdb.Error):
            summed = file_sums.record_new_files(layout.data_dir, con, since=before)
    finally:
        con.close()
    crash_point("publish_after_commit")
    return Published(
        batch_id,
        version,
        snapshot_id,
        rows_in,
        rows_out,
        time.perf_counter() - started,
        committed_at,
        summed,
    )


def _staged_tables(shard_dirs: Sequence[Location]) -> list[_StagedTable]:
    """Per stored table of a batch, the staged files with rows and their total row count."""
    staged = []
    for name in schemas.BATCH_TABLES:
        files, rows = [], 0
        for shard_dir in shard_dirs:
            path = shard_dir / f"{name}.parquet"
            where, fs = filesystem.arrow_target(path)
            n = pq.read_metadata(where, filesystem=fs).num_rows
            if n:
                files.append(path)
                rows += n
        staged.append(_StagedTable(name, files, rows))
    return staged


def _delete(con: duckdb.DuckDBPyConnection, table: str, column: str, value: str) -> int:
    row = con.execute(f'delete from {stored_table(table)} where "{column}" = ?', [value]).fetchone()
    return int(row[0]) if row else 0


def _insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    schema = schemas.STORED_TABLES[table]
    data = pa.Table.from_pylist(rows, schema=schema)
    con.register("docmill_new_rows", data)
    try:
        con.execute(f"insert into {stored_table(table)} by name select * from docmill_new_rows")
    finally:
        con.unregister("docmill_new_rows")


def _commit_message(con: duckdb.DuckDBPyConnection, message: str, extra: dict) -> None:
    con.execute(
        f"call {ALIAS}.set_commit_message(?, ?, extra_info => ?)",
        [COMMIT_AUTHOR, message, json.dumps(extra, sort_keys=True, default=str)],
    )


def _last_snapshot(con: duckdb.DuckDBPyConnection) -> int | None:
    with contextlib.suppress(duckdb.Error):
        row = con.execute(f"select id from {ALIAS}.last_committed_snapshot()").fetchone()
        return int(row[0]) if row and row[0] is not None else None
    return None


def write_run_record(layout: Layout, row: dict) -> bool:
    """Write (or replace) the row of a flow run that published nothing (failed, nothing new).

    A run whose publish committed has its `completed` row already, committed with its batch;
    that row stays (False is returned): whatever went wrong later, the batch is published."""

    def replace(con: duckdb.DuckDBPyConnection) -> bool:
        status = con.execute(
            f"select status from {stored_table('runs')} where run_id = ?", [row["run_id"]]
        ).fetchone()
        if status and status[0] == "completed":
            return False
        _delete(con, "runs", "run_id", row["run_id"])
        _insert_rows(con, "runs", [row])
        _commit_message(
            con,
            f"record run {row['run_id']} ({row.get('status')})",
            {"kind": "run", "run_id": row["run_id"], "batch_id": row.get("batch_id")},
        )
        return True

    con = catalog.connect(layout.catalog)
    try:
        return catalog.commit_with_retry(con, replace, what=f"recording run {row['run_id']}")
    finally:
        con.close()
