"""Read-only access to the warehouse: the catalog attached read-only, never blocking on (and
never blocking) a running pipeline, at its newest snapshot or at an earlier one."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import io
import json
import math
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb

from docmill.tasks import catalog, storage
from docmill.tasks.storage import Location
from docmill.tasks.store import Layout
from docmill.warehouse import sql_guard
from docmill.warehouse.build import warehouse_ddl

OutputFormat = Literal["table", "csv", "json"]


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
    data_dir = storage.location(data_dir)
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
    location = storage.location(data_dir)
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


def run_query(
    data_dir: str | Path | Location,
    sql: str,
    *,
    fmt: OutputFormat = "table",
    max_cell_width: int = 48,
    allow_file_access: bool = False,
    snapshot_version: int | None = None,
    snapshot_time: dt.datetime | str | None = None,
) -> str:
    """Run `sql`, read-only, against the warehouse and render the last statement's result as
    text. Every statement is checked before any runs.

    Raises StatementRefused for a statement that would do more than read (or read a file
    outside the data directory); other DuckDB errors propagate as `duckdb.Error`.
    """
    con = connect_for_user_sql(
        data_dir,
        allow_file_access=allow_file_access,
        snapshot_version=snapshot_version,
        snapshot_time=snapshot_time,
    )
    try:
        statements = sql_guard.checked_statements(con, sql)
        cursor = None
        for statement in statements:
            cursor = con.execute(statement)
        if cursor is None or cursor.description is None:
            return ""
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    except duckdb.Error as err:
        refused = sql_guard.refused_file_access(err, str(storage.location(data_dir)))
        if refused is not None:
            raise refused from None
        raise
    finally:
        con.close()
    if fmt == "table":
        return format_table(columns, rows, max_cell_width=max_cell_width)
    if fmt == "csv":
        return format_csv(columns, rows)
    if fmt == "json":
        return format_json(columns, rows)
    raise ValueError(f"unknown output format {fmt!r}; use one of: table, csv, json")


def format_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_cell_width: int = 48
) -> str:
    """Aligned plain-text columns, a header rule and a row-count footer."""
    header = [_truncate(_table_cell(name), max_cell_width) for name in columns]
    body = [[_truncate(_table_cell(value), max_cell_width) for value in row] for row in rows]
    widths = [len(name) for name in header]
    for row in body:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    # Numbers read best right-aligned; decide per column from the first non-null value.
    numeric = [_is_numeric_column(rows, index) for index in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(cells, widths, numeric, strict=True)
        )
        return " | ".join(padded).rstrip()

    count = len(rows)
    lines = [line(header), "-+-".join("-" * width for width in widths)]
    lines.extend(line(row) for row in body)
    lines.append(f"({count} row{'' if count == 1 else 's'})")
    return "\n".join(lines) + "\n"


def format_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if value is None else _csv_cell(value) for value in row])
    return buffer.getvalue()


def format_json(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    records = [
        {name: _json_safe(value) for name, value in zip(columns, row, strict=True)} for row in rows
    ]
    return json.dumps(records, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def _is_numeric_column(rows: Sequence[Sequence[Any]], index: int) -> bool:
    for row in rows:
        value = row[index]
        if value is not None:
            return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)
    return False


def _table_cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return str(round(value, 6))
    text = str(value)
    # Keep each row on one line so the columns stay aligned.
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")


def _truncate(text: str, width: int) -> str:
    if width < 2 or len(text) <= width:
        return text
    return text[: width - 1] + "…"


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list | tuple | dict):
        return json.dumps(_json_safe(value), ensure_ascii=False)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # JSON has no NaN or infinity.
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(item) for item in value]
    return str(value)
