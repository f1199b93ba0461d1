"""`docmill check --repair`: take the batches of damaged files out of the lake, consistently, so
they can be published again.

The repair cannot re-create a lost file, and DuckLake can only delete rows it reads. So each
damaged file is moved to `_damaged/<time>/` and replaced, for one commit, by a stand-in holding
as many rows (all NULL but `batch_id`) with a footer of the recorded length; that commit deletes
every row of the affected batches from every table, and their `batches` rows, and the stand-ins
are removed after it. The lake then shows those batches not at all, never in part; their recorded
items are staged, so `docmill run --batch-id ID` publishes each again. Snapshots from before the
repair still name the lost files, and reading them there fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from docmill.tasks import schemas
from docmill.tasks.lake import catalog, filesystem
from docmill.tasks.lake.catalog import ALIAS, stored_table
from docmill.tasks.lake.filesystem import Location
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.locks import batch_lock
from docmill.tasks.lake.staging import write_staged_plan
from docmill.warehouse.check import CheckReport, Damage, LakeFile

QUARANTINE = "_damaged"


class RepairRefused(RuntimeError):
    """The damage is of a kind the repair does not mend; the message says what to do."""


@dataclass
class RepairResult:
    removed: list[str]  # batches taken out of the lake
    staged: list[str]  # of those, the ones whose items are staged for a rerun
    quarantined: list[Path]  # damaged files moved aside
    snapshot_id: int | None


def repair_lake(data_dir: str | Path | Location, report: CheckReport) -> RepairResult:
    """Take every batch with a damaged file out of the lake in one commit, and stage its
    recorded items for `docmill run --batch-id`. RepairRefused for damage it does not mend."""
    layout = Layout.at(filesystem.location(data_dir))
    unmendable = [
        d
        for d in report.damaged
        if d.file.kind != "data" or d.file.table not in schemas.BATCH_TABLES
    ]
    unmendable += [d for d in report.damaged if d.file.batch_range is None]
    if unmendable or report.catalog_problem:
        what = report.catalog_problem or ", ".join(
            f"{d.file.table} {d.file.kind} file {d.file.path}" for d in unmendable
        )
        raise RepairRefused(
            f"cannot repair {what}: restore the catalog and tables/ from a backup (README: "
            "Backing up the catalog)"
        )
    batches = sorted({b for d in report.damaged for b in (*d.batches, d.file.batch_range[0])})
    with contextlib.ExitStack() as locks:
        for batch_id in batches:
            locks.enter_context(batch_lock(layout, batch_id, what="batch"))
        return _take_out(layout, report.damaged, batches)


def _take_out(layout: Layout, damaged: list[Damage], batches: list[str]) -> RepairResult:
    quarantine = layout.local_dir / QUARANTINE / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # Deletes kept in the catalog (DuckLake's inlining) would leave each damaged file in the
    # snapshot, marked deleted row by row; written out, a delete of all its rows drops it.
    con = catalog.connect(layout.catalog, inline_limit=0)
    try:
        staged = _stage_items(layout, con, batches)
        with _stand_ins(damaged, quarantine) as moved:

            def delete(con: duckdb.DuckDBPyConnection) -> None:
                for table in schemas.BATCH_TABLES:
                    con.execute(
                        f"delete from {stored_table(table)} where batch_id in "
                        "(select unnest(?::varchar[]))",
                        [batches],
                    )
                con.execute(
                    f"delete from {stored_table('batches')} where batch_id in "
                    "(select unnest(?::varchar[]))",
                    [batches],
                )
                extra = {
                    "kind": "repair",
                    "batches": batches,
                    "files": [d.file.path for d in damaged],
                }
                con.execute(
                    f"call {ALIAS}.set_commit_message(?, ?, extra_info => ?)",
                    ["docmill", f"repair: remove {', '.join(batches)}", json.dumps(extra)],
                )

            catalog.commit_with_retry(con, delete, what="removing the damaged batches")
        row = con.execute(f"select id from {ALIAS}.last_committed_snapshot()").fetchone()
    finally:
        con.close()
    return RepairResult(batches, staged, moved, int(row[0]) if row and row[0] is not None else None)


def _stage_items(layout: Layout, con: duckdb.DuckDBPyConnection, batches: list[str]) -> list[str]:
    """Write each batch's recorded items as its staged plan, so a rerun processes exactly them."""
    rows = con.execute(
        f"select batch_id, manifest_json from {stored_table('batches')} "
        "where batch_id in (select unnest(?::varchar[]))",
        [batches],
    ).fetchall()
    for batch_id, manifest in rows:
        write_staged_plan(layout, batch_id, json.loads(manifest))
    return sorted(batch_id for batch_id, _manifest in rows)


@contextlib.contextmanager
def _stand_ins(damaged: list[Damage], quarantine: Path) -> Iterator[list[Path]]:
    """Damaged files moved into `quarantine` and replaced by stand-ins for the block; the
    stand-ins are removed after it, and on failure the damaged files are put back."""
    moved: list[tuple[Location, Path]] = []
    written: list[Location] = []
    try:
        for damage in damaged:
            location = filesystem.location(damage.file.path)
            if location.exists():
                target = quarantine / damage.file.table / location.name
                target.parent.mkdir(parents=True, exist_ok=True)
                _move(location, target)
                moved.append((location, target))
            _write_stand_in(damage.file, location)
            written.append(location)
        yield [target for _location, target in moved]
    except BaseException:
        for location in written:
            location.unlink(missing_ok=True)
        for location, target in moved:
            _move(target, location)
        raise
    for location in written:
        location.unlink(missing_ok=True)


def _move(source: Location, target: Location) -> None:
    if isinstance(source, Path) and isinstance(target, Path):
        os.replace(source, target)
        return
    target.write_bytes(source.read_bytes())
    source.unlink()


def _write_stand_in(lake_file: LakeFile, location: Location) -> None:
    """A Parquet file of `record_count` rows, NULL but `batch_id`, whose footer is exactly as
    long as the recorded one (DuckDB checks that length before reading a DuckLake file)."""
    assert lake_file.batch_range is not None
    schema = schemas.STORED_TABLES[lake_file.table]
    n = lake_file.record_count
    columns = [
        pa.array([lake_file.batch_range[0]] * n, field.type)
        if field.name == "batch_id"
        else pa.nulls(n, field.type)
        for field in schema
    ]
    table = pa.Table.from_arrays(columns, schema=schema)
    where, fs = filesystem.arrow_target(location)
    padding = 0
    for _attempt in range(8):
        with pq.ParquetWriter(
            where,
            schema,
            filesystem=fs,
            compression="none",
            use_dictionary=False,
            write_statistics=False,
            store_schema=False,
        ) as writer:
            writer.write_table(table)
            writer.add_key_value_metadata({"docmill.stand_in": "x" * padding})
        length = _footer_length(location)
        if lake_file.footer_size is None or length == lake_file.footer_size:
            return
        padding += lake_file.footer_size - length
        if padding < 0:
            break
    location.unlink(missing_ok=True)
    raise RepairRefused(
        f"cannot stand in for {lake_file.path} (its footer is {lake_file.footer_size} bytes): "
        "restore the catalog and tables/ from a backup (README: Backing up the catalog)"
    )


def _footer_length(location: Location) -> int:
    data = location.read_bytes()
    return struct.unpack("<i", data[-8:-4])[0]
