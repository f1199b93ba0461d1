"""How the views find the Parquet files: one generated view per stored table in schema `lake`.

`lake.<table>` holds the rows of the current version of every batch, wherever they are stored:
loose files under `lake/batch=*/version=*/` or a generation under `compacted/`. The
hand-written views in `warehouse/*.sql` read only these (and each other), never a file.

Schema evolution without footer reads: every file name carries the schema version it was
written with (`v2-part-00000.parquet`). For each version present the scan reads that version's
files on their own, binding from one file (DuckDB opens the others only to read their rows,
and not at all when a partition filter excludes them); the versions are combined with
`union all by name`, so a column an older version lacks reads as NULL. Only files written
before versioned names (`part-*.parquet`) are read with `union_by_name`, which opens every
footer; compaction rewrites them.

Each glob must match at least one file, so every version a scan names has a zero-row
placeholder file (in `batch=_/version=_`, `generation=0` and `runs/v<k>/`) with that version's
columns; the current version's placeholder also guarantees every current column exists.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from docmill.tasks import schemas, storage
from docmill.tasks.storage import Location
from docmill.tasks.store import Layout, part_file_name, runs_version_dir

LAKE_SCHEMA = "lake"
PLACEHOLDER_PARTITION = ("batch=_", "version=_")
PLACEHOLDER_GENERATION = "0"  # holds no batches; sorts below every real (timestamp) one
PLACEHOLDER_NAME = "_placeholder.parquet"
COMPACTED_BATCHES = "batches.parquet"
LEGACY_PART = "part-0.parquet"

# Tables the views read; `signatures` is the near-duplicate index, read by the pipeline only.
VIEW_TABLES: tuple[str, ...] = tuple(t for t in schemas.BATCH_TABLES if t != "signatures")

_VERSIONED = re.compile(r"v(\d+)-.*\.parquet")
_LAKE_HIVE = "hive_partitioning = true, hive_types = {'batch': varchar, 'version': varchar}"
_COMPACTED_HIVE = "hive_partitioning = true, hive_types = {'generation': varchar}"
_SQL_DIR = Path(__file__).resolve().parent


def compacted_batches_schema() -> pa.Schema:
    return pa.schema([("batch", pa.string()), ("version", pa.string())])


@dataclass
class FilesFound:
    """Schema versions present in one table's files: version -> one file of it; and a file
    from before versioned names, if any."""

    versions: dict[int, Location] = dataclasses.field(default_factory=dict)
    legacy: Location | None = None

    def scan_versions(self, *, with_current: bool = True) -> list[int]:
        """The versions a scan reads, newest first; the current one always when `with_current`
        (its placeholder guarantees a file)."""
        present = set(self.versions) | ({schemas.SCHEMA_VERSION} if with_current else set())
        return sorted(present, reverse=True)


def _note(found: FilesFound, path: Location) -> None:
    """Record one stored Parquet file of a table."""
    match = _VERSIONED.fullmatch(path.name)
    if match:
        found.versions.setdefault(int(match.group(1)), path)
    elif found.legacy is None:
        found.legacy = path


@dataclass
class StoredFiles:
    """What one walk of the data directory found: per table, the schema versions of its loose
    and compacted files, and those of the run records."""

    lake: dict[str, FilesFound]
    compacted: dict[str, FilesFound]
    runs: FilesFound


def stored_files(layout: Layout) -> StoredFiles:
    """One listing each of lake/, compacted/ and runs/ (in an object store, one request per
    thousand files rather than one per directory)."""
    files = StoredFiles(
        lake={t: FilesFound() for t in VIEW_TABLES},
        compacted={t: FilesFound() for t in VIEW_TABLES},
        runs=find_run_files(layout),
    )
    for relative in storage.walk_files(layout.lake):
        parts = relative.split("/")
        if (
            len(parts) == 4
            and parts[0].startswith("batch=")
            and parts[1].startswith("version=")
            and parts[2] in files.lake
            and parts[3].endswith(".parquet")
        ):
            _note(files.lake[parts[2]], layout.lake / relative)
    for relative in storage.walk_files(layout.compacted):
        parts = relative.split("/")
        if (
            len(parts) == 3
            and parts[0].startswith("generation=")
            and parts[1] in files.compacted
            and parts[2].endswith(".parquet")
        ):
            _note(files.compacted[parts[1]], layout.compacted / relative)
    return files


def generations(layout: Layout) -> list[str]:
    """Published compacted generations, oldest first (not the placeholder)."""
    if not layout.compacted.is_dir():
        return []
    names = (p.name.split("=", 1)[1] for p in layout.compacted.glob("generation=*") if p.is_dir())
    return sorted(name for name in names if name != PLACEHOLDER_GENERATION)


def generation_dir(layout: Layout, generation: str) -> Location:
    return layout.compacted / f"generation={generation}"


def find_run_files(layout: Layout) -> FilesFound:
    found = FilesFound()
    for relative in sorted(storage.walk_files(layout.runs)):
        parts = relative.split("/")
        if not parts[-1].endswith(".parquet"):
            continue
        if len(parts) == 2 and re.fullmatch(r"v\d+", parts[0]):
            found.versions.setdefault(int(parts[0][1:]), layout.runs / relative)
        elif len(parts) == 1 and found.legacy is None:
            found.legacy = layout.runs / relative
    return found


def compacted_schema(table: str) -> pa.Schema:
    """A compacted table: the batch table's columns plus the batch and version its rows
    belong to (loose files carry these in their path)."""
    base = schemas.BATCH_TABLES[table]
    return schemas.with_version(
        base.append(pa.field("batch", pa.string())).append(pa.field("version", pa.string())),
        table,
    )


def _placeholder_targets(layout: Layout) -> dict[Location, pa.Schema | Location]:
    """Placeholder path -> its schema (current version) or a file whose schema it copies."""
    files = stored_files(layout)
    targets: dict[Location, pa.Schema | Location] = {}
    lake_placeholders = layout.lake.joinpath(*PLACEHOLDER_PARTITION)
    compacted_placeholders = generation_dir(layout, PLACEHOLDER_GENERATION)
    for table, schema in schemas.BATCH_TABLES.items():
        if table not in VIEW_TABLES:
            continue
        lake = files.lake[table]
        targets[lake_placeholders / table / part_file_name(0)] = schemas.with_version(schema, table)
        for version, example in lake.versions.items():
            if version != schemas.SCHEMA_VERSION:
                targets[lake_placeholders / table / part_file_name(0, version)] = example
        if lake.legacy is not None:
            targets[lake_placeholders / table / LEGACY_PART] = lake.legacy
        compacted = files.compacted[table]
        targets[compacted_placeholders / table / part_file_name(0)] = compacted_schema(table)
        for version, example in compacted.versions.items():
            if version != schemas.SCHEMA_VERSION:
                targets[compacted_placeholders / table / part_file_name(0, version)] = example
    targets[compacted_placeholders / COMPACTED_BATCHES] = compacted_batches_schema()
    runs = files.runs
    targets[runs_version_dir(layout) / PLACEHOLDER_NAME] = schemas.with_version(
        schemas.RUNS, "runs"
    )
    for version, example in runs.versions.items():
        if version != schemas.SCHEMA_VERSION:
            targets[runs_version_dir(layout, version) / PLACEHOLDER_NAME] = example
    if runs.legacy is not None:
        targets[layout.runs / PLACEHOLDER_NAME] = runs.legacy
    return targets


def write_placeholders(layout: Layout) -> list[Location]:
    """Write the zero-row files every scan needs; return those written (up-to-date ones stay)."""
    written = []
    for path, source in _placeholder_targets(layout).items():
        if isinstance(source, pa.Schema):
            schema = source
            if _has_columns(path, schema):
                continue
        else:
            if path.exists():
                continue
            schema = storage.read_parquet_schema(source)
        if storage.is_object_store(path):
            # One object write is atomic: a reader sees no file or the whole one.
            storage.write_parquet_file(schema.empty_table(), path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write aside and rename so a concurrent reader never sees a half-written file.
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            storage.write_parquet_file(schema.empty_table(), tmp)
            os.replace(tmp, path)
        written.append(path)
    return written


def placeholders_present(layout: Layout) -> bool:
    for path, source in _placeholder_targets(layout).items():
        if isinstance(source, pa.Schema):
            if not _has_columns(path, source):
                return False
        elif not path.exists():
            return False
    return True


def _has_columns(path: Location, schema: pa.Schema) -> bool:
    try:
        return storage.read_parquet_schema(path).names == schema.names
    except (OSError, ValueError):
        return False


def sql_path(path: Location) -> str:
    """A path as it may stand inside a single-quoted SQL string."""
    return path.as_posix().replace("'", "''")


def _union(selects: list[str]) -> str:
    return "\nunion all by name\n".join(selects)


def _table_scan(
    directories: str, found: FilesFound, options: str, *, with_current: bool = True
) -> str:
    selects = [
        f"select * from read_parquet('{directories}/v{version}-*.parquet', {options})"
        for version in found.scan_versions(with_current=with_current)
    ]
    if found.legacy is not None:
        selects.append(
            f"select * from read_parquet('{directories}/part-*.parquet', {options}, "
            "union_by_name = true)"
        )
    return _union(selects)


# A local version appears whole, by one rename. In an object store its files are copied one by
# one and its manifest is written last, so only versions with a manifest are published. And
# one query lists the data files (when it binds) before it lists the manifests (when it runs):
# a manifest landing in between would make a version current whose files the query only partly
# listed. So a manifest counts once it is older than the query by a settle time (above the
# listing's one-second timestamps and any clock skew): every file it covers was then already
# listed. Only the listing's timestamp is read, no manifest content.
_PUBLISHED_ONLY = """where partition_of in (
        select regexp_extract(filename, 'batch=([^/]+)/version=([^/]+)/', ['batch', 'version'])
        from read_blob('{lake}/batch=*/version=*/_manifest.json')
        where last_modified <= now() - to_seconds({settle_seconds})
    )"""


def lake_view_sql(layout: Layout, table: str, files: StoredFiles) -> str:
    """The body of `lake.<table>`: the current version's rows of every batch."""
    lake = sql_path(layout.lake)
    compacted = sql_path(layout.compacted)
    replacements = {
        "{loose_scan}": _table_scan(
            f"{lake}/batch=*/version=*/{table}", files.lake[table], _LAKE_HIVE
        ),
        "{compacted_scan}": _table_scan(
            f"{compacted}/generation=*/{table}",
            files.compacted[table],
            _COMPACTED_HIVE,
        ),
        "{published_only}": _PUBLISHED_ONLY if layout.on_object_store else "",
        "{settle_seconds}": f"{storage.publish_settle_seconds():g}",
        "{table}": table,
        "{lake}": lake,
        "{compacted}": compacted,
    }
    template = (_SQL_DIR / "lake_table.sql").read_text(encoding="utf-8")
    for key, value in replacements.items():
        template = template.replace(key, value)
    return template.strip().rstrip(";")


def runs_view_sql(layout: Layout, files: StoredFiles) -> str:
    """The body of `lake.runs`: every run record, whatever schema version wrote it."""
    runs = sql_path(layout.runs)
    found = files.runs
    selects = [
        f"select * from read_parquet('{runs}/v{version}/*.parquet', hive_partitioning = false)"
        for version in found.scan_versions()
    ]
    if found.legacy is not None:
        selects.append(
            f"select * from read_parquet('{runs}/*.parquet', hive_partitioning = false, "
            "union_by_name = true)"
        )
    return _union(selects)


def lake_ddl(layout: Layout) -> list[str]:
    """The schema `lake` and its views, one per stored table, plus `lake.runs`."""
    files = stored_files(layout)
    statements = [f'create schema if not exists "{LAKE_SCHEMA}"']
    statements += [
        f'create or replace view "{LAKE_SCHEMA}"."{table}" as\n'
        f"{lake_view_sql(layout, table, files)}"
        for table in VIEW_TABLES
    ]
    statements.append(
        f'create or replace view "{LAKE_SCHEMA}"."runs" as\n{runs_view_sql(layout, files)}'
    )
    return statements


def lake_view_names() -> tuple[str, ...]:
    return (*VIEW_TABLES, "runs")
