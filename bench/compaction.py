"""How much compaction speeds up a warehouse of many small batches.

    python bench/compaction.py DATA_DIR [--batches 200] [--repeat 5] [--json FILE]

DATA_DIR holds processed batches (e.g. `docmill run ../shared/corpus/bbc --data-dir DATA_DIR`).
Their documents are dealt round-robin into `--batches` batches of a fresh warehouse (every
table's rows follow their document; rejects follow their source), published in the layout the
pipeline writes, one version each: the warehouse 200 small scheduled runs would leave. The
query is timed on a new read-only connection each time (median of `--repeat`), before and
after `docmill compact`, and the answers are compared in full.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from docmill.tasks import schemas, store
from docmill.warehouse import lake_scan
from docmill.warehouse.build import build_warehouse
from docmill.warehouse.compact import compact
from docmill.warehouse.query import connect_read_only

QUERY = "select canonical, count(*) from entities group by 1 order by 2 desc, 1 limit 20"
FULL_ANSWER = "select canonical, label, count(*) from entities group by all order by all"


def split_into_batches(source: Path, target: Path, n_batches: int) -> int:
    """Write `n_batches` batches under `target` from the current rows of `source`."""
    con = duckdb.connect(":memory:")
    lake_scan.write_placeholders(store.Layout(source.resolve()))
    for statement in lake_scan.lake_ddl(store.Layout(source.resolve())):
        con.execute(statement)
    doc_ids = [
        row[0]
        for row in con.execute("select distinct doc_id from lake.documents order by 1").fetchall()
    ]
    batch_of = {doc_id: n % n_batches for n, doc_id in enumerate(doc_ids)}
    lookup = pa.table({"doc_id": list(batch_of), "batch_no": list(batch_of.values())})
    con.register("batch_of", lookup)
    tables = {
        table: con.sql(
            f'select t.* exclude (batch, version), b.batch_no from lake."{table}" t '
            "join batch_of b using (doc_id)"
            if table != "rejects"
            else f"select t.* exclude (batch, version), hash(t.source_uri) % {n_batches} "
            f'as batch_no from lake."{table}" t'
        ).to_arrow_table()
        for table in lake_scan.VIEW_TABLES
    }
    layout = store.Layout(target.resolve())
    for batch_no in range(n_batches):
        batch_id = f"small-{batch_no:04d}"
        version_dir = layout.batch_dir(batch_id) / f"version={store.new_version()}"
        for table, rows in tables.items():
            part = rows.filter(pc.equal(rows["batch_no"], batch_no)).drop_columns(["batch_no"])
            if "batch_id" in part.column_names:
                part = part.set_column(
                    part.column_names.index("batch_id"),
                    "batch_id",
                    pa.array([batch_id] * part.num_rows, pa.string()),
                )
            schema = schemas.with_version(schemas.BATCH_TABLES[table], table)
            (version_dir / table).mkdir(parents=True)
            pq.write_table(
                part.select(schema.names).cast(schema),
                version_dir / table / store.part_file_name(0),
            )
    con.close()
    return len(doc_ids)


def time_query(data_dir: Path, repeat: int) -> tuple[float, list[tuple], list[tuple]]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        with connect_read_only(data_dir) as con:
            top = con.execute(QUERY).fetchall()
        seconds.append(time.perf_counter() - started)
    with connect_read_only(data_dir) as con:
        full = con.execute(FULL_ANSWER).fetchall()
    return statistics.median(seconds), top, full


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="a data directory with processed batches")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="docmill-compaction-bench-"))
    try:
        n_docs = split_into_batches(args.data_dir, work, args.batches)
        build_warehouse(work)
        loose = sum(1 for _ in (work / "lake").glob("batch=small-*/version=*/*/*.parquet"))
        before_s, before_top, before_full = time_query(work, args.repeat)
        result = compact(work, grace_seconds=0)
        after_s, after_top, after_full = time_query(work, args.repeat)
        figures = {
            "documents": n_docs,
            "batches": args.batches,
            "files_before": loose,
            "files_after": sum(t.files for t in result.tables.values()),
            "entities_rows": result.tables["entities"].rows,
            "query": QUERY,
            "query_s_before": round(before_s, 4),
            "query_s_after": round(after_s, 4),
            "speedup": round(before_s / after_s, 2),
            "compaction_s": round(result.seconds, 2),
            "identical_top20": before_top == after_top,
            "identical_full": before_full == after_full,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if figures["identical_full"] and figures["identical_top20"] else 1


if __name__ == "__main__":
    sys.exit(main())
