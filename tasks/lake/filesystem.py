"""Where the data directory lives: a local directory (a `pathlib.Path`) or an object-store prefix
(`s3://bucket/prefix`, an `ObjectPath`).

`ObjectPath` offers the part of the `pathlib` interface docmill uses (`/`, `name`, `parent`,
`exists`, `glob`, `read_text`, `write_text`, ...) on top of a pyarrow filesystem, so the store
code reads the same for both; the few operations with no pathlib equivalent, or whose
guarantees differ (removing a tree, copying a file, Parquet reads and writes), are functions here.

Object stores have no directories and no rename: "creating a directory" is a no-op, a
directory exists while some object has its prefix, and a write of one object is atomic (a
reader sees the old object or the new one). The store builds its publish protocol on that last
fact (tasks/lake/staging.py).

Endpoint, region and credentials come from the standard AWS environment variables
(`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`) or docmill's settings (`DOCMILL_S3_ENDPOINT_URL`, `DOCMILL_S3_REGION`),
and are never logged or written into a view.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs
import pyarrow.parquet as pq

OBJECT_STORE_SCHEMES = ("s3",)
_LOOKS_LIKE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/[^/]")


class StorageError(RuntimeError):
    """A data directory that cannot be used as given."""


class DataDirUnusable(StorageError):
    """A local data directory that is a file, or that cannot be written by a command that
    writes; the message names the path and what to do."""


@dataclass(frozen=True, slots=True, order=True)
class ObjectPath:
    """A key (or key prefix) in an object store: `s3://bucket/prefix/...`."""

    scheme: str
    key: str  # "bucket/prefix/..." without a trailing slash, as pyarrow's filesystem takes it
    # What a listing already said this path is, so a glob's results need no request each.
    listed_type: pafs.FileType | None = field(default=None, compare=False, repr=False)

    @property
    def fs(self) -> pafs.FileSystem:
        return object_filesystem(self.scheme)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.key}"

    def __truediv__(self, part: str) -> ObjectPath:
        part = str(part).strip("/")
        return ObjectPath(self.scheme, f"{self.key}/{part}" if part else self.key)

    def joinpath(self, *parts: str) -> ObjectPath:
        path = self
        for part in parts:
            path = path / part
        return path

    def as_posix(self) -> str:
        return str(self)

    def resolve(self) -> ObjectPath:
        return self

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(self.scheme, self.key.rsplit("/", 1)[0]) if "/" in self.key else self

    def with_name(self, name: str) -> ObjectPath:
        return self.parent / name

    def _type(self) -> pafs.FileType:
        if self.listed_type is not None:
            return self.listed_type
        return self.fs.get_file_info(self.key).type

    def exists(self) -> bool:
        return self._type() != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self._type() == pafs.FileType.File

    def is_dir(self) -> bool:
        return self._type() == pafs.FileType.Directory

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: a prefix exists once an object is written under it."""

    def glob(self, pattern: str) -> list[ObjectPath]:
        """Paths under this one matching `pattern`, segment by segment (`*`, `?`, `[...]`;
        no `**`), from one recursive listing."""
        parts = pattern.strip("/").split("/")
        selector = pafs.FileSelector(self.key, allow_not_found=True, recursive=True)
        found = []
        for info in self.fs.get_file_info(selector):
            relative = info.path[len(self.key) + 1 :].split("/")
            if len(relative) == len(parts) and all(
                fnmatch.fnmatchcase(name, part) for name, part in zip(relative, parts, strict=True)
            ):
                found.append(ObjectPath(self.scheme, info.path, info.type))
        return sorted(found, key=str)

    def read_bytes(self) -> bytes:
        try:
            with self.fs.open_input_stream(self.key) as stream:
                return stream.read()
        except FileNotFoundError:
            raise
        except OSError as err:
            if not self.exists():
                raise FileNotFoundError(str(self)) from err
            raise

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        with self.fs.open_output_stream(self.key) as stream:
            stream.write(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.delete_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise


Location = Path | ObjectPath


def location(data_dir: str | os.PathLike[str] | ObjectPath) -> Location:
    """A data directory as given by a user: a local path (made absolute) or `s3://bucket/prefix`."""
    if isinstance(data_dir, ObjectPath):
        return data_dir
    text = os.fspath(data_dir)
    scheme, sep, rest = text.partition("://")
    if not sep:
        if _LOOKS_LIKE_URI.match(text):
            raise StorageError(
                f"data directory {text!r}: did you mean {text.replace(':/', '://', 1)}?"
            )
        return Path(text).expanduser().resolve()
    scheme = scheme.lower()
    if scheme == "file":
        return Path(rest).resolve()
    if scheme not in OBJECT_STORE_SCHEMES:
        raise StorageError(
            f"unsupported data directory {text!r}: use a local path or s3://bucket/prefix"
        )
    key = rest.strip("/")
    if not key or key.startswith("/"):
        raise StorageError(f"data directory {text!r} names no bucket: use s3://bucket/prefix")
    return ObjectPath(scheme, key)


def check_usable(data_dir: Location, *, writing: bool) -> None:
    """Fail with one line, before any work, when a local data directory cannot be used: it (or
    a folder above it) is a file, or, for a command that writes, nothing can be created in it
    (a read-only mount, permissions)."""
    if not isinstance(data_dir, Path):
        return
    existing = data_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise DataDirUnusable(
            f"the data directory {data_dir} is a file, not a folder: give --data-dir (or "
            "DOCMILL_DATA_DIR) a folder, new or holding a lake"
            if existing == data_dir
            else f"{existing} is a file, so the data directory {data_dir} cannot be made "
            "under it: give --data-dir (or DOCMILL_DATA_DIR) a folder"
        )
    problem = write_problem(existing) if writing else None
    if problem:
        raise DataDirUnusable(
            f"cannot write in {existing} ({problem}), and this command writes to the data "
            f"directory{'' if existing == data_dir else f' {data_dir}'}: make it writable for "
            "this user, or copy the data directory somewhere writable and pass that as --data-dir"
        )


def write_problem(folder: Path) -> str | None:
    """Why no file can be created in `folder` (a read-only file system, a permission), or None.
    Found by trying: permission bits say nothing of mounts, capabilities or ACLs."""
    try:
        with tempfile.NamedTemporaryFile(prefix=".docmill-write-probe-", dir=folder):
            return None
    except OSError as err:
        return err.strerror or type(err).__name__


def check_reachable(path: Location) -> None:
    """Fail early, and say why, when an object-store data directory cannot be used: a missing
    bucket or refused credentials otherwise surface as the first failed write, deep in a run."""
    if not isinstance(path, ObjectPath):
        return
    bucket = path.key.split("/", 1)[0]
    endpoint = endpoint_url() or "AWS"
    try:
        info = path.fs.get_file_info(bucket)
    except OSError as err:
        raise StorageError(f"cannot reach {path.scheme}://{bucket} at {endpoint}: {err}") from err
    if info.type == pafs.FileType.NotFound:
        raise StorageError(
            f"bucket {bucket!r} does not exist at {endpoint}, or these credentials cannot see "
            "it; create it (or fix AWS_ENDPOINT_URL and the credentials) and run again"
        )


def is_object_store(path: Location) -> bool:
    return isinstance(path, ObjectPath)


def local_state_dir(data_dir: Location) -> Path:
    """Where the machine-local state of a data directory lives (the DuckDB warehouse file, the
    report, batch locks): the data directory itself when it is local; for an object store,
    <root>/<scheme>/<bucket>/<prefix> with root DOCMILL_LOCAL_DIR, else ~/.cache/docmill (one
    directory per prefix, so two prefixes never share a warehouse file or a lock)."""
    if isinstance(data_dir, Path):
        return data_dir
    configured = os.environ.get("DOCMILL_LOCAL_DIR")
    if configured:
        root = Path(configured).expanduser().resolve()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "docmill"
    return root / data_dir.scheme / data_dir.key


def configure_object_store(endpoint: str | None, region: str | None) -> None:
    """Apply docmill's S3 settings as the standard variables, so worker processes started
    afterwards (and DuckDB) use the same endpoint and region."""
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    if region:
        os.environ["AWS_REGION"] = region
    object_filesystem.cache_clear()


def endpoint_url() -> str | None:
    """The S3 endpoint from the environment (AWS's variables), checked: http(s)://host[:port]."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if "@" in parts.netloc:
        raise StorageError(
            "put S3 credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not in the "
            "endpoint URL"
        )
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StorageError(
            f"S3 endpoint {endpoint!r} is not http(s)://host[:port]; set AWS_ENDPOINT_URL (or "
            "DOCMILL_S3_ENDPOINT_URL) to e.g. https://minio.internal:9000"
        )
    return endpoint


@functools.cache
def object_filesystem(scheme: str) -> pafs.FileSystem:
    if scheme != "s3":
        raise StorageError(f"unsupported object store {scheme!r}")
    endpoint = endpoint_url()
    options: dict = {}
    if endpoint:
        parts = urlsplit(endpoint)
        options["endpoint_override"] = parts.netloc
        options["scheme"] = parts.scheme
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    return pafs.S3FileSystem(**options)


def arrow_target(path: Location) -> tuple[str, pafs.FileSystem | None]:
    """`path` as pyarrow's readers and writers take it: (path, filesystem)."""
    if isinstance(path, ObjectPath):
        return path.key, path.fs
    return str(path), None


def read_parquet(path: Location, **kwargs):
    where, fs = arrow_target(path)
    return pq.read_table(where, filesystem=fs, **kwargs)


def write_parquet_file(table, path: Location, **kwargs) -> None:
    where, fs = arrow_target(path)
    pq.write_table(table, where, filesystem=fs, **kwargs)


def parquet_writer(path: Location, schema, **kwargs) -> pq.ParquetWriter:
    where, fs = arrow_target(path)
    return pq.ParquetWriter(where, schema, filesystem=fs, **kwargs)


def walk_files(root: Location) -> list[str]:
    """Every file under `root`, as paths relative to it ('a/b/c.parquet'), from one listing."""
    if isinstance(root, ObjectPath):
        selector = pafs.FileSelector(root.key, allow_not_found=True, recursive=True)
        return [
            info.path[len(root.key) + 1 :]
            for info in root.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        ]
    found = []
    for dirpath, _dirnames, filenames in os.walk(root):
        relative = os.path.relpath(dirpath, root)
        prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        found.extend(prefix + name for name in filenames)
    return found


def remove_tree(path: Location) -> None:
    """Remove a directory (or every object under a prefix); missing is fine."""
    if isinstance(path, ObjectPath):
        with contextlib.suppress(FileNotFoundError):
            path.fs.delete_dir(path.key)
        return
    shutil.rmtree(path, ignore_errors=True)


def copy_file(source: Location, target: Location) -> None:
    """Copy a file: a hard link locally where possible, a server-side copy in an object store."""
    if isinstance(source, ObjectPath) and isinstance(target, ObjectPath):
        source.fs.copy_file(source.key, target.key)
        return
    if isinstance(source, ObjectPath) or isinstance(target, ObjectPath):
        raise StorageError(f"cannot copy between {source} and {target}")
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
