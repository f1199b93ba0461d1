"""The lake's catalog: DuckLake tables over Parquet files, one transaction per published batch.

```
<data dir>/catalog.sqlite            the catalog (embedded default; SQLite in WAL mode)
<data dir>/tables/stored/<table>/    the data files DuckLake reads (Parquet)
```

The catalog is a SQLite file in the data directory (for an object-store data directory, in the
machine's local state directory), or a PostgreSQL database for several machines
(`DOCMILL_CATALOG=postgresql://user@host/db`). It holds the stored tables (schema `stored`), the
views and macros (schema `main`, warehouse/build.py) and every snapshot: each commit is one,
which gives time travel (`AT (VERSION => n)`, `ATTACH ... (SNAPSHOT_TIME ...)`).

SQLite runs in write-ahead-log mode, so a reader never blocks a committing writer and a writer
never blocks a reader (in SQLite's default rollback mode a reader's open transaction makes every
commit fail with "database is locked"). DuckLake's concurrency is optimistic and per table: two
commits that delete from the same table conflict even when they touch different batches, so
every write here is a short transaction retried on conflict (`commit_with_retry`).

Every connection attaches the catalog as `docmill`; analysts may attach it under any name but
`stored` (the views name that schema).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import unquote, urlsplit

import duckdb

from docmill.tasks import schemas
from docmill.tasks.lake import catalog_health, duckdb_extensions, filesystem
from docmill.tasks.lake.filesystem import Location, StorageError

ALIAS = "docmill"
STORED = "stored"
CATALOG_FILE = "catalog.sqlite"
TABLES_DIR = "tables"
CATALOG_ENV = "DOCMILL_CATALOG"
# Inserts below this many rows are kept in the catalog itself (DuckLake's data inlining) instead
# of one small Parquet file each: a scheduled batch of a few documents makes no small files.
INLINE_ROWS_ENV = "DOCMILL_INLINE_ROWS"
DEFAULT_INLINE_ROWS = 1000
_T = TypeVar("_T")
# The catalog database itself, as DuckLake attaches it beside the lake.
METADATA = f"__ducklake_metadata_{ALIAS}"


class CatalogError(StorageError):
    """The catalog cannot be used as configured."""


class CatalogMissing(CatalogError):
    """No catalog exists yet where one is expected (nothing was ever published)."""


class CatalogDamaged(CatalogError):
    """The catalog cannot be read as one, or is gone while its data files remain; docmill never
    writes over it or starts another beside them."""


class CommitConflict(CatalogError):
    """A commit kept conflicting with other writers for longer than we retry."""


@dataclass(frozen=True, slots=True)
class CatalogTarget:
    """Where a lake's catalog lives and where its data files go."""

    kind: Literal["sqlite", "postgres"]
    location: str  # sqlite: an absolute file path; postgres: a libpq connection string
    data_path: str  # ends with "/"

    def attach_sql(
        self,
        *,
        read_only: bool,
        snapshot_version: int | None = None,
        snapshot_time: datetime | str | None = None,
        inline_rows: int | None = None,
    ) -> str:
        # The catalog remembers the data path it was created with; this machine's may differ
        # (a moved data directory, another mount point), and is the one to use.
        options = [f"data_path '{_quote(self.data_path)}'", "override_data_path true"]
        if read_only:
            options.append("read_only")
        if snapshot_version is not None:
            options.append(f"snapshot_version {int(snapshot_version)}")
        if snapshot_time is not None:
            options.append(f"snapshot_time '{_quote(str(snapshot_time))}'")
        if inline_rows is not None:
            options.append(f"data_inlining_row_limit {int(inline_rows)}")
        prefix = "sqlite:" if self.kind == "sqlite" else "postgres:"
        return (
            f"attach 'ducklake:{prefix}{_quote(self.location)}' as {ALIAS} ({', '.join(options)})"
        )

    def describe(self) -> str:
        """The catalog as a person reads it, never with a password."""
        if self.kind == "sqlite":
            return self.location
        return "postgresql: " + " ".join(
            part for part in self.location.split() if not part.startswith("password=")
        )

    def exists(self) -> bool:
        """Whether the catalog was created (for PostgreSQL: assumed; the server will say)."""
        return self.kind == "postgres" or Path(self.location).is_file()


def target_for(data_dir: Location, catalog: str | None = None) -> CatalogTarget:
    """The catalog of a data directory: `catalog` (a PostgreSQL URL or a SQLite path), else
    `DOCMILL_CATALOG`, else `catalog.sqlite` beside the data (in the local state directory for
    an object-store data directory)."""
    configured = catalog if catalog is not None else os.environ.get(CATALOG_ENV, "")
    data_path = str(data_dir / TABLES_DIR).rstrip("/") + "/"
    if not configured.strip():
        sqlite_file = filesystem.local_state_dir(data_dir) / CATALOG_FILE
        return CatalogTarget("sqlite", str(sqlite_file), data_path)
    return CatalogTarget(*parse_catalog(configured), data_path)


def parse_catalog(text: str) -> tuple[Literal["sqlite", "postgres"], str]:
    """(kind, location) of a catalog given as `postgresql://user[:password]@host[:port]/db`,
    `sqlite:///abs/path.sqlite` or a plain path; a clear error for anything else."""
    text = text.strip()
    scheme, sep, _rest = text.partition("://")
    if not sep:
        return "sqlite", str(Path(text).expanduser().resolve())
    scheme = scheme.lower()
    parts = urlsplit(text)
    if scheme == "sqlite":
        path = unquote(parts.path)
        if not path or path == "/":
            raise CatalogError(f"catalog {text!r} names no file: use sqlite:///path/catalog.sqlite")
        return "sqlite", str(Path(path).expanduser().resolve())
    if scheme not in ("postgresql", "postgres"):
        raise CatalogError(
            f"unsupported catalog {_redact(text)!r}: use postgresql://user@host:port/database "
            "or a path to a SQLite file"
        )
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database:
        raise CatalogError(
            f"catalog {_redact(text)!r} needs a host and a database: "
            "postgresql://user@host:port/database"
        )
    try:
        port = parts.port
    except ValueError as err:
        raise CatalogError(f"catalog {_redact(text)!r}: {err}") from None
    fields = {"host": parts.hostname, "port": port, "dbname": database}
    fields["user"] = unquote(parts.username) if parts.username else None
    fields["password"] = unquote(parts.password) if parts.password else None
    conninfo = " ".join(
        f"{key}={_conninfo_value(str(value))}" for key, value in fields.items() if value
    )
    return "postgres", conninfo


def configure_catalog(catalog: str | None) -> None:
    """Apply a configured catalog as `DOCMILL_CATALOG`, so every process of a run (workers
    included) and every later connection in this one use it."""
    if catalog:
        parse_catalog(catalog)
        os.environ[CATALOG_ENV] = catalog


def inline_rows() -> int:
    value = os.environ.get(INLINE_ROWS_ENV, str(DEFAULT_INLINE_ROWS))
    try:
        rows = int(value)
    except ValueError:
        rows = -1
    if rows < 0:
        raise CatalogError(f"{INLINE_ROWS_ENV}={value!r}: give a row count (0 turns inlining off)")
    return rows


def connect(
    target: CatalogTarget,
    *,
    read_only: bool = False,
    create: bool = True,
    snapshot_version: int | None = None,
    snapshot_time: datetime | str | None = None,
    inline_limit: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the catalog attached as `docmill` (and in use).

    A writer creates the catalog (and its stored tables) when it does not exist yet and no data
    files are there either (`create`); a reader raises CatalogMissing instead, so a query never
    creates an empty lake by mistake. A catalog that is damaged, or gone while data files
    remain, raises CatalogDamaged and is never written to. `inline_limit` overrides
    DOCMILL_INLINE_ROWS for this connection's inserts and deletes.
    """
    if target.kind == "sqlite" and not read_only:
        state, message = catalog_health.sqlite_catalog_state(
            Path(target.location), target.data_path
        )
        if state == "unusable":
            raise CatalogDamaged(message)
        if state == "unreadable":
            raise CatalogError(message)
        if state == "new" and not create:
            raise CatalogMissing(_missing_message(target))
        if state == "new":
            _create_sqlite_file(Path(target.location))
    elif not target.exists():
        raise _unusable_or_missing(target, None)
    con = duckdb_extensions.new_connection()
    try:
        duckdb_extensions.load(con, "ducklake")
        duckdb_extensions.load(
            con, "sqlite_scanner" if target.kind == "sqlite" else "postgres_scanner"
        )
        if target.data_path.startswith("s3://"):
            duckdb_extensions.load_s3(con)
        con.execute(
            target.attach_sql(
                read_only=read_only,
                snapshot_version=snapshot_version,
                snapshot_time=snapshot_time,
                inline_rows=None
                if read_only
                else (inline_limit if inline_limit is not None else inline_rows()),
            )
        )
        con.execute(f"use {ALIAS}")
        if not read_only:
            ensure_stored_tables(con)
    except duckdb.Error as err:
        con.close()
        if target.kind == "sqlite" and (not target.exists() or _is_damage(err)):
            raise _unusable_or_missing(target, err) from err
        message = f"cannot open the catalog {target.describe()}: {_one_line(err)}"
        if target.kind == "sqlite":
            path = Path(target.location)
            message = catalog_health.unwritable_message(path) or (
                message + catalog_health.space_note(path.parent)
            )
        raise CatalogError(message) from err
    except BaseException:
        con.close()
        raise
    return con


def _unusable_or_missing(target: CatalogTarget, error: duckdb.Error | None) -> CatalogError:
    """The error to give when a SQLite catalog could not be attached (or is not there)."""
    path = Path(target.location)
    state, message = catalog_health.sqlite_catalog_state(path, target.data_path)
    if state == "unusable":
        return CatalogDamaged(message)
    if state == "unreadable":
        return CatalogError(message)
    if state == "new":
        return CatalogMissing(_missing_message(target))
    return CatalogDamaged(
        f"the catalog {path} cannot be read as a DuckLake catalog ({_one_line(error)}); docmill "
        f"leaves it as it is: {catalog_health.BACKUP_HINT}. The data files it lists are in "
        f"{target.data_path}"
    )


def _missing_message(target: CatalogTarget) -> str:
    return (
        f"no catalog at {target.describe()}: nothing has been published to this data "
        "directory yet (run `docmill run SOURCE` first)"
    )


def _is_damage(error: duckdb.Error) -> bool:
    """Whether DuckDB's error says the SQLite file is not a (whole) database, or holds no lake."""
    message = str(error).lower()
    return any(
        sign in message
        for sign in (
            "file is not a database",
            "malformed",
            "creating a new ducklake is explicitly disabled",
            "no snapshot found in ducklake",
        )
    )


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _create_sqlite_file(path: Path) -> None:
    """An empty SQLite catalog in write-ahead-log mode (the mode is stored in the file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("pragma journal_mode=wal")
    except (OSError, sqlite3.Error) as err:
        raise CatalogError(
            f"cannot create the catalog {path}: {err}. Give --data-dir (or DOCMILL_DATA_DIR) a "
            "folder this user can write"
        ) from err


def stored_table(name: str) -> str:
    return f'{ALIAS}.{STORED}."{name}"'


def ensure_stored_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the stored tables, or add the columns a newer schema has, in one commit; nothing
    when the catalog is up to date (the usual case: one query of the catalog)."""
    existing: dict[str, set[str]] = {}
    for table, column in con.execute(
        "select table_name, column_name from duckdb_columns() "
        "where database_name = ? and schema_name = ?",
        [ALIAS, STORED],
    ).fetchall():
        existing.setdefault(table, set()).add(column)
    statements = []
    for name in schemas.STORED_TABLES:
        columns = column_types(name)
        if name not in existing:
            body = ", ".join(f'"{column}" {kind}' for column, kind in columns)
            statements.append(f"create table if not exists {stored_table(name)} ({body})")
            continue
        statements += [
            f'alter table {stored_table(name)} add column if not exists "{column}" {kind}'
            for column, kind in columns
            if column not in existing[name]
        ]
    if not statements:
        return

    def apply(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"create schema if not exists {ALIAS}.{STORED}")
        for statement in statements:
            con.execute(statement)
        # The one row every publish replaces (schemas.LAST_PUBLISH says why).
        con.execute(
            f"insert into {stored_table('last_publish')} (batch_id) select null "
            f"where not exists (from {stored_table('last_publish')})"
        )

    commit_with_retry(con, apply, what="creating the stored tables")
    with contextlib.suppress(duckdb.Error):
        # zstd, as docmill's own files: DuckLake writes snappy unless told otherwise.
        con.execute(f"call {ALIAS}.set_option('parquet_compression', 'zstd')")


@functools.cache
def column_types(table: str) -> tuple[tuple[str, str], ...]:
    """(column, DuckDB type) of a stored table's Arrow schema, as DuckDB reads the Parquet files
    written with it, so registered files always match their table."""
    con = duckdb.connect()
    try:
        con.register("empty_table", schemas.STORED_TABLES[table].empty_table())
        return tuple((row[0], row[1]) for row in con.execute("describe empty_table").fetchall())
    finally:
        con.close()


def is_conflict(error: BaseException) -> bool:
    """Whether a failed commit only lost a race with another writer (and may be retried)."""
    if not isinstance(error, duckdb.Error):
        return False
    message = str(error).lower()
    return any(
        sign in message
        for sign in (
            "conflict",
            "database is locked",
            "could not serialize",
            "deadlock detected",
            "duplicate key value",
            "unique constraint",
        )
    )


def commit_with_retry(
    con: duckdb.DuckDBPyConnection,
    work: Callable[[duckdb.DuckDBPyConnection], _T],
    *,
    what: str,
    timeout_s: float = 300.0,
) -> _T:
    """Run `work` in one transaction and commit it, starting over when the commit (or a
    statement) loses a race with another writer; give up after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    attempts = 0
    while True:
        attempts += 1
        con.execute("begin transaction")
        try:
            result = work(con)
            con.execute("commit")
            return result
        except BaseException as err:
            with contextlib.suppress(duckdb.Error):
                con.execute("rollback")
            if not is_conflict(err):
                raise
            if time.monotonic() >= deadline:
                raise CommitConflict(
                    f"{what}: still conflicting with other writers after {attempts} attempts "
                    f"in {timeout_s:g} s; last error: {err}"
                ) from err
        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 2.0)


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _conninfo_value(value: str) -> str:
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


# Snapshot changes that replace files by others holding the same rows (warehouse/upkeep.py).
REWRITING_CHANGES = ("merge_adjacent", "inline_flush")
READ_ATTEMPTS = 5


class LakeRewritten(RuntimeError):
    """The lake was compacted during every try of a read."""


def read_consistently(
    con: duckdb.DuckDBPyConnection, read: Callable[[duckdb.DuckDBPyConnection], _T]
) -> _T:
    """`read(con)` in one transaction, run again when the lake was compacted while it ran.

    DuckLake 1.5.5 shows a transaction that began before a merge of adjacent files committed
    the merged table as empty (the old files are gone from the catalog, and the merged one is
    newer than the transaction), without an error. A merge is rare and its snapshot says what it
    was, so a read that overlapped one is simply done again; any other commit is safe to overlap.
    """
    for _ in range(READ_ATTEMPTS):
        newest = _newest_snapshot(con)
        con.execute("begin transaction")
        try:
            value = read(con)
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("rollback")
            raise
        con.execute("commit")
        if not _rewritten_since(con, newest):
            return value
    raise LakeRewritten(
        f"the lake was compacted during each of {READ_ATTEMPTS} tries of this query; run it "
        "again when `docmill compact` (or the maintenance flow) has finished"
    )


def _newest_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    [(newest,)] = con.execute(
        f"select max(snapshot_id) from {METADATA}.ducklake_snapshot"
    ).fetchall()
    return int(newest or 0)


def _rewritten_since(con: duckdb.DuckDBPyConnection, snapshot_id: int) -> bool:
    """Whether a snapshot after `snapshot_id` rewrote files (a merge, or a flush of inlined
    rows into files)."""
    [(rewrites,)] = con.execute(
        f"select count(*) from {METADATA}.ducklake_snapshot_changes where snapshot_id > ? and ("
        + " or ".join(["changes_made like ?"] * len(REWRITING_CHANGES))
        + ")",
        [snapshot_id, *(f"%{change}:%" for change in REWRITING_CHANGES)],
    ).fetchall()
    return rewrites > 0
