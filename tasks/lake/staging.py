"""A batch's work before it is published: shard files, the staged plan, markers.

Workers write their shard's tables under `_staging/<batch_id>/` without touching the catalog. A
shard's outputs become complete by one directory rename (so a `_SUCCESS.json` marker is only
ever seen beside finished files); a finished shard is reused by a retry with the same inputs and
settings. The batch is published by one catalog transaction that takes every shard's files in
(publish.py). On an object store, which has no rename, the marker is the last object written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from docmill.tasks import lifeline, schemas
from docmill.tasks.lake import filesystem
from docmill.tasks.lake.crash_points import crash_point
from docmill.tasks.lake.filesystem import Location
from docmill.tasks.lake.layout import Layout

SUCCESS_MARKER = "_SUCCESS.json"


STAGED_PLAN = "plan.json"


_COMPRESSION = "zstd"


# Every page carries a CRC32 of its bytes, so `docmill check` can tell a flipped bit from data
# (DuckDB reads them without verifying; pyarrow verifies them on request).
_WRITE_OPTIONS = {"compression": _COMPRESSION, "write_page_checksum": True}


class DamagedRecord(ValueError):
    """The record of a batch's items cannot be read; the message names it and what to do."""


class ShardWriter:
    """Writes one shard's tables, then marks the shard complete with `_SUCCESS.json`.

    Locally the files go to a private directory that one rename completes, so the marker is
    only ever seen beside finished files. An object store has no rename: the files go straight
    to the shard's place, any earlier marker is deleted before the first write, and the marker
    is the last object written (a single object write is atomic).

    Every table gets a file even when it has no rows, so a finished shard is recognised by its
    files alone. With `batch_id`, the rows of every table that has a `batch_id` column get it
    (the steps that build span rows know documents, not batches).
    """

    def __init__(
        self,
        final_dir: Location,
        tables: dict[str, pa.Schema] = schemas.BATCH_TABLES,
        *,
        batch_id: str | None = None,
    ) -> None:
        self.final_dir = final_dir
        self.tables = tables
        self.batch_id = batch_id
        if filesystem.is_object_store(final_dir):
            (final_dir / SUCCESS_MARKER).unlink(missing_ok=True)
            filesystem.remove_tree(final_dir)
            self.work_dir = final_dir
        else:
            self.work_dir = final_dir.with_name(
                f"{final_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
            )
            self.work_dir.mkdir(parents=True)
        self._writers: dict[str, pq.ParquetWriter] = {}

    def write(self, name: str, table: pa.Table) -> None:
        lifeline.check_run_alive()
        if table.num_rows == 0 and name in self._writers:
            return
        writer = self._writers.get(name)
        if writer is None:
            schema = schemas.with_version(self.tables[name], name)
            writer = filesystem.parquet_writer(
                self.work_dir / f"{name}.parquet", schema, **_WRITE_OPTIONS
            )
            self._writers[name] = writer
        writer.write_table(self._conform(table, writer.schema))
        crash_point("shard_writing")

    def _conform(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        if self.batch_id is None or "batch_id" not in schema.names:
            return table.cast(schema)
        batch_ids = pa.array([self.batch_id] * table.num_rows, pa.string())
        columns = [batch_ids if name == "batch_id" else table.column(name) for name in schema.names]
        return pa.Table.from_arrays(columns, schema=schema)

    def commit(self, summary: dict) -> None:
        for name, schema in self.tables.items():
            if name not in self._writers:
                self.write(name, schema.empty_table())
        for writer in self._writers.values():
            writer.close()
        crash_point("shard_before_marker")
        # A worker whose run died must not complete a shard a rerun may be writing.
        lifeline.check_run_alive()
        _write_json(self.work_dir / SUCCESS_MARKER, summary)
        if filesystem.is_object_store(self.final_dir):
            return
        fsync_tree(self.work_dir)
        lifeline.check_run_alive()
        if self.final_dir.exists():
            shutil.rmtree(self.final_dir)
        os.rename(self.work_dir, self.final_dir)

    def abort(self) -> None:
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()
        filesystem.remove_tree(self.work_dir)


def completed_shard(
    shard_dir: Location, tables: dict[str, pa.Schema] = schemas.BATCH_TABLES
) -> dict | None:
    """The summary of a finished shard, or None when it must be (re)computed."""
    marker = shard_dir / SUCCESS_MARKER
    if not marker.is_file():
        return None
    try:
        summary = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if all((shard_dir / f"{name}.parquet").is_file() for name in tables):
        return summary
    return None


def remove_staging(layout: Layout, batch_id: str) -> None:
    """Drop a batch's staging once its shards are published (they serve no retry any more)."""
    staging = layout.staging(batch_id)
    if staging.exists():
        filesystem.remove_tree(staging)


def discard_stale_staging(layout: Layout, batch_id: str) -> int:
    """Under the batch lock: drop half-written shard and publish directories of dead runs.

    Completed shards (with their marker) are kept: a retry reuses them.
    """
    staging = layout.staging(batch_id)
    if not staging.exists():
        return 0
    stale = list(staging.glob("publish-*")) + list(staging.glob("*/*.tmp-*"))
    for path in stale:
        filesystem.remove_tree(path)
    return len(stale)


def write_staged_plan(layout: Layout, batch_id: str, manifest: dict) -> Location:
    """Record the items a run is about to process, so a retry of it processes the same ones."""
    path = layout.staging(batch_id) / STAGED_PLAN
    _write_atomically(path, lambda target: _write_json(target, manifest))
    return path


def read_staged_plan(layout: Layout, batch_id: str) -> dict | None:
    """The items the batch's unfinished run planned, None when there is none. A plan that is
    there but cannot be read raises DamagedRecord: falling back to the published version's
    items would process other items than the run that wrote it, without a word."""
    path = layout.staging(batch_id) / STAGED_PLAN
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise damaged_plan(path, batch_id, err.strerror or str(err)) from err
    try:
        manifest = json.loads(text)
    except ValueError as err:
        raise damaged_plan(path, batch_id, f"not JSON: {err}") from err
    if not is_manifest(manifest) or "items" not in manifest:
        raise damaged_plan(path, batch_id, "no list of items in it")
    return manifest


def is_manifest(value: object) -> bool:
    """Whether `value` has the shape of a batch manifest: lists of items with their sources (a
    batch migrated without its manifest has none)."""
    return isinstance(value, dict) and all(
        isinstance(entries, list)
        and all(isinstance(e, dict) and isinstance(e.get("source_uri"), str) for e in entries)
        for entries in (value.get("items", []), value.get("planning_rejects", []))
    )


def damaged_plan(path: Location, batch_id: str, why: str) -> DamagedRecord:
    return DamagedRecord(
        f"the record of the items of batch {batch_id}, {path}, is damaged ({why}). Remove it "
        f"to rerun the items of the batch's published version (docmill run --batch-id "
        f"{batch_id}), or give the sources again (docmill run SOURCE... --batch-id {batch_id})"
    )


def staged_batches(layout: Layout) -> list[str]:
    root = layout.data_dir / "_staging"
    return sorted(p.parent.name for p in root.glob(f"*/{STAGED_PLAN}")) if root.exists() else []


def _write_atomically(path: Location, write) -> None:
    """Readers see the old file or the new one: locally by writing aside and renaming, in an
    object store because one object write is atomic."""
    if filesystem.is_object_store(path):
        write(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def _write_json(path: Location, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=1, sort_keys=True, default=str))


def fsync_tree(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
