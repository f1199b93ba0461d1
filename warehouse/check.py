"""`docmill check`: is every data file the catalog lists there, whole, with the rows its commit
recorded? (`--repair` is warehouse/repair.py.)

What a query notices by itself, and what only this check does (DuckDB 1.5.5, measured):

- a missing file, or one whose footer or compressed pages no longer decode: the query fails
  (docmill sql names the batch and the file);
- a flipped byte that still decodes: DuckDB neither writes nor verifies Parquet page checksums,
  so the query returns wrong values silently. Every data file a publish or a compaction adds
  has its BLAKE2b digest recorded right after the commit (tasks/lake/file_sums.py), and the check
  compares it; it also reads every page with pyarrow, which verifies page checksums where a
  file has them. A file without a recorded digest (a lake older than the recording, or a run
  killed between its commit and the recording) gets the rest: present, its recorded size,
  every page decoded, its row count; a flip that still decodes goes unnoticed there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from docmill.tasks import schemas
from docmill.tasks.lake import catalog, file_sums, filesystem, inlined
from docmill.tasks.lake.catalog import ALIAS, METADATA, stored_table
from docmill.tasks.lake.filesystem import Location
from docmill.tasks.lake.layout import Layout

_READ_BATCH_ROWS = 65_536


_DATA_FILES = f"""
select t.table_name, f.data_file_id, f.path, f.record_count, f.file_size_bytes, f.footer_size,
       s.min_value, s.max_value
from {METADATA}.ducklake_data_file f
join {METADATA}.ducklake_table t on t.table_id = f.table_id and t.end_snapshot is null
join {METADATA}.ducklake_schema n on n.schema_id = t.schema_id and n.end_snapshot is null
left join {METADATA}.ducklake_column c
  on c.table_id = t.table_id and c.column_name = 'batch_id' and c.end_snapshot is null
left join {METADATA}.ducklake_file_column_stats s
  on s.data_file_id = f.data_file_id and s.column_id = c.column_id
where n.schema_name = '{catalog.STORED}' and (f.end_snapshot is null or ?)
order by t.table_name, f.data_file_id
"""


# DuckDB's words for a data file it could not read (an IOException says it by its type).
_DELETE_FILES = f"""
select t.table_name, d.data_file_id, d.path, d.delete_count, d.file_size_bytes, d.footer_size
from {METADATA}.ducklake_delete_file d
join {METADATA}.ducklake_table t on t.table_id = d.table_id and t.end_snapshot is null
where d.end_snapshot is null
order by t.table_name, d.delete_file_id
"""

_FILE_DAMAGE_SIGNS = ("parquet", "magic bytes", "tprotocolexception", "corrupt", "decompress")


_FILE_IN_MESSAGE = re.compile(r"""["']((?:s3://|/)[^"']+\.parquet)["']""")


class DamagedDataFile(RuntimeError):
    """A query needed a data file that is missing or damaged; the message names it and its
    batch."""


@dataclass(frozen=True, slots=True)
class LakeFile:
    """A file the current snapshot reads, as the catalog records it."""

    table: str
    kind: Literal["data", "delete"]
    data_file_id: int
    path: str  # as DuckDB opens it: absolute, or an s3:// URL
    record_count: int  # rows (a delete file: deleted positions)
    file_size: int | None
    footer_size: int | None
    batch_range: tuple[str, str] | None  # min and max batch_id, from the file's statistics


@dataclass(frozen=True, slots=True)
class Damage:
    file: LakeFile
    problem: str
    batches: tuple[str, ...]  # published batches with rows in the file


@dataclass
class CheckReport:
    files: int = 0
    rows: int = 0
    bytes: int = 0
    inlined_rows: int = 0
    damaged: list[Damage] = field(default_factory=list)
    catalog_problem: str | None = None
    seconds: float = 0.0

    @property
    def damaged_batches(self) -> list[str]:
        return sorted({batch for damage in self.damaged for batch in damage.batches})

    @property
    def ok(self) -> bool:
        return not self.damaged and self.catalog_problem is None


def check_lake(
    data_dir: str | Path | Location, *, read_pages: bool = True, compare_sums: bool | None = None
) -> CheckReport:
    """Check every file of the current snapshot: present, its recorded size, its recorded
    digest (with `compare_sums`, by default as `read_pages`), readable (every page decoded and,
    where written, its checksum verified, with `read_pages`), and holding the rows the catalog
    recorded. A SQLite catalog gets SQLite's own `quick_check`."""
    started = time.perf_counter()
    layout = Layout.at(filesystem.location(data_dir))
    report = CheckReport(catalog_problem=_sqlite_problem(layout.catalog))
    compare = read_pages if compare_sums is None else compare_sums
    sums = file_sums.recorded(layout.data_dir) if compare else {}
    with contextlib.closing(catalog.connect(layout.catalog, read_only=True)) as con:
        files = lake_files(con)
        try:
            batches: set[str] | None = {
                row[0]
                for row in con.execute(f"select batch_id from {stored_table('batches')}").fetchall()
            }
        except duckdb.Error:
            batches = None  # the batches table is damaged itself; the check will say so
        report.inlined_rows = inlined.inlined_rows(con)
    for lake_file in files:
        problem, rows = _verify(lake_file, read_pages=read_pages, sums=sums)
        report.files += 1
        report.rows += rows if lake_file.kind == "data" else 0
        report.bytes += lake_file.file_size or 0
        if problem:
            report.damaged.append(Damage(lake_file, problem, _batches_in(lake_file, batches)))
    report.seconds = time.perf_counter() - started
    return report


def lake_files(con: duckdb.DuckDBPyConnection, *, earlier: bool = False) -> list[LakeFile]:
    """Every data and delete file of the stored tables in the connection's snapshot (with
    `earlier`, the data files of every kept snapshot too)."""
    listed: dict[str, list[tuple[str, str | None]]] = {}
    found = []
    rows_of_files = con.execute(_DATA_FILES, [earlier]).fetchall()
    for table, file_id, path, rows, size, footer, low, high in rows_of_files:
        if table not in listed:
            listed[table] = con.execute(
                "select data_file, delete_file from ducklake_list_files(?, ?, schema => ?)",
                [ALIAS, table, catalog.STORED],
            ).fetchall()
        full = _full_path(path, [data for data, _delete in listed[table]])
        found.append(
            LakeFile(table, "data", file_id, full, rows, size, footer, (low, high) if low else None)
        )
    ranges = {(f.table, f.data_file_id): f.batch_range for f in found}
    for table, file_id, path, rows, size, footer in con.execute(_DELETE_FILES).fetchall():
        deletes = [delete for _data, delete in listed.get(table, []) if delete]
        found.append(
            LakeFile(
                table,
                "delete",
                file_id,
                _full_path(path, deletes),
                rows,
                size,
                footer,
                ranges.get((table, file_id)),
            )
        )
    return found


def _full_path(recorded: str, listed: list[str]) -> str:
    """The path DuckDB opens for a recorded (often relative) one: the listed path it ends."""
    for path in listed:
        if path == recorded or path.endswith("/" + recorded):
            return path
    return recorded


def _verify(
    lake_file: LakeFile, *, read_pages: bool, sums: dict[str, file_sums.FileSum]
) -> tuple[str | None, int]:
    """(what is wrong with the file or None, rows read)."""
    location = filesystem.location(lake_file.path)
    where, fs = filesystem.arrow_target(location)
    try:
        size = _size(location)
    except FileNotFoundError:
        return "missing", 0
    if lake_file.file_size is not None and size != lake_file.file_size:
        return f"{size:,} bytes, the catalog recorded {lake_file.file_size:,}", 0
    recorded = sums.get(location.name)
    try:
        if recorded is not None and file_sums.digest(location) != recorded:
            return "its bytes differ from the checksum recorded when it was written", 0
    except OSError as err:
        return f"unreadable: {' '.join(str(err).split())}", 0
    rows = 0
    try:
        parquet = pq.ParquetFile(where, filesystem=fs, page_checksum_verification=True)
        expected = parquet.metadata.num_rows
        if read_pages:
            for batch in parquet.iter_batches(batch_size=_READ_BATCH_ROWS):
                rows += batch.num_rows
        else:
            rows = expected
    except (OSError, pa.ArrowException) as err:
        return f"unreadable: {' '.join(str(err).split())}", rows
    if rows != expected:
        return f"{rows:,} rows read, its footer says {expected:,}", rows
    if rows != lake_file.record_count:
        return f"{rows:,} rows, the catalog recorded {lake_file.record_count:,}", rows
    return None, rows


def _size(location: Location) -> int:
    if isinstance(location, Path):
        return location.stat().st_size
    where, fs = filesystem.arrow_target(location)
    info = fs.get_file_info(where)
    if info.type.name == "NotFound":
        raise FileNotFoundError(str(location))
    return int(info.size)


def _batches_in(lake_file: LakeFile, published: set[str] | None) -> tuple[str, ...]:
    """The published batches a file has rows of: those between its smallest and largest
    batch_id (one batch for a file as published; a range for a merged one)."""
    if lake_file.batch_range is None or lake_file.table not in schemas.BATCH_TABLES:
        return ()
    low, high = lake_file.batch_range
    if published is None:
        return (low,) if low == high else (low, high)
    return tuple(sorted(b for b in published if low <= b <= high))


def _sqlite_problem(target: catalog.CatalogTarget) -> str | None:
    if target.kind != "sqlite":
        return None
    uri = f"file:{quote(Path(target.location).as_posix(), safe='/')}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            answers = [row[0] for row in db.execute("pragma quick_check")]
    except sqlite3.DatabaseError as err:
        return f"the catalog {target.location}: {err}"
    if answers == ["ok"]:
        return None
    return f"the catalog {target.location} fails SQLite's quick_check: {'; '.join(answers[:3])}"


def explain_read_error(
    data_dir: str | Path | Location, error: BaseException
) -> DamagedDataFile | None:
    """For a query that failed on a data file, an error naming the file, its table and its
    batches; None when `error` is about something else. A message without the file's name (a
    damaged footer or page header: "TProtocolException: Invalid data") is answered by a check
    of footers and recorded digests, which reads each file once but decodes nothing."""
    message = " ".join(str(error).split())
    if not isinstance(error, duckdb.IOException) and not any(
        sign in message.lower() for sign in _FILE_DAMAGE_SIGNS
    ):
        return None
    named = _FILE_IN_MESSAGE.search(message)
    try:
        if named:
            damaged = _named_damage(data_dir, named[1], message)
        else:
            damaged = check_lake(data_dir, read_pages=False, compare_sums=True).damaged
    except (catalog.CatalogError, duckdb.Error, OSError):
        return None
    if not damaged:
        return None
    files = "; ".join(
        f"the {d.file.table} file {d.file.path}"
        + (f" of batch {', '.join(d.batches)}" if d.batches else "")
        + f" is {d.problem}"
        for d in damaged
    )
    return DamagedDataFile(
        f"{files} (DuckDB: {message}). Queries that need only other batches still answer (filter "
        "on batch_id); `docmill check` lists every damaged file, `docmill check --repair` takes "
        "their batches out so they can be run again"
    )


def _named_damage(data_dir: str | Path | Location, path: str, message: str) -> list[Damage]:
    layout = Layout.at(filesystem.location(data_dir))
    with contextlib.closing(catalog.connect(layout.catalog, read_only=True)) as con:
        files = [f for f in lake_files(con) if f.path == path] or [
            # a file of an earlier snapshot (time travel): the catalog records it by name
            dataclasses.replace(f, path=path)
            for f in lake_files(con, earlier=True)
            if Path(f.path).name == Path(path).name
        ]
        batches = {
            row[0]
            for row in con.execute(f"select batch_id from {stored_table('batches')}").fetchall()
        }
    problem = "missing" if "no such file" in message.lower() else "damaged"
    return [Damage(f, problem, _batches_in(f, batches) or _batches_in(f, None)) for f in files]


def describe(report: CheckReport) -> str:
    """The report as `docmill check` prints it."""
    lines = [
        f"checked {report.files:,} files of the current snapshot ({report.rows:,} rows, "
        f"{report.bytes / 1e6:,.1f} MB; {report.inlined_rows:,} rows kept in the catalog) in "
        f"{report.seconds:.1f} s"
    ]
    if report.catalog_problem:
        lines.append(f"catalog: {report.catalog_problem}")
    if report.damaged:
        batches = report.damaged_batches
        n = len(report.damaged)
        held = f" of batch{'es' if len(batches) > 1 else ''} {', '.join(batches)}"
        lines.append(f"damaged: {n} file{'s' if n > 1 else ''}{held if batches else ''}")
        for damage in report.damaged:
            of = f" (batch {', '.join(damage.batches)})" if damage.batches else ""
            lines.append(f"  {damage.file.table:<11} {damage.file.path}: {damage.problem}{of}")
        lines.append(
            "`docmill check --repair` takes these batches out of the lake and stages their "
            "items for `docmill run --batch-id ID`"
        )
    elif report.ok:
        lines.append("no damage found")
    return "\n".join(lines)
