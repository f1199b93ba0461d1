"""How much compaction speeds up a warehouse of many small batches.

    python bench/compaction.py DATA_DIR [--batches 200] [--repeat 5] [--json FILE]

DATA_DIR holds processed batches (e.g. `docmill run ../shared/corpus/bbc --data-dir DATA_DIR`).
Their documents are dealt round-robin into `--batches` batches of a fresh warehouse (every
table's rows follow their document; rejects follow their source), published in the layout the
pipeline writes: one version each, cut into shards by the planner's rule (tasks/plan.py), one
file per shard and table: the warehouse 200 small scheduled runs would leave. The query is
timed on a new read-only connection each time (median of `--repeat`; the connection's opening
is timed apart), before and after `docmill compact`, and the answers are compared in full.
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

from docmill.tasks import plan, schemas, store
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
    shard_of = _shards(batch_of)
    lookup = pa.table(
        {
            "doc_id": list(batch_of),
            "batch_no": list(batch_of.values()),
            "shard_no": [shard_of[doc_id] for doc_id in batch_of],
        }
    )
    con.register("batch_of", lookup)
    tables = {
        table: con.sql(
            "select t.* exclude (batch, version), b.batch_no, b.shard_no "
            f'from lake."{table}" t join batch_of b using (doc_id)'
            if table != "rejects"
            else f"select t.* exclude (batch, version), hash(t.source_uri) % {n_batches} "
            f'as batch_no, 0 as shard_no from lake."{table}" t'
        ).to_arrow_table()
        for table in lake_scan.VIEW_TABLES
    }
    layout = store.Layout(target.resolve())
    for batch_no in range(n_batches):
        batch_id = f"small-{batch_no:04d}"
        version_dir = layout.batch_dir(batch_id) / f"version={store.new_version()}"
        n_shards = 1 + max((shard_of[d] for d, b in batch_of.items() if b == batch_no), default=0)
        for table, rows in tables.items():
            in_batch = rows.filter(pc.equal(rows["batch_no"], batch_no))
            if "batch_id" in in_batch.column_names:
                in_batch = in_batch.set_column(
                    in_batch.column_names.index("batch_id"),
                    "batch_id",
                    pa.array([batch_id] * in_batch.num_rows, pa.string()),
                )
            schema = schemas.with_version(schemas.BATCH_TABLES[table], table)
            (version_dir / table).mkdir(parents=True)
            for shard_no in range(n_shards):  # every shard writes every table, rows or not
                part = in_batch.filter(pc.equal(in_batch["shard_no"], shard_no))
                pq.write_table(
                    part.select(schema.names).cast(schema),
                    version_dir / table / store.part_file_name(shard_no),
                )
    con.close()
    return len(doc_ids)


def _shards(batch_of: dict[str, int]) -> dict[str, int]:
    """Shard number of each document within its batch, cut as the planner cuts a batch."""
    members: dict[int, list[str]] = {}
    for doc_id, batch_no in batch_of.items():
        members.setdefault(batch_no, []).append(doc_id)
    shard_of = {}
    for docs in members.values():
        size = plan.shard_size(len(docs), max_shard_docs=200, min_shard_docs=10)
        for n, doc_id in enumerate(docs):
            shard_of[doc_id] = n // size
    return shard_of


def time_query(data_dir: Path, repeat: int) -> dict:
    """Median seconds to open a connection, to answer QUERY as its first query (a one-shot
    client) and as a repeated query in one session; the answers."""
    opening, first, repeated = [], [], []
    for _ in range(repeat):
        started = time.perf_counter()
        with connect_read_only(data_dir) as con:
            opened = time.perf_counter()
            top = con.execute(QUERY).fetchall()
            first.append(time.perf_counter() - opened)
        opening.append(opened - started)
    with connect_read_only(data_dir) as con:
        for _ in range(repeat):
            started = time.perf_counter()
            con.execute(QUERY).fetchall()
            repeated.append(time.perf_counter() - started)
        full = con.execute(FULL_ANSWER).fetchall()
    return {
        "connect_s": statistics.median(opening),
        "first_query_s": statistics.median(first),
        "session_query_s": statistics.median(repeated),
        "top": top,
        "full": full,
    }


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
        loose = sum(
            1
            for table in lake_scan.VIEW_TABLES
            for _ in (work / "lake").glob(f"batch=small-*/version=*/{table}/*.parquet")
        )
        before = time_query(work, args.repeat)
        result = compact(work, grace_seconds=0)
        after = time_query(work, args.repeat)
        figures = {
            "documents": n_docs,
            "batches": args.batches,
            "files_before": loose,
            "files_after": sum(t.files for t in result.tables.values()),
            "entities_rows": result.tables["entities"].rows,
            "query": QUERY,
            **{
                f"{figure}_{when}": round(times[figure], 4)
                for when, times in (("before", before), ("after", after))
                for figure in ("connect_s", "first_query_s", "session_query_s")
            },
            "speedup_first_query": round(before["first_query_s"] / after["first_query_s"], 2),
            "speedup_session_query": round(before["session_query_s"] / after["session_query_s"], 2),
            "speedup_with_connect": round(
                (before["connect_s"] + before["first_query_s"])
                / (after["connect_s"] + after["first_query_s"]),
                2,
            ),
            "compaction_s": round(result.seconds, 2),
            "identical_top20": before["top"] == after["top"],
            "identical_full": before["full"] == after["full"],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if figures["identical_full"] and figures["identical_top20"] else 1


if __name__ == "__main__":
    sys.exit(main())
