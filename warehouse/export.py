"""Plain Parquet of the views for engines that do not speak DuckLake (polars, pyarrow, Spark).

`docmill export documents --out DIR` writes `DIR/documents.parquet` with exactly the rows
`docmill sql "select * from documents"` shows, at the newest snapshot or an earlier one, and
`DIR/_export.json` saying which snapshot and how many rows. Files are written aside and renamed,
so a reader of DIR never sees half of one. Globbing the lake's own data folder is not a way to
read it: files there hold replaced versions until they are cleaned up, rows of small batches
live in the catalog, and deleted rows are only marked as such.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from docmill.tasks.lake.catalog import ALIAS
from docmill.tasks.lake.filesystem import Location
from docmill.warehouse.build import VIEW_NAMES
from docmill.warehouse.query import connect_read_only, read_consistently

MANIFEST = "_export.json"


class UnknownView(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Exported:
    view: str
    path: Path
    rows: int


def export_views(
    data_dir: str | Path | Location,
    views: list[str],
    out_dir: Path,
    *,
    snapshot_version: int | None = None,
    snapshot_time: datetime | str | None = None,
) -> list[Exported]:
    """Write each view of `views` as `<out_dir>/<view>.parquet` (zstd), all from one snapshot."""
    unknown = [view for view in views if view not in VIEW_NAMES]
    if unknown:
        raise UnknownView(f"no view named {', '.join(unknown)}; views: {', '.join(VIEW_NAMES)}")
    out_dir.mkdir(parents=True, exist_ok=True)

    def copy_all(con: duckdb.DuckDBPyConnection) -> tuple[int, list[tuple[str, Path, int]]]:
        [(snapshot_id,)] = con.execute(f"select id from {ALIAS}.current_snapshot()").fetchall()
        staged = []
        for view in views:
            tmp = out_dir / f".{view}.parquet.{os.getpid()}.tmp"
            con.execute(
                f"copy (select * from \"{view}\") to '{_quote(str(tmp))}' "
                "(format parquet, compression zstd)"
            )
            # From the footer, not read_parquet: a path is never read as a glob pattern.
            staged.append((view, tmp, int(pq.read_metadata(tmp).num_rows)))
        return snapshot_id, staged

    with connect_read_only(
        data_dir, snapshot_version=snapshot_version, snapshot_time=snapshot_time
    ) as con:
        # One transaction, so every view comes from the same snapshot; again if compaction
        # overlapped it.
        snapshot_id, staged = read_consistently(con, copy_all)
    done = []
    for view, tmp, rows in staged:
        target = out_dir / f"{view}.parquet"
        os.replace(tmp, target)
        done.append(Exported(view, target, rows))
    manifest = {
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "snapshot_id": snapshot_id,
        "views": {item.view: {"file": item.path.name, "rows": item.rows} for item in done},
    }
    tmp = out_dir / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, out_dir / MANIFEST)
    return done


def _quote(value: str) -> str:
    return value.replace("'", "''")
