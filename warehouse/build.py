"""Build and refresh `warehouse.duckdb`: a file of views (no tables) over the Parquet lake.

The SQL lives in one `.sql` file per view. The generated part is the `lake` schema (one view
per stored table over the files present, warehouse/lake_scan.py) with absolute paths, so the
file works from any working directory and client; moving the data directory needs a rebuild.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from docmill.tasks import storage
from docmill.tasks.schemas import SCHEMA_VERSION
from docmill.tasks.storage import Location
from docmill.tasks.store import Layout
from docmill.warehouse import lake_scan
from docmill.warehouse.object_store import connect

META_VIEW = "docmill_meta"

# Creation order: a view comes after every view it reads.
VIEW_NAMES: tuple[str, ...] = (
    "documents",
    "paragraphs",
    "sentences",
    "tokens",
    "entities",
    "noun_chunks",
    "cleaning",
    "rejects",
    "duplicates",
    "runs",
    "entity_counts",
    "entity_cooccurrence",
    "doc_stats",
    "entity_mentions_daily",
    "trending_entities",
    "entity_cooccurrence_documents",
    "source_stats",
    "lemma_counts",
    "rejects_by_reason",
    "run_stats",
)

# The DuckDB 1.5 CLI refuses files written with 2.0's default storage format.
STORAGE_COMPATIBILITY = "v1.0.0"
_COMPATIBLE_STORAGE_TAG = "v1.0.0+"

# Macros the views call: name -> (kind, parameters, the view it reads, if any). The SQL of a
# "table" macro is a query, of a "scalar" one an expression. DuckDB binds a macro when it is
# created, so one that reads a view is created right after that view, the others before all.
MACROS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "shown_spans": ("table", ("table_name",), "documents"),
    "source_of": ("scalar", ("uri", "item_url"), None),
    "trending_entities_over": ("table", ("n_days", "window_end := null"), "entity_mentions_daily"),
}

_SQL_DIR = Path(__file__).resolve().parent
_T = TypeVar("_T")


class WarehouseBusy(RuntimeError):
    """Another process holds `warehouse.duckdb` open for writing for longer than we waited."""


def warehouse_path(data_dir: str | Path | Location) -> Path:
    return Layout.at(data_dir).warehouse


def view_sql(name: str) -> str:
    """The body of a view or macro file. The hand-written SQL holds no paths: only the
    generated `lake` views (lake_scan.py) read files."""
    return (_SQL_DIR / f"{name}.sql").read_text(encoding="utf-8").strip().rstrip(";")


def render_views() -> list[tuple[str, str]]:
    """(name, sql) of every view in creation order."""
    return [(name, view_sql(name)) for name in VIEW_NAMES]


def warehouse_ddl(data_dir: str | Path | Location) -> list[str]:
    """Every statement that defines the warehouse: the generated `lake` views over the files,
    the macros that read no view, then the views in order, each followed by the macros that
    read it (DuckDB binds a macro when it is created)."""
    macros_after: dict[str | None, list[str]] = {}
    for name, (kind, params, after) in MACROS.items():
        body = view_sql(name)
        body = f"table\n{body}" if kind == "table" else f"(\n{body}\n)"
        macros_after.setdefault(after, []).append(
            f'create or replace macro "{name}"({", ".join(params)}) as {body}'
        )
    views = []
    for name, sql in render_views():
        views += [f'create or replace view "{name}" as\n{sql}', *macros_after.get(name, [])]
    macros = macros_after.get(None, [])
    return lake_scan.lake_ddl(Layout.at(data_dir)) + macros + views


def views_hash(statements: list[str]) -> str:
    digest = hashlib.sha256(f"schema_version={SCHEMA_VERSION}\n".encode())
    for statement in statements:
        digest.update(f"{statement}\n".encode())
    return digest.hexdigest()


def write_placeholders(data_dir: str | Path | Location) -> list[Location]:
    """Zero-row files so every glob of the views matches, even in an empty lake, and every
    column of the current schema exists for the views even when all batches are older.

    Returns the files written (those already present with the right columns are left alone).
    """
    return lake_scan.write_placeholders(Layout.at(data_dir))


def placeholders_present(data_dir: str | Path | Location) -> bool:
    return lake_scan.placeholders_present(Layout.at(data_dir))


def is_lock_error(error: BaseException) -> bool:
    message = str(error).lower()
    return isinstance(error, duckdb.IOException) and (
        "could not set lock" in message or "conflicting lock" in message
    )


def retry_on_lock(
    open_fn: Callable[[], _T], *, timeout_s: float, what: str, initial_delay_s: float = 0.05
) -> _T:
    """Call `open_fn` until it stops failing on a file lock, for at most `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    delay = initial_delay_s
    while True:
        try:
            return open_fn()
        except duckdb.IOException as error:
            if not is_lock_error(error):
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WarehouseBusy(
                    f"{what} is locked by another process (a running pipeline or an open "
                    f"read-write session) and stayed locked for {timeout_s:g} s; close that "
                    f"session or wait for the run to finish, then retry. DuckDB said: {error}"
                ) from error
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)


def _connect_read_write(path: Path, data_dir: Location) -> duckdb.DuckDBPyConnection:
    # Able to read the data directory: creating a view binds it, which reads the files it names.
    return connect(
        str(path), data_dir, config={"storage_compatibility_version": STORAGE_COMPATIBILITY}
    )


def _storage_tag(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute(
        "select tags['storage_version'] from duckdb_databases() where database_name = "
        "current_database()"
    ).fetchone()
    return row[0] if row else None


def _meta_sql(digest: str) -> str:
    return f"select '{digest}' as views_hash, {SCHEMA_VERSION} as schema_version"


def build_warehouse(data_dir: str | Path | Location, *, lock_timeout_s: float = 10.0) -> list[str]:
    """Create or refresh every view in the data directory's `warehouse.duckdb` (in the data
    directory; for an object store, in its local state directory); return the view names.

    Raises WarehouseBusy when another process keeps the file locked past `lock_timeout_s`.
    """
    data_dir = storage.location(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    write_placeholders(data_dir)
    statements = warehouse_ddl(data_dir)
    path = warehouse_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)

    def connect() -> duckdb.DuckDBPyConnection:
        return _connect_read_write(path, data_dir)

    con = retry_on_lock(connect, timeout_s=lock_timeout_s, what=str(path))
    try:
        if _storage_tag(con) != _COMPATIBLE_STORAGE_TAG:
            # Written by a DuckDB with newer storage defaults: older clients cannot open it.
            # The file holds only views, so recreating it loses nothing.
            con.close()
            for stale in (path, path.with_name(path.name + ".wal")):
                stale.unlink(missing_ok=True)
            con = retry_on_lock(connect, timeout_s=lock_timeout_s, what=str(path))
        _create_views(con, statements)
    finally:
        con.close()
    return list(VIEW_NAMES)


def _create_views(con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
    wanted = {("main", name) for name in (*VIEW_NAMES, META_VIEW)} | {
        (lake_scan.LAKE_SCHEMA, name) for name in lake_scan.lake_view_names()
    }
    con.execute("begin transaction")
    try:
        existing = con.execute(
            "select schema_name, view_name from duckdb_views() "
            "where not internal and database_name = current_database() "
            "and schema_name in ('main', ?)",
            [lake_scan.LAKE_SCHEMA],
        ).fetchall()
        # A view retired from the SQL set would otherwise linger with a stale definition.
        for schema, name in existing:
            if (schema, name) not in wanted:
                con.execute(f'drop view if exists "{schema}"."{name}"')
        for statement in statements:
            con.execute(statement)
        digest = views_hash(statements)
        con.execute(f'create or replace view "{META_VIEW}" as {_meta_sql(digest)}')
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    # Fold the WAL into the file so clients that only read it see the views.
    con.execute("checkpoint")


def views_up_to_date(data_dir: str | Path | Location) -> bool:
    """True when the warehouse exists, opens in old clients and holds the current views."""
    path = warehouse_path(data_dir)
    if not path.exists() or not placeholders_present(data_dir):
        return False
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as error:
        if is_lock_error(error):
            return False
        raise
    try:
        if _storage_tag(con) != _COMPATIBLE_STORAGE_TAG:
            return False
        row = con.execute(f'select views_hash, schema_version from "{META_VIEW}"').fetchone()
    except duckdb.Error:
        # A missing or hand-edited meta view: rebuilding is the safe answer.
        return False
    finally:
        con.close()
    return row == (views_hash(warehouse_ddl(data_dir)), SCHEMA_VERSION)
