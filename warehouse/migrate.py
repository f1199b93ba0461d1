"""`docmill migrate`: a data directory written before the catalog, moved into it.

The earlier layout kept each batch's versions as directories (`lake/batch=<id>/version=<v>/`,
each with every table and `_manifest.json`), copies of current versions in compacted
generations (`compacted/generation=<g>/<table>/` + `batches.parquet`), and one file per run
(`runs/v<k>/<run_id>.parquet`). A batch's current version was its newest in either place.

Migration publishes each batch's current version as it would be published now (same version
string, same manifest; every row gets its `batch_id`), copies the runs, then verifies, table by
table and batch by batch, that the catalog holds exactly the rows the old layout's current
versions hold (count and a hash of every row). Only then are the old folders moved aside into
`_migrated/<time>/` (or, with `remove_old`, deleted). It is idempotent: a batch already in the
catalog at the same version and with the same rows is skipped, and an interrupted migration
is completed by running it again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from docmill.tasks import schemas
from docmill.tasks.lake import catalog, filesystem
from docmill.tasks.lake.catalog import stored_table
from docmill.tasks.lake.filesystem import Location
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.publish import publish_batch
from docmill.tasks.lake.recorded import catalog_rows, reading
from docmill.tasks.lake.staging import ShardWriter, is_manifest, remove_staging

OLD_FOLDERS = ("lake", "compacted", "runs")
OLD_FILES = ("warehouse.duckdb", "warehouse.duckdb.wal")
_MANIFEST = "_manifest.json"
_PLACEHOLDER_BATCH = "_"


class MigrationError(RuntimeError):
    """The old layout cannot be migrated as it is, or the result did not verify."""


@dataclass(frozen=True, slots=True)
class OldBatch:
    """Where the rows of one batch's current version are in the old layout."""

    batch_id: str
    version: str
    version_dir: Location | None  # loose files (and always the manifest and signatures)
    generation_dir: Location | None  # the newest compacted generation holding the version


@dataclass
class MigrationResult:
    batches: list[str] = field(default_factory=list)  # migrated now
    skipped: list[str] = field(default_factory=list)  # already in the catalog
    runs: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows verified
    moved_to: Location | None = None
    removed: bool = False


def has_old_layout(data_dir: Location) -> bool:
    return any((data_dir / name).exists() for name in OLD_FOLDERS)


def migrate(
    data_dir: str | Path | Location,
    *,
    remove_old: bool = False,
    progress: Callable[[str], None] = lambda line: None,
) -> MigrationResult:
    """Move an old-layout data directory into the catalog; see the module docstring."""
    layout = Layout.at(filesystem.location(data_dir))
    result = MigrationResult()
    if not has_old_layout(layout.data_dir):
        return result
    batches = old_batches(layout.data_dir)
    in_catalog = _catalog_versions(layout)
    con = duckdb.connect()
    try:
        for n, old in enumerate(batches, 1):
            if in_catalog.get(old.batch_id) == old.version and _verified(layout, con, old):
                result.skipped.append(old.batch_id)
                continue
            progress(f"[{n}/{len(batches)}] batch {old.batch_id} (version {old.version})")
            _publish_old_batch(layout, con, old)
            result.batches.append(old.batch_id)
        runs = _old_runs(layout.data_dir, con)
        _replace_runs(layout, runs)
        result.runs = runs.num_rows
        progress("verifying every table of every batch against the old files")
        for old in batches:
            mismatch = _mismatch(layout, con, old)
            if mismatch:
                raise MigrationError(
                    f"batch {old.batch_id}: {mismatch}; the old layout is left in place"
                )
            for table, rows in _old_counts(con, old).items():
                result.rows[table] = result.rows.get(table, 0) + rows
        if _catalog_run_ids(layout) < set(runs.column("run_id").to_pylist()):
            raise MigrationError("some runs are missing from the catalog; the old layout stays")
    finally:
        con.close()
    from docmill.warehouse.build import build_warehouse

    build_warehouse(layout.data_dir)
    result.moved_to, result.removed = _retire_old_layout(layout, remove=remove_old)
    return result


def old_batches(data_dir: Location) -> list[OldBatch]:
    """The current version of every batch of the old layout, oldest version first."""
    loose: dict[str, dict[str, Location]] = {}
    # Every version folder counts, with its manifest or (damaged) without: none is skipped.
    for version_dir in (data_dir / "lake").glob("batch=*/version=*"):
        batch_id = version_dir.parent.name.split("=", 1)[1]
        if batch_id != _PLACEHOLDER_BATCH and not version_dir.name.startswith("."):
            loose.setdefault(batch_id, {})[version_dir.name.split("=", 1)[1]] = version_dir
    compacted: dict[tuple[str, str], Location] = {}
    for listing in sorted((data_dir / "compacted").glob("generation=*/batches.parquet"), key=str):
        for row in filesystem.read_parquet(listing).to_pylist():
            compacted[(row["batch"], row["version"])] = listing.parent  # newest generation wins
    versions: dict[str, set[str]] = {b: set(v) for b, v in loose.items()}
    for batch_id, version in compacted:
        versions.setdefault(batch_id, set()).add(version)
    found = []
    for batch_id in versions:
        version = max(versions[batch_id])
        found.append(
            OldBatch(
                batch_id,
                version,
                loose.get(batch_id, {}).get(version),
                compacted.get((batch_id, version)),
            )
        )
    # Published oldest first: the views show a document from the batch published last.
    return sorted(found, key=lambda old: (old.version, old.batch_id))


def _old_rows(con: duckdb.DuckDBPyConnection, old: OldBatch, table: str) -> pa.Table:
    """The rows of `table` in the old batch's current version, in the current schema."""
    schema = schemas.BATCH_TABLES[table]
    files: list[str] = []
    where = ""
    if old.version_dir is not None:
        files = [str(p) for p in sorted((old.version_dir / table).glob("*.parquet"), key=str)]
    if not files and old.generation_dir is not None:
        files = [str(p) for p in sorted((old.generation_dir / table).glob("*.parquet"), key=str)]
        where = "where batch = $batch and version = $version"
    if not files:
        return schema.empty_table()
    found = con.execute(
        f"select * from read_parquet($files, union_by_name = true) {where}",
        {"files": files, **({"batch": old.batch_id, "version": old.version} if where else {})},
    ).to_arrow_table()
    columns = []
    for name in schema.names:
        if name == "batch_id":
            columns.append(pa.array([old.batch_id] * found.num_rows, pa.string()))
        elif name in found.column_names:
            columns.append(found.column(name).cast(schema.field(name).type))
        else:
            columns.append(pa.nulls(found.num_rows, schema.field(name).type))
    return pa.Table.from_arrays(columns, schema=schema)


def _publish_old_batch(layout: Layout, con: duckdb.DuckDBPyConnection, old: OldBatch) -> None:
    manifest = _old_manifest(old)
    shard = layout.shard_dir(old.batch_id, f"migrate-{old.version}")
    writer = ShardWriter(shard, batch_id=old.batch_id)
    try:
        for table in schemas.BATCH_TABLES:
            writer.write(table, _old_rows(con, old, table))
        writer.commit({"migrated_from": str(old.version_dir or old.generation_dir)})
    except BaseException:
        writer.abort()
        raise
    publish_batch(layout, old.batch_id, [shard], manifest, version=old.version)
    remove_staging(layout, old.batch_id)


def _old_manifest(old: OldBatch) -> dict:
    """The batch's manifest without its batch_id and version ({} when the version has none); a
    damaged one stops the migration, naming it."""
    if old.version_dir is None or not (old.version_dir / _MANIFEST).exists():
        return {}
    path = old.version_dir / _MANIFEST
    why = "no list of items in it"
    try:
        manifest = json.loads(path.read_text())
    except ValueError as err:
        manifest, why = None, f"not JSON: {err}"
    if not is_manifest(manifest):
        raise MigrationError(
            f"the manifest {path} of batch {old.batch_id} is damaged ({why}); nothing of the "
            "batch was migrated and the old layout stays. Restore the file from a backup, or "
            "delete it to migrate the batch without its record of items (a rerun of it then "
            f"needs its sources: docmill run SOURCE... --batch-id {old.batch_id})"
        )
    return {k: v for k, v in manifest.items() if k not in ("batch_id", "version")}


def _old_runs(data_dir: Location, con: duckdb.DuckDBPyConnection) -> pa.Table:
    files = [
        str(p)
        for pattern in ("runs/*.parquet", "runs/v*/*.parquet")
        for p in sorted(data_dir.glob(pattern), key=str)
        if not p.name.startswith("_")
    ]
    if not files:
        return schemas.RUNS.empty_table()
    found = con.execute(
        "select * from read_parquet($files, union_by_name = true)", {"files": files}
    ).to_arrow_table()
    columns = [
        found.column(name).cast(field.type)
        if name in found.column_names
        else pa.nulls(found.num_rows, field.type)
        for name, field in zip(schemas.RUNS.names, schemas.RUNS, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=schemas.RUNS)


def _replace_runs(layout: Layout, runs: pa.Table) -> None:
    if not runs.num_rows:
        return
    con = catalog.connect(layout.catalog)

    def replace(con: duckdb.DuckDBPyConnection) -> None:
        con.register("old_runs", runs)
        con.execute(
            f"delete from {stored_table('runs')} where run_id in (select run_id from old_runs)"
        )
        con.execute(f"insert into {stored_table('runs')} by name select * from old_runs")
        con.unregister("old_runs")

    try:
        catalog.commit_with_retry(con, replace, what="migrating the runs")
    finally:
        con.close()


def _row_digest_sql(relation: str, table: str) -> str:
    columns = ", ".join(f'"{name}"' for name in schemas.BATCH_TABLES[table].names)
    return (
        f"select count(*), coalesce(sum(hash(struct_pack({columns})) % 1000000007), 0) "
        f"from {relation}"
    )


def _old_counts(con: duckdb.DuckDBPyConnection, old: OldBatch) -> dict[str, int]:
    return {table: _old_rows(con, old, table).num_rows for table in schemas.BATCH_TABLES}


def _mismatch(layout: Layout, con: duckdb.DuckDBPyConnection, old: OldBatch) -> str | None:
    """Why the catalog's rows of the batch differ from the old ones, or None."""
    with reading(layout) as reader:
        if reader is None:
            return "the catalog does not exist"
        for table in schemas.BATCH_TABLES:
            con.register("old_rows", _old_rows(con, old, table))
            try:
                expected = con.execute(_row_digest_sql("old_rows", table)).fetchone()
            finally:
                con.unregister("old_rows")
            reader.execute(
                f"create or replace temporary table new_rows as select * from "
                f"{stored_table(table)} where batch_id = ?",
                [old.batch_id],
            )
            stored = reader.execute(_row_digest_sql("new_rows", table)).fetchone()
            if tuple(stored) != tuple(expected):
                return f"table {table}: {stored[0]} rows in the catalog, {expected[0]} before"
    return None


def _verified(layout: Layout, con: duckdb.DuckDBPyConnection, old: OldBatch) -> bool:
    return _mismatch(layout, con, old) is None


def _catalog_versions(layout: Layout) -> dict[str, str]:
    return dict(catalog_rows(layout, f"select batch_id, version from {stored_table('batches')}"))


def _catalog_run_ids(layout: Layout) -> set[str]:
    return {row[0] for row in catalog_rows(layout, f"select run_id from {stored_table('runs')}")}


def _retire_old_layout(layout: Layout, *, remove: bool) -> tuple[Location | None, bool]:
    present = [layout.data_dir / name for name in OLD_FOLDERS if (layout.data_dir / name).exists()]
    present += [layout.local_dir / name for name in OLD_FILES if (layout.local_dir / name).exists()]
    if remove:
        for path in present:
            if isinstance(path, Path) and path.is_file():
                path.unlink()
            else:
                filesystem.remove_tree(path)
        return None, True
    if layout.on_object_store:
        # An object store has no rename: the old objects stay until --remove-old deletes them.
        return None, False
    target = layout.data_dir / "_migrated" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target.mkdir(parents=True)
    for path in present:
        shutil.move(str(path), str(target / path.name))
    return target, False
