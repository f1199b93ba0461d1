"""Staging, atomic publishing and the on-disk layout of the lake.

```
<data_dir>/lake/batch=<batch_id>/version=<version>/<table>/v<schema>-part-<n>.parquet
<data_dir>/compacted/generation=<generation>/<table>/v<schema>-part-<n>.parquet + batches.parquet
<data_dir>/runs/v<schema>/<run_id>.parquet
<data_dir>/_staging/<batch_id>/prepared/<key>/{prepared,rejects}.parquet + _SUCCESS.json
<data_dir>/_staging/<batch_id>/shards/<shard_key>/<table>.parquet + _SUCCESS.json
<data_dir>/_locks/<batch_id>.lock
```

A shard's outputs become complete by one directory rename (so a `_SUCCESS.json` marker is
only ever seen beside finished files). A batch becomes visible by one more rename: the version
directory holding every table moves into `lake/`. The views read, per batch, only its newest
version, so a reader sees the old batch or the new one, never a mixture and never a partial file.

The data directory may be an object-store prefix (`s3://bucket/prefix`, tasks/storage.py),
which has no rename: there the marker and `_manifest.json` are the last objects written, and a
version without its manifest does not exist for any reader. `warehouse.duckdb`, the report and
the locks always live on the local machine (`Layout.local_dir`).

Every data file's name carries the schema version it was written with (`v2-part-00000.parquet`,
`runs/v2/…`), so the views read each version's files with that version's columns and never
have to open every file's footer to learn them (files from before this naming, `part-*.parquet`
and `runs/*.parquet`, are read by name union). `warehouse/compact.py` merges the current
versions of all batches into one `compacted/` generation; see docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import json
import os
import re
import shutil
import signal
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from docmill.tasks import schemas, storage
from docmill.tasks.storage import Location

BATCH_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SUCCESS_MARKER = "_SUCCESS.json"
MANIFEST = "_manifest.json"
STAGED_PLAN = "plan.json"
_COMPRESSION = "zstd"


class InvalidBatchId(ValueError):
    pass


class BatchBusy(RuntimeError):
    """Another run holds the batch's lock."""


def crash_point(name: str) -> None:
    """Failure injection for the crash-safety tests: `DOCMILL_CRASH_AT=<name>` makes the process
    die right here with SIGKILL, as a killed worker or a lost machine would."""
    if os.environ.get("DOCMILL_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def validate_batch_id(batch_id: str) -> str:
    """Refuse ids that could escape the data directory or break a path or a partition name."""
    if not BATCH_ID_PATTERN.fullmatch(batch_id or "") or ".." in batch_id:
        raise InvalidBatchId(
            f"invalid batch id {batch_id!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no slashes, no '..')"
        )
    return batch_id


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything lives under one data directory (a local path or an object-store
    prefix); the DuckDB file, the report and the locks always live on this machine."""

    data_dir: Location

    @classmethod
    def at(cls, data_dir: str | os.PathLike[str] | Location) -> Layout:
        """The layout of a data directory as a user gives it (path or `s3://bucket/prefix`)."""
        return cls(storage.location(data_dir))

    @property
    def on_object_store(self) -> bool:
        return storage.is_object_store(self.data_dir)

    @property
    def local_dir(self) -> Path:
        return storage.local_state_dir(self.data_dir)

    @property
    def lake(self) -> Location:
        return self.data_dir / "lake"

    @property
    def runs(self) -> Location:
        return self.data_dir / "runs"

    @property
    def warehouse(self) -> Path:
        return self.local_dir / "warehouse.duckdb"

    @property
    def report_dir(self) -> Path:
        return self.local_dir / "report"

    @property
    def compacted(self) -> Location:
        return self.data_dir / "compacted"

    def staging(self, batch_id: str) -> Location:
        return self.data_dir / "_staging" / batch_id

    def shard_dir(self, batch_id: str, shard_key: str) -> Location:
        return self.staging(batch_id) / "shards" / shard_key

    def prepared_dir(self, batch_id: str, shard_key: str) -> Location:
        return self.staging(batch_id) / "prepared" / shard_key

    def batch_dir(self, batch_id: str) -> Location:
        return self.lake / f"batch={batch_id}"

    def lock_file(self, batch_id: str) -> Path:
        return self.local_dir / "_locks" / f"{batch_id}.lock"


def part_file_name(n: int, schema_version: int = schemas.SCHEMA_VERSION) -> str:
    """The name of a batch table's n-th data file, tagged with the schema version it holds."""
    return f"v{schema_version}-part-{n:05d}.parquet"


def runs_version_dir(layout: Layout, schema_version: int = schemas.SCHEMA_VERSION) -> Location:
    return layout.runs / f"v{schema_version}"


def write_parquet(table: pa.Table, path: Location, *, name: str) -> None:
    """Write `table` with docmill's versioned schema metadata (zstd)."""
    schema = schemas.with_version(schemas.ALL_TABLES[name], name)
    storage.write_parquet_file(table.cast(schema), path, compression=_COMPRESSION)


class ShardWriter:
    """Writes one shard's tables, then marks the shard complete with `_SUCCESS.json`.

    Locally the files go to a private directory that one rename completes, so the marker is
    only ever seen beside finished files. An object store has no rename: the files go straight
    to the shard's place, any earlier marker is deleted before the first write, and the marker
    is the last object written (a single object write is atomic).

    Every table gets a file even when it has no rows, so each published version carries all
    tables (the views rely on that to tell an empty new version from a missing one).
    """

    def __init__(
        self, final_dir: Location, tables: dict[str, pa.Schema] = schemas.BATCH_TABLES
    ) -> None:
        self.final_dir = final_dir
        self.tables = tables
        if storage.is_object_store(final_dir):
            (final_dir / SUCCESS_MARKER).unlink(missing_ok=True)
            storage.remove_tree(final_dir)
            self.work_dir = final_dir
        else:
            self.work_dir = final_dir.with_name(
                f"{final_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
            )
            self.work_dir.mkdir(parents=True)
        self._writers: dict[str, pq.ParquetWriter] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if table.num_rows == 0 and name in self._writers:
            return
        writer = self._writers.get(name)
        if writer is None:
            schema = schemas.with_version(self.tables[name], name)
            writer = storage.parquet_writer(
                self.work_dir / f"{name}.parquet", schema, compression=_COMPRESSION
            )
            self._writers[name] = writer
        writer.write_table(table.cast(writer.schema))
        crash_point("shard_writing")

    def commit(self, summary: dict) -> None:
        for name, schema in self.tables.items():
            if name not in self._writers:
                self.write(name, schema.empty_table())
        for writer in self._writers.values():
            writer.close()
        crash_point("shard_before_marker")
        _write_json(self.work_dir / SUCCESS_MARKER, summary)
        if storage.is_object_store(self.final_dir):
            return
        fsync_tree(self.work_dir)
        if self.final_dir.exists():
            shutil.rmtree(self.final_dir)
        os.rename(self.work_dir, self.final_dir)

    def abort(self) -> None:
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()
        storage.remove_tree(self.work_dir)


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


def new_version() -> str:
    """A version string that sorts by publish time, with a random tail against clock ties."""
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]


def version_time(version: str) -> datetime | None:
    try:
        return datetime.strptime(version.split("-", 1)[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def publish_batch(
    layout: Layout, batch_id: str, shard_dirs: Sequence[Location], manifest: dict
) -> str:
    """Make the staged shards of a batch visible at once as a new version; return it.

    Locally the version is assembled beside the lake (hard links) and moved in by one rename.
    In an object store the shard files are copied to the version's place by the server and
    `_manifest.json` is written last: a version without its manifest is not published (the
    views and every reader here skip it) and is removed after the grace period.
    """
    version = new_version()
    if layout.on_object_store:
        return _publish_to_object_store(layout, batch_id, shard_dirs, manifest, version)
    work = layout.staging(batch_id) / f"publish-{version}"
    for name in schemas.BATCH_TABLES:
        table_dir = work / name
        table_dir.mkdir(parents=True)
        for n, shard_dir in enumerate(shard_dirs):
            storage.copy_file(shard_dir / f"{name}.parquet", table_dir / part_file_name(n))
    _write_json(work / MANIFEST, {**manifest, "batch_id": batch_id, "version": version})
    fsync_tree(work)
    crash_point("publish_before_rename")
    target = layout.batch_dir(batch_id) / f"version={version}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(work, target)
    fsync_dir(target.parent)
    crash_point("publish_after_rename")
    return version


def _publish_to_object_store(
    layout: Layout, batch_id: str, shard_dirs: Sequence[Location], manifest: dict, version: str
) -> str:
    target = layout.batch_dir(batch_id) / f"version={version}"
    for name in schemas.BATCH_TABLES:
        for n, shard_dir in enumerate(shard_dirs):
            storage.copy_file(shard_dir / f"{name}.parquet", target / name / part_file_name(n))
    crash_point("publish_before_manifest")
    _write_json(target / MANIFEST, {**manifest, "batch_id": batch_id, "version": version})
    crash_point("publish_after_manifest")
    return version


def batch_versions(layout: Layout, batch_id: str) -> list[str]:
    """Published versions of a batch, oldest first."""
    batch_dir = layout.batch_dir(batch_id)
    if layout.on_object_store:
        manifests = batch_dir.glob(f"version=*/{MANIFEST}")
        return sorted(p.parent.name.split("=", 1)[1] for p in manifests)
    if not batch_dir.is_dir():
        return []
    return sorted(p.name.split("=", 1)[1] for p in batch_dir.glob("version=*") if p.is_dir())


def unpublished_versions(layout: Layout, batch_id: str) -> list[str]:
    """Versions whose publishing never finished (object stores only: there a version's files
    appear before its manifest)."""
    if not layout.on_object_store:
        return []
    published = set(batch_versions(layout, batch_id))
    started = {p.name.split("=", 1)[1] for p in layout.batch_dir(batch_id).glob("version=*")}
    return sorted(started - published)


def latest_manifest(layout: Layout, batch_id: str) -> dict | None:
    versions = batch_versions(layout, batch_id)
    if not versions:
        return None
    path = layout.batch_dir(batch_id) / f"version={versions[-1]}" / MANIFEST
    return json.loads(path.read_text())


def current_version_dirs(layout: Layout) -> dict[str, Location]:
    """Batch id -> directory of its newest published version."""
    if layout.on_object_store:
        newest = {b: versions[-1] for b, versions in _object_store_versions(layout).items()}
    else:
        newest = {}
        for batch_id in published_batches(layout):
            versions = batch_versions(layout, batch_id)
            if versions:
                newest[batch_id] = versions[-1]
    return {b: layout.batch_dir(b) / f"version={v}" for b, v in newest.items()}


def published_batches(layout: Layout) -> list[str]:
    if layout.on_object_store:
        return sorted(_object_store_versions(layout))
    if not layout.lake.is_dir():
        return []
    found = {p.name for p in layout.lake.glob("batch=*") if p.is_dir()}
    return sorted(name.split("=", 1)[1] for name in found if name != "batch=_")


def _object_store_versions(layout: Layout) -> dict[str, list[str]]:
    """Batch id -> its published versions, oldest first, from one listing of the lake."""
    found: dict[str, list[str]] = {}
    for manifest in layout.lake.glob(f"batch=*/version=*/{MANIFEST}"):
        batch_id = manifest.parent.parent.name.split("=", 1)[1]
        found.setdefault(batch_id, []).append(manifest.parent.name.split("=", 1)[1])
    return {batch_id: sorted(versions) for batch_id, versions in found.items()}


def unpublished_batches(layout: Layout) -> list[str]:
    """Batches with versions but none published (object stores only: a first publish that was
    interrupted leaves its copied files)."""
    if not layout.on_object_store:
        return []
    # Versions, not batch prefixes: removing an object store's last version may leave an
    # empty marker object for its batch.
    started = {p.parent.name.split("=", 1)[1] for p in layout.lake.glob("batch=*/version=*")}
    return sorted(started - {"_"} - set(published_batches(layout)))


def collect_garbage(
    layout: Layout, batch_id: str, *, grace_seconds: float, keep_staging: bool = False
) -> list[Location]:
    """Remove versions superseded more than `grace_seconds` ago (readers that listed them
    just before the switch may still be reading) and, unless `keep_staging`, the batch's
    staging (right after a publish it is spent; otherwise it may serve a pending retry).
    In an object store, versions whose publishing was interrupted go too, once as old.

    A version's name holds the time its publishing started. Locally that is when it appeared
    (linking and one rename take moments); in an object store copying can take long, so there
    the time is read from the store: when the newer version's manifest was written, and when an
    unpublished version last received a file (it may still be being copied)."""
    removed: list[Location] = []
    versions = batch_versions(layout, batch_id)
    now = datetime.now(UTC)

    def appeared(version: str, piece: str = MANIFEST) -> datetime | None:
        if not layout.on_object_store:
            return version_time(version)
        path = layout.batch_dir(batch_id) / f"version={version}"
        return storage.modified_at(path / piece if piece else path)

    def older_than_grace(at: datetime | None) -> bool:
        return at is not None and (now - at).total_seconds() >= grace_seconds

    doomed = [
        older for older, newer in itertools.pairwise(versions) if older_than_grace(appeared(newer))
    ]
    doomed += [
        v for v in unpublished_versions(layout, batch_id) if older_than_grace(appeared(v, ""))
    ]
    for version in doomed:
        path = layout.batch_dir(batch_id) / f"version={version}"
        storage.remove_tree(path)
        removed.append(path)
    staging = layout.staging(batch_id)
    if not keep_staging and staging.exists():
        storage.remove_tree(staging)
        removed.append(staging)
    return removed


def discard_stale_staging(layout: Layout, batch_id: str) -> int:
    """Under the batch lock: drop half-written shard and publish directories of dead runs.

    Completed shards (with their marker) are kept: a retry reuses them.
    """
    staging = layout.staging(batch_id)
    if not staging.exists():
        return 0
    stale = list(staging.glob("publish-*")) + list(staging.glob("*/*.tmp-*"))
    for path in stale:
        storage.remove_tree(path)
    return len(stale)


def write_staged_plan(layout: Layout, batch_id: str, manifest: dict) -> Location:
    """Record the items a run is about to process, so a retry of it processes the same ones."""
    path = layout.staging(batch_id) / STAGED_PLAN
    _write_atomically(path, lambda target: _write_json(target, manifest))
    return path


def read_staged_plan(layout: Layout, batch_id: str) -> dict | None:
    path = layout.staging(batch_id) / STAGED_PLAN
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def staged_batches(layout: Layout) -> list[str]:
    root = layout.data_dir / "_staging"
    return sorted(p.parent.name for p in root.glob(f"*/{STAGED_PLAN}")) if root.exists() else []


def batch_is_locked(layout: Layout, batch_id: str) -> bool:
    """Whether a live run holds the batch (a probe; the answer may change right after)."""
    path = layout.lock_file(batch_id)
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def write_run_record(layout: Layout, row: dict) -> Location:
    """Write (or replace) the one-row runs file of a flow run, atomically."""
    path = runs_version_dir(layout) / f"{row['run_id']}.parquet"
    table = pa.Table.from_pylist([row], schema=schemas.RUNS)
    _write_atomically(path, lambda target: write_parquet(table, target, name="runs"))
    return path


def _write_atomically(path: Location, write) -> None:
    """Readers see the old file or the new one: locally by writing aside and renaming, in an
    object store because one object write is atomic."""
    if storage.is_object_store(path):
        write(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


@contextlib.contextmanager
def batch_lock(
    layout: Layout, batch_id: str, *, wait_seconds: float = 0.0, what: str = "batch"
) -> Iterator[None]:
    """Hold an exclusive lock on a batch for the length of a run.

    The kernel releases a flock when its holder dies, so a run killed with SIGKILL never
    leaves a stale lock behind.
    """
    path = layout.lock_file(batch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise BatchBusy(
                        f"{what} {batch_id!r} is being processed by another run ({holder}); "
                        "wait for it to finish, then rerun if needed"
                    ) from None
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now(UTC).isoformat(timespec='seconds')}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


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
