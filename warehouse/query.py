"""Read-only access to the warehouse: the catalog attached read-only, never blocking on (and
never blocking) a running pipeline, at its newest snapshot or at an earlier one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from docmill.tasks.lake import catalog, filesystem
from docmill.tasks.lake.catalog import read_consistently
from docmill.tasks.lake.filesystem import Location
from docmill.tasks.lake.layout import Layout
from docmill.warehouse import sql_guard
from docmill.warehouse.build import warehouse_ddl
from docmill.warehouse.check import explain_read_error
from docmill.warehouse.output import (
    OutputFormat,
    OutputRefused,
    fetch_limited,
    file_format,
    render,
    write_file,
)

T = TypeVar("T")


class WarehouseMissing(FileNotFoundError):
    """Nothing has been published to the data directory yet."""


def connect_read_only(
    data_dir: str | Path | Location,
    *,
    snapshot_version: int | None = None,
    snapshot_time: dt.datetime | str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog of `data_dir` with its views in scope, at its
    newest snapshot, or at `snapshot_version` / the last snapshot at `snapshot_time`.

    An earlier snapshot is read through today's views (as temporary views of the connection):
    the rows are as they were, the way of looking at them is the current one."""
    data_dir = filesystem.location(data_dir)
    try:
        con = catalog.connect(
            Layout.at(data_dir).catalog,
            read_only=True,
            snapshot_version=snapshot_version,
            snapshot_time=snapshot_time,
        )
    except catalog.CatalogMissing as missing:
        raise WarehouseMissing(
            f"{missing}. Run `docmill run SOURCE --data-dir {data_dir}` to process documents "
            f"(or `docmill migrate --data-dir {data_dir}` for a data directory written before "
            "the catalog)."
        ) from None
    if snapshot_version is None and snapshot_time is None:
        return con
    try:
        for statement in warehouse_ddl(temporary=True):
            con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


def connect_for_user_sql(
    data_dir: str | Path | Location,
    *,
    allow_file_access: bool = False,
    snapshot_version: int | None = None,
    snapshot_time: dt.datetime | str | None = None,
) -> duckdb.DuckDBPyConnection:
    """`connect_read_only`, then locked down for SQL a person typed (warehouse/sql_guard.py):
    no file outside the data directory unless `allow_file_access`, no extension, no setting
    changed. Run the SQL through `sql_guard.checked_statements`."""
    location = filesystem.location(data_dir)
    con = connect_read_only(
        location, snapshot_version=snapshot_version, snapshot_time=snapshot_time
    )
    try:
        readable = {str(location), Layout(location).catalog.data_path}
        sql_guard.lock_down(
            con, readable_dirs=sorted(readable), allow_file_access=allow_file_access
        )
    except BaseException:
        con.close()
        raise
    return con


def user_query(
    data_dir: str | Path | Location,
    sql: str,
    read: Callable[[duckdb.DuckDBPyRelation | None], T],
    *,
    allow_file_access: bool = False,
    snapshot_version: int | None = None,
    snapshot_time: dt.datetime | str | None = None,
) -> T:
    """Check every statement of `sql`, run all but the last on a locked-down connection and
    return what `read` makes of the last one's relation (None for empty input). One transaction
    throughout, so the rows shown and the rows counted come from the same snapshot; again from
    the start if the lake was compacted meanwhile (`read_consistently`).

    Raises StatementRefused for a statement that would do more than read, or read a file outside
    the data directory (also while the result is read); other DuckDB errors propagate.
    """
    con = connect_for_user_sql(
        data_dir,
        allow_file_access=allow_file_access,
        snapshot_version=snapshot_version,
        snapshot_time=snapshot_time,
    )
    try:
        statements = sql_guard.checked_statements(con, sql)

        def run(con: duckdb.DuckDBPyConnection) -> T:
            for statement in statements[:-1]:
                con.execute(statement)
            return read(con.sql(statements[-1].query) if statements else None)

        return read_consistently(con, run)
    except duckdb.Error as err:
        refused = sql_guard.refused_file_access(err, str(filesystem.location(data_dir)))
        if refused is not None:
            raise refused from None
        damaged = explain_read_error(data_dir, err)
        if damaged is not None:
            raise damaged from err
        raise
    finally:
        con.close()


def run_query(
    data_dir: str | Path | Location,
    sql: str,
    *,
    fmt: OutputFormat = "table",
    limit: int | None = None,
    max_width: int = 0,
    allow_file_access: bool = False,
    snapshot_version: int | None = None,
    snapshot_time: dt.datetime | str | None = None,
) -> str:
    """Run `sql`, read-only, and render its (last statement's) result: at most `limit` rows,
    tables fitted to `max_width` columns (0: values whole). See `user_query` for errors."""

    def read(result: duckdb.DuckDBPyRelation | None) -> tuple[list[str], list[tuple], int]:
        if result is None:
            return [], [], 0
        return list(result.columns), *fetch_limited(result, limit)

    columns, rows, more_rows = user_query(
        data_dir,
        sql,
        read,
        allow_file_access=allow_file_access,
        snapshot_version=snapshot_version,
        snapshot_time=snapshot_time,
    )
    if not columns:
        return ""
    return render(fmt, columns, rows, more_rows=more_rows, max_width=max_width)


def write_query(
    data_dir: str | Path | Location,
    sql: str,
    out: Path,
    *,
    fmt: str | None = None,
    limit: int | None = None,
    allow_file_access: bool = False,
    snapshot_version: int | None = None,
    snapshot_time: dt.datetime | str | None = None,
) -> int:
    """Write the result of `sql` to `out` (CSV, JSON or Parquet by its extension), never inside
    the data directory; return the rows written."""
    kind = file_format(out, fmt)
    location = filesystem.location(data_dir)
    out = out.expanduser().resolve()
    for kept in {Layout(location).local_dir, location}:
        if isinstance(kept, Path) and out.is_relative_to(kept.resolve()):
            raise OutputRefused(
                f"{out} is inside the data directory {kept}; docmill sql writes nothing there "
                "(choose another --out)"
            )

    def read(result: duckdb.DuckDBPyRelation | None) -> int:
        if result is None:
            raise OutputRefused("the last statement returns no rows; nothing to write")
        return write_file(result, out, kind, limit=limit)

    return user_query(
        data_dir,
        sql,
        read,
        allow_file_access=allow_file_access,
        snapshot_version=snapshot_version,
        snapshot_time=snapshot_time,
    )
