"""DuckDB connections that read a data directory in an object store (`s3://bucket/prefix`).

DuckDB reads S3 through its httpfs extension. DuckDB normally downloads extensions on first
use; where it cannot (an offline machine, or this project's CI), the extension comes from the
package registry as `duckdb-extension-httpfs` (the `s3` extra), which carries the binary for
one DuckDB release: docmill loads that file when its version matches the installed DuckDB.

Credentials are handed to DuckDB as a temporary secret built from the standard AWS variables at
connect time; they are never stored in `warehouse.duckdb` (its views hold only s3:// paths).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from docmill.tasks.storage import Location, StorageError, endpoint_url, is_object_store

SECRET_NAME = "docmill_s3"


def connect(database: str, data_dir: Location, **options) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect(database, **options)`, made able to read `data_dir`; closed again when
    that fails."""
    con = duckdb.connect(database, **options)
    try:
        prepare_connection(con, data_dir)
    except BaseException:
        con.close()
        raise
    return con


def prepare_connection(con: duckdb.DuckDBPyConnection, data_dir: Location) -> None:
    """Make `con` able to read `data_dir` (nothing to do for a local directory)."""
    if not is_object_store(data_dir):
        return
    load_httpfs(con)
    con.execute(secret_sql())


def packaged_httpfs() -> Path | None:
    """The httpfs binary of the `duckdb-extension-httpfs` package, if it fits this DuckDB."""
    spec = importlib.util.find_spec("duckdb_extension_httpfs")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    binary = root / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    return binary if binary.is_file() else None


def load_httpfs(con: duckdb.DuckDBPyConnection) -> None:
    binary = packaged_httpfs()
    try:
        con.execute(f"load '{binary.as_posix()}'" if binary else "load httpfs")
    except duckdb.Error as err:
        raise StorageError(
            f"DuckDB {duckdb.__version__} cannot read s3:// paths: its httpfs extension is not "
            "installed and could not be loaded or downloaded. Install it where DuckDB can reach "
            "its extension repository (`INSTALL httpfs`), or install docmill's `s3` extra, "
            "which takes httpfs from the package registry and pins the DuckDB release it fits. "
            f"DuckDB said: {err}"
        ) from err


def secret_sql() -> str:
    """A temporary S3 secret from the standard AWS variables (missing ones stay unset)."""
    options = {"type": "s3"}
    env = os.environ
    for option, names in (
        ("key_id", ("AWS_ACCESS_KEY_ID",)),
        ("secret", ("AWS_SECRET_ACCESS_KEY",)),
        ("session_token", ("AWS_SESSION_TOKEN",)),
        ("region", ("AWS_REGION", "AWS_DEFAULT_REGION")),
    ):
        value = next((env[name] for name in names if env.get(name)), None)
        if value:
            options[option] = value
    endpoint = endpoint_url()
    if endpoint:
        parts = urlsplit(endpoint)
        options["endpoint"] = parts.netloc
        options["use_ssl"] = "false" if parts.scheme == "http" else "true"
        # S3-compatible servers (MinIO, Ceph, moto) address buckets by path, as pyarrow does.
        options["url_style"] = "path"
    body = ", ".join(
        f"{key} {value}" if key == "use_ssl" else f"{key} '{_quote(value)}'"
        for key, value in options.items()
    )
    return f"create or replace temporary secret {SECRET_NAME} ({body})"


def _quote(value: str) -> str:
    return value.replace("'", "''")
