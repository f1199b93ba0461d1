"""`docmill shell`: the DuckDB CLI of the pinned release with the lake attached read-only.

The statements are the ones any DuckDB client of that release can run itself
(`docmill shell --print-sql` prints them): load the packaged extensions, attach the catalog as
`docmill` read-only with its data path, and make it the current database so the views answer
by their names.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb

from docmill.tasks.lake import duckdb_extensions
from docmill.tasks.lake.catalog import ALIAS
from docmill.tasks.lake.filesystem import Location
from docmill.tasks.lake.layout import Layout


class ShellMissing(RuntimeError):
    """No DuckDB CLI of the release docmill's extensions are built for."""


def shell_statements(
    data_dir: Location,
    *,
    snapshot_version: int | None = None,
    snapshot_time: datetime | str | None = None,
) -> list[str]:
    target = Layout(data_dir).catalog
    scanner = "sqlite_scanner" if target.kind == "sqlite" else "postgres_scanner"
    statements = [_load(name) for name in ("ducklake", scanner)]
    if target.data_path.startswith("s3://"):
        statements += [_load("httpfs"), duckdb_extensions.s3_secret_sql()]
    statements.append(
        target.attach_sql(
            read_only=True, snapshot_version=snapshot_version, snapshot_time=snapshot_time
        )
    )
    statements.append(f"use {ALIAS}")
    return statements


def _load(name: str) -> str:
    binary = duckdb_extensions.packaged_binary(name)
    if binary is None:
        return f"install {name}; load {name}"
    return f"load '{binary.as_posix()}'"


def duckdb_cli() -> str:
    """The DuckDB CLI beside this Python (the duckdb-cli package), else on PATH, if it is the
    release of the Python package (the extension binaries fit only that one)."""
    beside = Path(sys.executable).with_name("duckdb")
    cli = str(beside) if beside.exists() else shutil.which("duckdb")
    wanted = f"duckdb-cli=={duckdb.__version__}"
    if cli is None:
        raise ShellMissing(f"no DuckDB CLI found; install it with `pip install {wanted}`")
    done = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=30)
    version = (done.stdout.split() or [""])[0].lstrip("v")
    if version != duckdb.__version__:
        raise ShellMissing(
            f"{cli} is DuckDB {version or 'of an unknown release'}, but the lake's extensions "
            f"are built for {duckdb.__version__}: `pip install {wanted}`"
        )
    return cli


def shell_command(statements: list[str]) -> list[str]:
    command = [duckdb_cli()]
    for statement in statements:
        command += ["-cmd", f"{statement};"]
    return command
