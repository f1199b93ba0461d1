"""Is a SQLite catalog the lake's catalog, and if not, what should a person do?

The catalog is not a cache that can be rebuilt: it is the only record of which Parquet files
hold which batch at which snapshot. So nothing in docmill may write over a catalog it cannot
read, nor start a new one beside data files an old one listed (a new catalog knows none of them,
and the orphan clean-up would delete them a day later). These checks tell the cases apart and
word the one line a person gets: the file, what is wrong, where the data files are, what to do.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from docmill.tasks.lake import filesystem

CatalogState = Literal["ready", "new", "unusable", "unreadable"]
BACKUP_HINT = "restore it from a backup (README: Backing up the catalog)"
DUCKLAKE_TABLE = "ducklake_metadata"


def sqlite_catalog_state(path: Path, data_path: str) -> tuple[CatalogState, str]:
    """Whether the SQLite file at `path` is the catalog of the data files under `data_path`:
    "ready" (a DuckLake catalog), "new" (no catalog and no data files yet: a writer may start a
    lake), "unusable" (damaged, or gone while its data files remain) or "unreadable" now (a
    full disk, a permission), with the line to show a person."""
    if not path.exists():
        files = _data_files(data_path)
        if not files:
            return "new", f"no catalog at {path}"
        return "unusable", (
            f"no catalog at {path}, but {data_path} holds {files:,} data files: the catalog was "
            f"deleted or moved. Put it back, or {BACKUP_HINT}; a new catalog would know none of "
            "these files (and upkeep would delete them as orphans)"
        )
    try:
        tables = _sqlite_tables(path)
    except sqlite3.OperationalError as err:
        # Not the file's fault: a full disk, a permission, a lock.
        return "unreadable", unwritable_message(path) or (
            f"cannot read the catalog {path}: {err}{space_note(path.parent)}"
        )
    except sqlite3.DatabaseError as err:
        return "unusable", (
            f"the catalog {path} is damaged ({err}); docmill leaves it as it is: {BACKUP_HINT}. "
            f"The data files it lists are in {data_path}"
        )
    if DUCKLAKE_TABLE in tables:
        return "ready", ""
    if tables:
        return "unusable", (
            f"{path} is a SQLite database but not a DuckLake catalog (it has no "
            f"{DUCKLAKE_TABLE} table): point --catalog or DOCMILL_CATALOG at the lake's catalog"
        )
    files = _data_files(data_path)
    if not files:
        return "new", f"the catalog {path} is empty"
    return "unusable", (
        f"the catalog {path} is empty, but {data_path} holds {files:,} data files: "
        f"{BACKUP_HINT}; a new catalog would know none of them"
    )


def unwritable_message(path: Path) -> str | None:
    """The line to show when the SQLite catalog at `path` cannot be used because its folder
    cannot be written, else None."""
    problem = filesystem.write_problem(path.parent)
    if problem is None:
        return None
    return (
        f"cannot open the catalog {path}: its folder cannot be written ({problem}), and SQLite "
        "writes beside its catalog even to read it (WAL mode). Make the folder writable for "
        "this user, or copy the data directory somewhere writable and pass that as --data-dir"
    )


def space_note(folder: Path) -> str:
    """'; no space left on device on <mount> ...' when the file system of `folder` is full,
    else ''."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return ""
    free = stat.f_bavail * stat.f_frsize
    if free >= stat.f_frsize * 16:
        return ""
    return (
        f"; no space left on device on {mount_point(folder)} ({free:,} bytes free): free some "
        "space and run again"
    )


def mount_point(path: Path) -> Path:
    path = path.resolve()
    while not path.is_mount() and path != path.parent:
        path = path.parent
    return path


def _sqlite_tables(path: Path) -> set[str]:
    # Read-only, but not immutable: a catalog just created may hold its tables in the WAL only.
    with contextlib.closing(sqlite3.connect(f"file:{_uri_path(path)}?mode=ro", uri=True)) as db:
        return {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}


def _uri_path(path: Path) -> str:
    # A SQLite URI takes the path percent-encoded: '?' and '#' would end it, '%' escapes.
    return quote(str(path), safe="/")


def _data_files(data_path: str) -> int:
    """How many Parquet files the data path holds (0 when it does not exist)."""
    location = filesystem.location(data_path)
    if not location.exists():
        return 0
    return sum(1 for name in filesystem.walk_files(location) if name.endswith(".parquet"))
