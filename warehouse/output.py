"""Query results as people and programs read them: an aligned table that fits the terminal,
Markdown, CSV and JSON on stdout; CSV, JSON or Parquet files.

A table or Markdown listing shows at most `limit` rows (50 by default): only those are fetched,
and the rest are counted by DuckDB, so `select * from tokens` prints 50 rows and how many more
there are without converting hundreds of thousands of rows into Python objects.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import io
import json
import math
import os
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

OutputFormat = Literal["table", "csv", "json", "markdown"]
FORMATS: tuple[str, ...] = ("table", "csv", "json", "markdown")
FILE_FORMATS = {".csv": "csv", ".json": "json", ".parquet": "parquet"}
DEFAULT_ROWS = 50  # shown by the table and Markdown formats unless --limit / --all
SEPARATOR = " | "
MARKER = "…"
# A column cut to fit keeps at least this many characters (or its whole width, when narrower).
NARROWEST_COLUMN = 6
_ARROW_BATCH_ROWS = 100_000


class OutputRefused(ValueError):
    """An output file docmill sql does not write; the message says why."""


class Result(Protocol):
    """A query not yet read (a DuckDB relation)."""

    columns: list[str]

    def limit(self, n: int) -> Result: ...
    def aggregate(self, expression: str) -> Result: ...
    def fetchmany(self, size: int) -> list[tuple]: ...
    def fetchall(self) -> list[tuple]: ...
    def to_arrow_reader(self, batch_size: int = ...) -> pa.RecordBatchReader: ...


def fetch_limited(result: Result, limit: int | None) -> tuple[list[tuple], int]:
    """The first `limit` rows (all with None) and how many rows follow them. Only the rows shown
    are fetched; the rest are counted by DuckDB (`count(*)` of the query, which reads no column
    it does not need)."""
    if limit is None:
        return result.fetchall(), 0
    rows = result.limit(limit + 1).fetchall()
    if len(rows) <= limit:
        return rows, 0
    [(total,)] = result.aggregate("count(*)").fetchall()
    return rows[:limit], max(int(total) - limit, 1)


def render(
    fmt: OutputFormat,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    more_rows: int = 0,
    max_width: int = 0,
) -> str:
    if fmt == "table":
        return format_table(columns, rows, more_rows=more_rows, max_width=max_width)
    if fmt == "markdown":
        return format_markdown(columns, rows, more_rows=more_rows)
    if fmt == "csv":
        return format_csv(columns, rows)
    if fmt == "json":
        return format_json(columns, rows)
    raise ValueError(f"unknown output format {fmt!r}; use one of: {', '.join(FORMATS)}")


def format_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    more_rows: int = 0,
    max_width: int = 0,
) -> str:
    """Aligned plain-text columns, a header rule and a footer: the row count, or how many rows
    were left out. With `max_width` > 0 the widest columns are cut (marked …) until every line
    fits; values are whole otherwise."""
    header = [_table_cell(name) for name in columns]
    body = [[_table_cell(value) for value in row] for row in rows]
    natural = [display_width(name) for name in header]
    for row in body:
        natural = [
            max(width, display_width(cell)) for width, cell in zip(natural, row, strict=True)
        ]
    widths = _fitted_widths(natural, max_width)
    # Numbers read best right-aligned; decide per column from the first non-null value.
    numeric = [_is_numeric_column(rows, index) for index in range(len(columns))]
    cut = False

    def line(cells: Sequence[str]) -> str:
        nonlocal cut
        padded = []
        for cell, width, is_number in zip(cells, widths, numeric, strict=True):
            if display_width(cell) > width:
                cell, cut = _cut(cell, width), True
            padding = " " * (width - display_width(cell))
            padded.append(padding + cell if is_number else cell + padding)
        return SEPARATOR.join(padded).rstrip()

    lines = [line(header), "-+-".join("-" * width for width in widths)]
    lines.extend(line(row) for row in body)
    lines.append(_footer(len(rows), more_rows))
    if cut:
        lines.append(
            f"values cut to fit {max_width} columns end in {MARKER}; --max-width 0 shows them "
            "whole, --format csv or json shows them unchanged"
        )
    return "\n".join(lines) + "\n"


def format_markdown(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, more_rows: int = 0
) -> str:
    """A GitHub-flavoured Markdown table (values whole; `|` escaped, line breaks as <br>)."""
    numeric = [_is_numeric_column(rows, index) for index in range(len(columns))]
    lines = [
        "| " + " | ".join(_markdown_cell(name) for name in columns) + " |",
        "| " + " | ".join("---:" if number else "---" for number in numeric) + " |",
    ]
    lines += ["| " + " | ".join(_markdown_cell(value) for value in row) + " |" for row in rows]
    if more_rows:
        lines += ["", _footer(len(rows), more_rows)]
    return "\n".join(lines) + "\n"


def format_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    write_csv(buffer, columns, rows)
    return buffer.getvalue()


def format_json(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    write_json(buffer, columns, rows)
    return buffer.getvalue()


def write_csv(stream: io.TextIOBase, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow(["" if value is None else _csv_cell(value) for value in row])
        count += 1
    return count


def write_json(stream: io.TextIOBase, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """A JSON array of objects, one per line, so a large result streams to a file."""
    count = 0
    stream.write("[")
    for row in rows:
        record = {name: _json_safe(value) for name, value in zip(columns, row, strict=True)}
        stream.write(("," if count else "") + "\n" + json.dumps(record, ensure_ascii=False))
        count += 1
    stream.write("\n]\n")
    return count


def file_format(path: Path, fmt: str | None) -> str:
    """The format of an output file by its extension; OutputRefused when unknown or when it
    contradicts an explicit --format."""
    kind = FILE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise OutputRefused(f"{path}: write .csv, .json or .parquet (the extension decides)")
    if fmt is not None and fmt != kind:
        raise OutputRefused(f"--format {fmt} does not match {path.name}; leave --format out")
    return kind


def write_file(result: Result, path: Path, kind: str, *, limit: int | None) -> int:
    """Write the result (its first `limit` rows) to `path` in chunks, through a file beside it
    that is renamed at the end; return the rows written."""
    columns = list(result.columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        if kind == "parquet":
            count = _write_parquet(result, partial, limit)
        else:
            with partial.open("w", encoding="utf-8", newline="") as stream:
                rows = _rows_in_chunks(result, limit)
                count = (write_csv if kind == "csv" else write_json)(stream, columns, rows)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _write_parquet(result: Result, path: Path, limit: int | None) -> int:
    reader = result.to_arrow_reader(_ARROW_BATCH_ROWS)
    count = 0
    with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
        for batch in reader:
            if limit is not None:
                batch = batch.slice(0, max(limit - count, 0))
            if batch.num_rows:
                writer.write_batch(batch)
                count += batch.num_rows
            if limit is not None and count >= limit:
                break
    return count


def _rows_in_chunks(result: Result, limit: int | None) -> Iterator[tuple]:
    left = limit
    while left is None or left > 0:
        rows = result.fetchmany(10_000 if left is None else min(10_000, left))
        if not rows:
            return
        yield from rows
        if left is not None:
            left -= len(rows)


def display_width(text: str) -> int:
    """Columns `text` takes in a terminal: East Asian wide characters take two, combining marks
    none."""
    return sum(_char_width(char) for char in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _fitted_widths(natural: list[int], max_width: int) -> list[int]:
    """Column widths whose lines fit `max_width`: the widest columns are narrowed to one cap,
    as wide as the room allows (never below NARROWEST_COLUMN); the rest keep their width."""
    room = max_width - len(SEPARATOR) * (len(natural) - 1)
    if max_width <= 0 or sum(natural) <= room:
        return natural
    low, high = NARROWEST_COLUMN, max(natural)
    while low < high:
        cap = (low + high + 1) // 2
        if sum(min(width, cap) for width in natural) <= room:
            low = cap
        else:
            high = cap - 1
    return [min(width, low) for width in natural]


def _cut(text: str, width: int) -> str:
    kept, used = [], 0
    for char in text:
        if used + _char_width(char) > width - 1:
            break
        kept.append(char)
        used += _char_width(char)
    return "".join(kept) + MARKER


def _footer(shown: int, more_rows: int) -> str:
    if more_rows:
        rows = f"row{'' if more_rows == 1 else 's'}"
        return f"{MARKER} {more_rows:,} more {rows} ({shown:,} shown; --limit N or --all for more)"
    return f"({shown:,} row{'' if shown == 1 else 's'})"


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


def _markdown_cell(value: Any) -> str:
    text = "NULL" if value is None else str(round(value, 6) if isinstance(value, float) else value)
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


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
