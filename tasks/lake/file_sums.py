"""Whole-file checksums of the lake's data files, kept beside them in `_checksums/`.

DuckDB writes the lake's files itself (a publish copies the staged rows, compaction merges them)
and neither writes nor verifies Parquet page checksums, so a flipped byte that still decodes
would be served as other text. After each commit that adds files, their size and BLAKE2b digest
are recorded here; `docmill check` compares them (warehouse/check.py). A file without a record
(written before this existed, or by a run killed between its commit and the recording) is
checked as before: present, its recorded size and row count, every page decoded.

One small JSON file per recording, so concurrent writers never share one; the upkeep folds them
into one and drops the records of files the catalog no longer lists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from docmill.tasks.lake import catalog, filesystem
from docmill.tasks.lake.catalog import ALIAS, METADATA
from docmill.tasks.lake.filesystem import Location

FOLDER = "_checksums"
ALGORITHM = "blake2b-128"
_CHUNK = 1 << 20

# Merged files keep the oldest snapshot of the rows they hold as theirs; the file ids, drawn from
# one counter, tell which files a commit added.
_NEW_FILES = f"""
select t.table_name, f.path from {METADATA}.ducklake_data_file f
join {METADATA}.ducklake_table t using (table_id)
where f.data_file_id >= ? and f.end_snapshot is null
union all
select t.table_name, d.path from {METADATA}.ducklake_delete_file d
join {METADATA}.ducklake_table t using (table_id)
where d.delete_file_id >= ? and d.end_snapshot is null
"""
_LISTED_FILES = f"""
select path from {METADATA}.ducklake_data_file
union all select path from {METADATA}.ducklake_delete_file
"""


@dataclass(frozen=True, slots=True)
class FileSum:
    size: int
    digest: str


def folder(data_dir: Location) -> Location:
    return data_dir / FOLDER


def digest(path: Location) -> FileSum:
    """The size and digest of the file at `path`, read in 1 MiB chunks."""
    where, fs = filesystem.arrow_target(path)
    hasher = hashlib.blake2b(digest_size=16)
    size = 0
    with fs.open_input_stream(where) if fs else open(where, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return FileSum(size, hasher.hexdigest())


def next_file_id(con: duckdb.DuckDBPyConnection) -> int:
    """The id the next file added to the lake will get (or a later one): a mark to pass to
    record_new_files after a commit."""
    row = con.execute(
        f"select next_file_id from {METADATA}.ducklake_snapshot order by snapshot_id desc limit 1"
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def record_new_files(data_dir: Location, con: duckdb.DuckDBPyConnection, *, since: int) -> int:
    """Record the files of the stored tables added since the mark `since` (next_file_id) that
    the catalog still lists; the number recorded. A file gone meanwhile is skipped."""
    new = con.execute(_NEW_FILES, [since, since]).fetchall()
    if not new:
        return 0
    sums: dict[str, FileSum] = {}
    for table in sorted({table for table, _path in new}):
        names = {Path(path).name for name, path in new if name == table}
        for data_file, delete_file in con.execute(
            "select data_file, delete_file from ducklake_list_files(?, ?, schema => ?)",
            [ALIAS, table, catalog.STORED],
        ).fetchall():
            for listed in (data_file, delete_file):
                if listed and Path(listed).name in names:
                    with contextlib.suppress(FileNotFoundError):
                        sums[Path(listed).name] = digest(filesystem.location(listed))
    if sums:
        _write(folder(data_dir) / f"{since:012d}-{uuid.uuid4().hex[:12]}.json", sums)
    return len(sums)


def recorded(data_dir: Location) -> dict[str, FileSum]:
    """Every recorded file's sum, by file name (DuckLake names each file with a new UUID)."""
    sums: dict[str, FileSum] = {}
    for _path, part in _parts(data_dir):
        sums.update(part)
    return sums


def fold(data_dir: Location, con: duckdb.DuckDBPyConnection) -> int:
    """Fold the recordings into one, keeping the files the catalog lists (in any kept
    snapshot); the number kept. Recordings written meanwhile stay as they are."""
    parts = _parts(data_dir)
    if len(parts) < 2:
        return sum(len(part) for _path, part in parts)
    listed = {Path(row[0]).name for row in con.execute(_LISTED_FILES).fetchall()}
    kept = {name: s for _path, part in parts for name, s in part.items() if name in listed}
    newest = max(path.name for path, _part in parts)
    _write(folder(data_dir) / f"{newest[:12]}-folded-{uuid.uuid4().hex[:12]}.json", kept)
    for path, _part in parts:
        path.unlink(missing_ok=True)
    return len(kept)


def _parts(data_dir: Location) -> list[tuple[Location, dict[str, FileSum]]]:
    root = folder(data_dir)
    parts = []
    for name in sorted(filesystem.walk_files(root)):
        if "/" in name or not name.endswith(".json"):
            continue
        path = root / name
        try:
            data = json.loads(path.read_bytes())
            part = {file: FileSum(*value) for file, value in data["files"].items()}
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            continue  # folded away meanwhile, or torn: its files are checked without sums
        parts.append((path, part))
    return parts


def _write(path: Location, sums: dict[str, FileSum]) -> None:
    text = json.dumps(
        {"algorithm": ALGORITHM, "files": {k: [v.size, v.digest] for k, v in sorted(sums.items())}},
        indent=0,
    )
    if filesystem.is_object_store(path):
        path.write_text(text)  # one object write is atomic
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
