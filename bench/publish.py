"""How to take a batch's staged files into the catalog: register them, or copy their rows.

    python bench/publish.py DATA_DIR [--shards 32] [--repeat 3] [--json FILE]

DATA_DIR holds a processed batch (e.g. the BBC corpus). Its current rows are staged again as
`--shards` shards (one Parquet file per shard and table, as the workers write them) into fresh
lakes, and published three ways, each timed as the whole publish (median of `--repeat`):

- `copy`: what docmill does (tasks/lake/publish.py): the rows copied by
  `INSERT INTO ... SELECT * FROM read_parquet(...)` in the transaction (DuckLake writes one new
  file per table; tables under 1,000 rows inlined);
- `register`: the staged files linked into the table folders and registered in place with
  `ducklake_add_data_files` (no row copied; tables under 1,000 rows inlined as above);
- `insert_inlined_one_shard`: one shard's rows (1/`--shards` of the batch) inserted with every
  table inlined into the catalog (the limit above the largest table), once: why only small
  tables are inlined (the whole BBC batch did not finish inlining in 15 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from docmill.tasks import schemas
from docmill.tasks.lake import catalog
from docmill.tasks.lake.catalog import stored_table
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.publish import publish_batch
from docmill.tasks.lake.staging import ShardWriter
from docmill.warehouse.query import connect_read_only


def staged_rows(source: Path) -> dict[str, pa.Table]:
    with connect_read_only(source) as con:
        return {
            table: con.execute(f"select * from stored.{table}").to_arrow_table()
            for table in schemas.BATCH_TABLES
        }


def stage(layout: Layout, rows: dict[str, pa.Table], shards: int) -> list[Path]:
    doc_ids = sorted(set(rows["documents"].column("doc_id").to_pylist()))
    shard_of = {doc_id: n % shards for n, doc_id in enumerate(doc_ids)}
    dirs = []
    for shard_no in range(shards):
        mine = pa.array([d for d in doc_ids if shard_of[d] == shard_no])
        writer = ShardWriter(layout.shard_dir("b", f"s{shard_no}"), batch_id="b")
        for table, data in rows.items():
            if "doc_id" in data.column_names:
                data = data.filter(pc.is_in(data["doc_id"], mine))
            elif shard_no:
                data = data.slice(0, 0)
            writer.write(table, data)
        writer.commit({})
        dirs.append(layout.shard_dir("b", f"s{shard_no}"))
    return dirs


def publish_by_insert(layout: Layout, shard_dirs: list[Path], inline_rows: int) -> float:
    os.environ[catalog.INLINE_ROWS_ENV] = str(inline_rows)
    try:
        started = time.perf_counter()
        publish_batch(layout, "b", shard_dirs, {"items": []})
        return time.perf_counter() - started
    finally:
        os.environ.pop(catalog.INLINE_ROWS_ENV)


def publish_by_registering(layout: Layout, shard_dirs: list[Path]) -> float:
    """The alternative: staged files linked into the table folders and registered in place."""
    started = time.perf_counter()
    limit = catalog.inline_rows()
    con = catalog.connect(layout.catalog)
    files: dict[str, list[Path]] = {}
    for name in schemas.BATCH_TABLES:
        staged = [d / f"{name}.parquet" for d in shard_dirs]
        staged = [p for p in staged if pq.read_metadata(p).num_rows]
        if sum(pq.read_metadata(p).num_rows for p in staged) < limit:
            files[name] = staged
            continue
        folder = layout.tables / catalog.STORED / name
        folder.mkdir(parents=True, exist_ok=True)
        linked = []
        for n, path in enumerate(staged):
            target = folder / f"registered-{n:05d}.parquet"
            os.link(path, target)
            linked.append(target)
        files[name] = linked
        files[name + "#register"] = linked

    def replace(con) -> None:
        for name in schemas.BATCH_TABLES:
            con.execute(f"delete from {stored_table(name)} where batch_id = 'b'")
            if name + "#register" in files:
                for path in files[name]:
                    con.execute(
                        "call ducklake_add_data_files('docmill', ?, ?, schema => 'stored')",
                        [name, str(path)],
                    )
            elif files[name]:
                con.execute(
                    f"insert into {stored_table(name)} by name select * from read_parquet(?)",
                    [[str(p) for p in files[name]]],
                )

    catalog.commit_with_retry(con, replace, what="register")
    con.close()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--shards", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = staged_rows(args.data_dir)
    figures: dict = {
        "rows": {name: table.num_rows for name, table in rows.items()},
        "shards": args.shards,
    }
    largest = max(table.num_rows for table in rows.values())
    times: dict[str, list[float]] = {"copy": [], "register": [], "insert_inlined_one_shard": []}
    for n in range(args.repeat):
        for way in times:
            if way == "insert_inlined_one_shard" and n:
                continue
            work = Path(tempfile.mkdtemp(prefix=f"docmill-publish-{way}-"))
            try:
                layout = Layout.at(work)
                shard_dirs = stage(layout, rows, args.shards)
                catalog.connect(layout.catalog).close()  # tables exist before timing
                if way == "register":
                    times[way].append(publish_by_registering(layout, shard_dirs))
                elif way == "copy":
                    times[way].append(
                        publish_by_insert(layout, shard_dirs, catalog.DEFAULT_INLINE_ROWS)
                    )
                else:
                    times[way].append(publish_by_insert(layout, shard_dirs[:1], largest + 1))
                    continue
                with connect_read_only(work) as con:
                    [(tokens,)] = con.execute("select count(*) from stored.tokens").fetchall()
                assert tokens == rows["tokens"].num_rows, (way, tokens)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        print(json.dumps({k: [round(t, 3) for t in v] for k, v in times.items()}), file=sys.stderr)
    figures["seconds"] = {way: round(statistics.median(t), 3) for way, t in times.items()}
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
