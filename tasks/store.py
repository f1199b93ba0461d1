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

from docmill.tasks import schemas

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
    """Where everything lives under one data directory."""

    data_dir: Path

    @property
    def lake(self) -> Path:
        return self.data_dir / "lake"

    @property
    def runs(self) -> Path:
        return self.data_dir / "runs"

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def compacted(self) -> Path:
        return self.data_dir / "compacted"

    def staging(self, batch_id: str) -> Path:
        return self.data_dir / "_staging" / batch_id

    def shard_dir(self, batch_id: str, shard_key: str) -> Path:
        return self.staging(batch_id) / "shards" / shard_key

    def prepared_dir(self, batch_id: str, shard_key: str) -> Path:
        return self.staging(batch_id) / "prepared" / shard_key

    def batch_dir(self, batch_id: str) -> Path:
        return self.lake / f"batch={batch_id}"

    def lock_file(self, batch_id: str) -> Path:
        return self.data_dir / "_locks" / f"{batch_id}.lock"


def part_file_name(n: int, schema_version: int = schemas.SCHEMA_VERSION) -> str:
    """The name of a batch table's n-th data file, tagged with the schema version it holds."""
    return f"v{schema_version}-part-{n:05d}.parquet"


def runs_version_dir(layout: Layout, schema_version: int = schemas.SCHEMA_VERSION) -> Path:
    return layout.runs / f"v{schema_version}"


def write_parquet(table: pa.Table, path: Path, *, name: str) -> None:
    """Write `table` with docmill's versioned schema metadata (zstd)."""
    schema = schemas.with_version(schemas.ALL_TABLES[name], name)
    pq.write_table(table.cast(schema), path, compression=_COMPRESSION)


class ShardWriter:
    """Writes one shard's tables into a private directory, then completes it by renaming.

    Every table gets a file even when it has no rows, so each published version carries all
    tables (the views rely on that to tell an empty new version from a missing one).
    """

    def __init__(
        self, final_dir: Path, tables: dict[str, pa.Schema] = schemas.BATCH_TABLES
    ) -> None:
        self.final_dir = final_dir
        self.tables = tables
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
            writer = pq.ParquetWriter(
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
        _write_json(self.work_dir / SUCCESS_MARKER, summary)
        fsync_tree(self.work_dir)
        if self.final_dir.exists():
            shutil.rmtree(self.final_dir)
        os.rename(self.work_dir, self.final_dir)

    def abort(self) -> None:
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)


def completed_shard(
    shard_dir: Path, tables: dict[str, pa.Schema] = schemas.BATCH_TABLES
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


def publish_batch(layout: Layout, batch_id: str, shard_dirs: Sequence[Path], manifest: dict) -> str:
    """Make the staged shards of a batch visible at once as a new version; return it."""
    version = new_version()
    work = layout.staging(batch_id) / f"publish-{version}"
    for name in schemas.BATCH_TABLES:
        table_dir = work / name
        table_dir.mkdir(parents=True)
        for n, shard_dir in enumerate(shard_dirs):
            _link_or_copy(shard_dir / f"{name}.parquet", table_dir / part_file_name(n))
    _write_json(work / MANIFEST, {**manifest, "batch_id": batch_id, "version": version})
    fsync_tree(work)
    crash_point("publish_before_rename")
    target = layout.batch_dir(batch_id) / f"version={version}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(work, target)
    fsync_dir(target.parent)
    crash_point("publish_after_rename")
    return version


def batch_versions(layout: Layout, batch_id: str) -> list[str]:
    """Published versions of a batch, oldest first."""
    batch_dir = layout.batch_dir(batch_id)
    if not batch_dir.is_dir():
        return []
    return sorted(p.name.split("=", 1)[1] for p in batch_dir.glob("version=*") if p.is_dir())


def latest_manifest(layout: Layout, batch_id: str) -> dict | None:
    versions = batch_versions(layout, batch_id)
    if not versions:
        return None
    path = layout.batch_dir(batch_id) / f"version={versions[-1]}" / MANIFEST
    return json.loads(path.read_text())


def current_version_dirs(layout: Layout) -> dict[str, Path]:
    """Batch id -> directory of its newest published version."""
    found: dict[str, Path] = {}
    for batch_id in published_batches(layout):
        versions = batch_versions(layout, batch_id)
        if versions:
            found[batch_id] = layout.batch_dir(batch_id) / f"version={versions[-1]}"
    return found


def published_batches(layout: Layout) -> list[str]:
    if not layout.lake.is_dir():
        return []
    return sorted(
        p.name.split("=", 1)[1]
        for p in layout.lake.glob("batch=*")
        if p.is_dir() and p.name != "batch=_"
    )


def collect_garbage(
    layout: Layout, batch_id: str, *, grace_seconds: float, keep_staging: bool = False
) -> list[Path]:
    """Remove versions superseded more than `grace_seconds` ago (readers that listed them
    just before the switch may still be reading) and, unless `keep_staging`, the batch's
    staging (right after a publish it is spent; otherwise it may serve a pending retry)."""
    removed: list[Path] = []
    versions = batch_versions(layout, batch_id)
    now = datetime.now(UTC)
    for older, newer in itertools.pairwise(versions):
        superseded_at = version_time(newer)
        if superseded_at and (now - superseded_at).total_seconds() >= grace_seconds:
            path = layout.batch_dir(batch_id) / f"version={older}"
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    staging = layout.staging(batch_id)
    if not keep_staging and staging.exists():
        shutil.rmtree(staging, ignore_errors=True)
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
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


def write_staged_plan(layout: Layout, batch_id: str, manifest: dict) -> Path:
    """Record the items a run is about to process, so a retry of it processes the same ones."""
    path = layout.staging(batch_id) / STAGED_PLAN
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    _write_json(tmp, manifest)
    os.replace(tmp, path)
    return path


def read_staged_plan(layout: Layout, batch_id: str) -> dict | None:
    path = layout.staging(batch_id) / STAGED_PLAN
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def staged_batches(layout: Layout) -> list[str]:
    root = layout.data_dir / "_staging"
    return sorted(p.parent.name for p in root.glob(f"*/{STAGED_PLAN}")) if root.is_dir() else []


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


def write_run_record(layout: Layout, row: dict) -> Path:
    """Write (or replace) the one-row runs file of a flow run, atomically."""
    runs_dir = runs_version_dir(layout)
    runs_dir.mkdir(parents=True, exist_ok=True)
    path = runs_dir / f"{row['run_id']}.parquet"
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    write_parquet(pa.Table.from_pylist([row], schema=schemas.RUNS), tmp, name="runs")
    os.replace(tmp, path)
    return path


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


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write_json(path: Path, payload: dict) -> None:
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
