"""Upkeep of the lake, all of it DuckLake's own: compaction and clean-up.

- **flush** (every round, the daily one too): rows kept in the catalog by data inlining (small
  publishes) move into Parquet, so they never pile up for more than a day
  (tasks/lake/inlined.py);
- **merge** (the weekly round, `docmill compact`): adjacent small files of a table become few
  large ones; each row keeps the snapshot that wrote it, so time travel still answers as before;
- **expire**: snapshots older than the retention (30 days by default) are forgotten, and with
  them the versions of batches replaced before then;
- **clean up**: files no kept snapshot needs (merged away, or of expired versions) are deleted
  once they have been unused for the grace period, so a query that started before still finds
  them; files no snapshot ever referenced (a publish killed before its commit) once a day old;
- **checksums**: the flushed and merged files' digests are recorded and the records of files
  gone dropped (tasks/lake/file_sums.py).

Each step is its own short transaction, retried when it races a publish (a merge and a delete
of the same table conflict). Readers are never blocked; docmill's own see the same rows
throughout (a read that overlapped a flush or a merge is done again: `read_consistently`).
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

import duckdb

from docmill.tasks.lake import catalog, file_sums, filesystem, inlined
from docmill.tasks.lake.catalog import ALIAS, METADATA
from docmill.tasks.lake.catalog_health import mount_point
from docmill.tasks.lake.filesystem import Location
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.locks import batch_is_locked

# A publish links its files into the table folders before it commits; only a file older than
# any publish can take is surely an orphan of a killed one.
ORPHAN_AGE = timedelta(days=1)


class UpkeepFailed(RuntimeError):
    """A step of the upkeep could not finish; the message says why and what to do."""


@dataclass
class UpkeepResult:
    """What one round of upkeep did."""

    rows_flushed: int = 0
    files_merged: dict[str, int] = field(default_factory=dict)  # table -> input files
    files_written: dict[str, int] = field(default_factory=dict)  # table -> merged files
    snapshots_expired: int = 0
    files_deleted: int = 0
    orphans_deleted: int = 0
    files_summed: int = 0  # new files whose checksums were recorded (tasks/lake/file_sums.py)
    seconds: float = 0.0

    def summary(self) -> dict:
        return {
            "rows_flushed": self.rows_flushed,
            "files_merged": sum(self.files_merged.values()),
            "files_written": sum(self.files_written.values()),
            "snapshots_expired": self.snapshots_expired,
            "files_deleted": self.files_deleted,
            "orphans_deleted": self.orphans_deleted,
            "files_summed": self.files_summed,
            "seconds": round(self.seconds, 2),
            "tables": {
                name: {"files_merged": n, "files_written": self.files_written.get(name, 0)}
                for name, n in sorted(self.files_merged.items())
            },
        }


def upkeep(
    data_dir: str | Path | Location,
    *,
    merge: bool,
    retention_days: float,
    grace_seconds: float,
) -> UpkeepResult:
    """Flush inlined rows, merge files (with `merge`), expire snapshots older than
    `retention_days`, delete files unused for `grace_seconds` and orphans a day old."""
    started = time.perf_counter()
    layout = Layout.at(filesystem.location(data_dir))
    result = UpkeepResult()
    con = catalog.connect(layout.catalog, create=False)
    try:
        before = file_sums.next_file_id(con)
        with _out_of_space_cleaned_up(con, layout, "flushing inlined rows"):
            result.rows_flushed = inlined.flush(con)
        if merge:
            with _out_of_space_cleaned_up(con, layout, "merging files"):
                merged = _step(
                    con,
                    "select table_name, sum(files_processed), sum(files_created) "
                    f"from ducklake_merge_adjacent_files('{ALIAS}') group by all",
                    "merging files",
                )
            for table, inputs, written in merged:
                result.files_merged[table] = int(inputs)
                result.files_written[table] = int(written)
        # Flushed and merged files are DuckDB's, without page checksums; a failed recording (a
        # full disk) leaves them checked without sums rather than failing a finished step.
        with contextlib.suppress(OSError):
            result.files_summed = file_sums.record_new_files(layout.data_dir, con, since=before)
        result.snapshots_expired = _expire_snapshots(
            con, datetime.now(UTC) - timedelta(days=retention_days)
        )
        result.files_deleted = _delete_unused_files(
            con, datetime.now(UTC) - timedelta(seconds=grace_seconds)
        )
        result.orphans_deleted = len(
            _step(
                con,
                f"select path from ducklake_delete_orphaned_files('{ALIAS}', older_than => ?)",
                "deleting orphaned files",
                [datetime.now(UTC) - ORPHAN_AGE],
            )
        )
        with contextlib.suppress(OSError):
            file_sums.fold(layout.data_dir, con)
    finally:
        con.close()
    result.seconds = time.perf_counter() - started
    return result


@contextlib.contextmanager
def _out_of_space_cleaned_up(
    con: duckdb.DuckDBPyConnection, layout: Layout, what: str
) -> Iterator[None]:
    """A step that writes files, which a full disk stops: the files it wrote are removed (they
    would keep the disk full, and no snapshot refers to them) and UpkeepFailed says so."""
    if not isinstance(layout.tables, Path):
        yield
        return
    before = set(_files_duckdb_wrote(layout.tables))
    try:
        yield
    except (duckdb.Error, OSError) as err:
        if not _out_of_space(err):
            raise
        partial = [path for path in _files_duckdb_wrote(layout.tables) if path not in before]
        removed, freed, kept, why_kept = _remove_unreferenced(con, layout, partial)
        raise UpkeepFailed(
            f"{what} stopped: no space left on device on {mount_point(layout.tables)}; "
            + (
                f"the {removed} partial files it wrote are removed ({freed:,} bytes)"
                if removed
                else "it removed no partial files"
            )
            + (f", {kept} stay for the maintenance flow ({why_kept})" if kept else "")
            + f". Free some space (it may need up to {_data_bytes(con):,} bytes, the size of "
            "the lake's data files) and run `docmill compact` again"
        ) from None


def _files_duckdb_wrote(tables: Path) -> list[Path]:
    """Data files DuckDB wrote into the table folders itself (merged, flushed): named
    ducklake-*, unlike the docmill-* files a publish links in."""
    return sorted(tables.glob(f"{catalog.STORED}/*/ducklake-*.parquet"))


def _out_of_space(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    message = str(error).lower()
    return "no space left on device" in message or "database or disk is full" in message


def _remove_unreferenced(
    con: duckdb.DuckDBPyConnection, layout: Layout, paths: list[Path]
) -> tuple[int, int, int, str]:
    """Remove those of `paths` no snapshot refers to, unless a run holds a batch lock (its
    publish may be about to commit a file of its own); (files removed, bytes freed, files
    left for the orphan sweep, why)."""
    with contextlib.suppress(duckdb.Error):
        con.execute("rollback")
    locks = layout.local_dir / "_locks"
    if locks.exists() and any(batch_is_locked(layout, lock.stem) for lock in locks.glob("*.lock")):
        return 0, 0, len(paths), "a run is publishing"
    try:
        referenced = {
            Path(row[0]).name
            for row in con.execute(
                f"select path from {METADATA}.ducklake_data_file union all "
                f"select path from {METADATA}.ducklake_delete_file"
            ).fetchall()
        }
    except duckdb.Error:
        return 0, 0, len(paths), "the catalog could not say which files it lists"
    removed = freed = 0
    for path in paths:
        if path.name in referenced:
            continue
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            path.unlink()
            removed += 1
            freed += size
    return removed, freed, 0, ""


def _data_bytes(con: duckdb.DuckDBPyConnection) -> int:
    with contextlib.suppress(duckdb.Error):
        row = con.execute(
            f"select sum(file_size_bytes) from {METADATA}.ducklake_data_file "
            "where end_snapshot is null"
        ).fetchone()
        return int(row[0] or 0)
    return 0


def _expire_snapshots(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> int:
    """Expire the snapshots taken before `cutoff` (never the newest).

    Named by id: DuckLake's own `older_than` compares timestamps as text in a SQLite catalog,
    where '2026-12-03 09:00' sorts before '2026-12-03T08:00', so a same-day cutoff would expire
    every snapshot of the day."""
    ids = [
        row[0]
        for row in con.execute(
            f"select snapshot_id from {ALIAS}.snapshots() where snapshot_time < ? "
            f"and snapshot_id < (select max(snapshot_id) from {ALIAS}.snapshots())",
            [cutoff],
        ).fetchall()
    ]
    if not ids:
        return 0
    return len(
        _step(
            con,
            f"select snapshot_id from ducklake_expire_snapshots('{ALIAS}', versions => ?)",
            "expiring snapshots",
            [ids],
        )
    )


def _delete_unused_files(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> int:
    """Delete the files scheduled for deletion before `cutoff` (DuckLake schedules the files no
    kept snapshot needs). The same text comparison as above makes `older_than` unusable within
    a day, so: all of them when all are old enough, else those of earlier days only — files
    stay longer than the grace period, never shorter."""
    scheduled = con.execute(
        "select min(schedule_start::timestamptz), max(schedule_start::timestamptz) "
        f"from {METADATA}.ducklake_files_scheduled_for_deletion"
    ).fetchone()
    oldest, newest = scheduled if scheduled else (None, None)
    if oldest is None or oldest >= cutoff:
        return 0
    if newest < cutoff:
        sql = f"select path from ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)"
        params: list = []
    else:
        sql = f"select path from ducklake_cleanup_old_files('{ALIAS}', older_than => ?)"
        start_of_day = datetime.combine(cutoff.astimezone(UTC).date(), dt_time.min, UTC)
        params = [start_of_day - timedelta(microseconds=1)]
    return len(_step(con, sql, "deleting unused files", params))


def _step(
    con: duckdb.DuckDBPyConnection, sql: str, what: str, params: list | None = None
) -> list[tuple]:
    return catalog.commit_with_retry(
        con, lambda con: con.execute(sql, params or []).fetchall(), what=what
    )
