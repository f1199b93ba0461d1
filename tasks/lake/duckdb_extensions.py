"""DuckDB extensions docmill needs, loaded from the package registry's binaries.

The lake is DuckLake (extension `ducklake`) over a SQLite or PostgreSQL catalog (`sqlite_scanner`,
`postgres_scanner`), with data files on local disk or S3 (`httpfs`). DuckDB normally downloads
extensions on first use; where it cannot (this machine, CI, many servers), the registry carries
each as a package (`duckdb-extension-ducklake`, ...) holding the binary for one DuckDB release,
which is why `duckdb` is pinned to that release. docmill loads those files by path and falls
back to `INSTALL`/`LOAD` by name when a package is missing or built for another DuckDB.

Loading a binary by path makes DuckDB verify its signature: about 0.25 s per extension on every
new connection, which would double the time of a one-line `docmill sql`. docmill's own
connections skip that check for the binaries of these packages, which pip installed beside the
`duckdb` package itself and which deserve the same trust; connections that run a user's SQL
refuse `LOAD`, disable extension loading and lock their configuration (warehouse/sql_guard.py),
so no other binary gets in.

S3 credentials are handed to DuckDB as a temporary secret built from the standard AWS variables
at connect time; they are never stored in the catalog.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from docmill.tasks.lake.filesystem import StorageError, endpoint_url

# extension name -> the registry package that carries its binary
PACKAGES = {
    "ducklake": "duckdb_extension_ducklake",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "httpfs": "duckdb_extension_httpfs",
}
# Where the registry's packages come from; the fallback names DuckDB uses for `INSTALL`.
REGISTRY_NAMES = {name: package.replace("_", "-") for name, package in PACKAGES.items()}
SECRET_NAME = "docmill_s3"
# What docmill's own connections need set before an extension is loaded.
CONNECTION_CONFIG = {"allow_unsigned_extensions": True, "autoinstall_known_extensions": False}


class ExtensionMissing(StorageError):
    """A DuckDB extension docmill needs is neither packaged for this DuckDB nor installable."""


def packaged_binary(name: str) -> Path | None:
    """The binary of extension `name` from its registry package, if it fits this DuckDB."""
    spec = importlib.util.find_spec(PACKAGES[name])
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    binary = root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    return binary if binary.is_file() else None


def load(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load extension `name` into `con`: the packaged binary, else DuckDB's own repository."""
    binary = packaged_binary(name)
    try:
        if binary is not None:
            con.execute(f"load '{_quote(binary.as_posix())}'")
            return
        con.execute(f"install {name}")
        con.execute(f"load {name}")
    except duckdb.Error as err:
        raise ExtensionMissing(
            f"DuckDB {duckdb.__version__} has no usable {name} extension: the package "
            f"{REGISTRY_NAMES[name]}=={duckdb.__version__} is not installed (pip install "
            f"{REGISTRY_NAMES[name]}=={duckdb.__version__}) and DuckDB could not download it. "
            f"DuckDB said: {err}"
        ) from err


def new_connection(database: str = ":memory:", **options) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection ready to load the packaged extensions quickly."""
    config = {**CONNECTION_CONFIG, **options.pop("config", {})}
    return duckdb.connect(database, config=config, **options)


def load_s3(con: duckdb.DuckDBPyConnection) -> None:
    """Make `con` able to read and write s3:// paths with the environment's credentials."""
    load(con, "httpfs")
    con.execute(s3_secret_sql())


def s3_secret_sql() -> str:
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
