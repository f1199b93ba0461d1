"""A lake of many small batches: first queries, the report and a small run, before and after
`docmill compact`.

    python bench/compaction.py DATA_DIR [--batches 1 200 2000] [--repeat 5] [--small-run DIR]
                               [--fresh-runs CONLL_FILE] [--scheduled-upkeep] [--keep DIR]
                               [--json FILE]

DATA_DIR holds processed batches (e.g. `docmill run ../shared/corpus/bbc --data-dir DATA_DIR`).
Their current rows are dealt round-robin by document into N batches of a fresh lake (every
table's rows follow their document; rejects are dealt round-robin too), each staged as the
pipeline stages it (one shard per planner cut, one file per shard and table) and published
through `tasks/lake/publish.py` as a run publishes: the lake N scheduled runs would leave (small
tables inlined in the catalog, larger ones written as files). `--scheduled-upkeep` also runs
the maintenance deployments' upkeep in between as their default schedules would (the daily
flush every 96 batches, the weekly compaction every 672). On each lake, timed on new read-only
connections (median of `--repeat`; opening timed apart): QUERY as the first query, the same
query in a warm session, and `docmill report`; then again after compaction, with every answer
compared in full.

With `--small-run DIR`, `docmill run DIR` (a few documents) is timed on the lake before and
after compaction and on an empty one, from outside, as a user runs it. DIR's documents are in a
lake built from the same corpus, so there they are found duplicates and not tagged;
`--fresh-runs CONLL_FILE` instead gives every timed run five news articles no lake holds yet
(CoNLL-2003's Reuters documents, their tokens joined again), a set of its own per run: the
empty lake and the lake before compaction get the same sets, after compaction the next.
`--keep DIR` leaves each lake in DIR/lake-N (e.g. for bench/startup.py --lake).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from docmill.tasks import schemas
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.publish import publish_batch
from docmill.tasks.lake.staging import ShardWriter, remove_staging
from docmill.tasks.passes import plan
from docmill.warehouse.build import build_warehouse
from docmill.warehouse.query import connect_read_only
from docmill.warehouse.report import write_report
from docmill.warehouse.upkeep import upkeep

QUERY = "select canonical, count(*) from entities group by 1 order by 2 desc, 1 limit 20"
FULL_ANSWER = "select canonical, label, count(*) from entities group by all order by all"


def current_rows(source: Path) -> dict[str, pa.Table]:
    with connect_read_only(source) as con:
        return {
            table: con.execute(f"select * from stored.{table}").to_arrow_table()
            for table in schemas.BATCH_TABLES
        }


# A 15-minute inbox makes 96 batches a day; rebuild-warehouse runs daily, compact-warehouse weekly.
BATCHES_PER_DAY = 96
BATCHES_PER_WEEK = 7 * BATCHES_PER_DAY


def split_into_batches(
    rows: dict[str, pa.Table], target: Path, n_batches: int, progress, *, scheduled: bool = False
) -> tuple[int, float, float]:
    """Publish `n_batches` batches into `target` (with `scheduled`, the maintenance flows'
    upkeep in between as their default schedules would run it); the documents, the publish
    seconds and the upkeep seconds."""
    doc_ids = sorted(set(rows["documents"].column("doc_id").to_pylist()))
    batch_of = {doc_id: n % n_batches for n, doc_id in enumerate(doc_ids)}
    shard_of = _shards(batch_of)
    layout = Layout.at(target)
    build_warehouse(target)
    reject_batch = pa.array([n % n_batches for n in range(rows["rejects"].num_rows)])
    published_seconds = upkeep_seconds = 0.0
    for batch_no in range(n_batches):
        batch_id = f"small-{batch_no:04d}"
        members = {d for d, b in batch_of.items() if b == batch_no}
        n_shards = 1 + max((shard_of[d] for d in members), default=0)
        shard_dirs = []
        for shard_no in range(n_shards):
            shard_docs = pa.array(sorted(d for d in members if shard_of[d] == shard_no))
            shard_dir = layout.shard_dir(batch_id, f"bench-{shard_no}")
            writer = ShardWriter(shard_dir, batch_id=batch_id)
            for table, data in rows.items():
                if table == "rejects":
                    if shard_no:
                        continue
                    part = data.filter(pc.equal(reject_batch, batch_no))
                else:
                    part = data.filter(pc.is_in(data["doc_id"], shard_docs))
                writer.write(table, part)
            writer.commit({})
            shard_dirs.append(shard_dir)
        started = time.perf_counter()
        publish_batch(layout, batch_id, shard_dirs, {"n_input": len(members), "items": []})
        published_seconds += time.perf_counter() - started
        remove_staging(layout, batch_id)
        if scheduled and (batch_no + 1) % BATCHES_PER_DAY == 0:
            weekly = (batch_no + 1) % BATCHES_PER_WEEK == 0
            done = upkeep(target, merge=weekly, retention_days=30, grace_seconds=600)
            upkeep_seconds += done.seconds
        if (batch_no + 1) % 100 == 0:
            progress(f"  {batch_no + 1}/{n_batches} batches published")
    return len(doc_ids), published_seconds, upkeep_seconds


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


def time_lake(data_dir: Path, repeat: int) -> dict:
    """Median seconds to open a connection, to answer QUERY first and warm, and to write the
    report; the answers."""
    opening, first, warm, report = [], [], [], []
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
            warm.append(time.perf_counter() - started)
        full = con.execute(FULL_ANSWER).fetchall()
    with tempfile.TemporaryDirectory() as out:
        for _ in range(max(1, repeat // 2)):
            started = time.perf_counter()
            write_report(data_dir, Path(out))
            report.append(time.perf_counter() - started)
    return {
        "connect_s": statistics.median(opening),
        "first_query_s": statistics.median(first),
        "session_query_s": statistics.median(warm),
        "report_s": statistics.median(report),
        "top": top,
        "full": full,
    }


def answers(data_dir: Path) -> tuple[list, list]:
    """QUERY's answer and the full one, as the lake stands."""
    with connect_read_only(data_dir) as con:
        return con.execute(QUERY).fetchall(), con.execute(FULL_ANSWER).fetchall()


def timed_small_run(
    corpora: list[Path], data_dir: Path, repeat: int, name: str = "small-run"
) -> float:
    """Median wall time of `repeat` runs into `data_dir`, the n-th of `corpora[n]` (the last
    one again when there are fewer)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    walls = []
    for n in range(repeat):
        corpus = corpora[min(n, len(corpora) - 1)]
        command = [sys.executable, "-m", "docmill.flows.cli", "run", str(corpus)]
        command += ["--data-dir", str(data_dir), "--batch-id", f"{name}-{n}"]
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def conll_articles(path: Path, *, min_tokens: int = 200) -> list[str]:
    """CoNLL-2003's documents as plain articles (headline, then paragraphs of four sentences),
    those of `min_tokens` or more, mostly words (not result tables)."""
    articles, sentences, words = [], [], []

    def end_sentence() -> None:
        if words:
            sentences.append(" ".join(words))
            words.clear()

    def end_document() -> None:
        end_sentence()
        tokens = " ".join(sentences).split()
        wordy = sum(token.isalpha() for token in tokens)
        if len(tokens) >= min_tokens and wordy >= 0.7 * len(tokens):
            body = [" ".join(sentences[i : i + 4]) for i in range(1, len(sentences), 4)]
            articles.append("\n\n".join([sentences[0], *body]) + "\n")
        sentences.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("-DOCSTART-"):
            end_document()
        elif not line.strip():
            end_sentence()
        else:
            words.append(line.split(" ", 1)[0])
    end_document()
    return articles


def fresh_sets(conll: Path, n_sets: int, folder: Path, per_set: int = 5) -> list[Path]:
    articles = conll_articles(conll)
    if len(articles) < n_sets * per_set:
        raise SystemExit(f"{conll}: {len(articles)} usable articles, {n_sets * per_set} needed")
    sets = []
    for k in range(n_sets):
        target = folder / f"set-{k}"
        target.mkdir(parents=True)
        for i, text in enumerate(articles[k * per_set : (k + 1) * per_set]):
            (target / f"{i:03d}.txt").write_text(text, encoding="utf-8")
        sets.append(target)
    return sets


def data_files(data_dir: Path) -> int:
    return sum(1 for _ in (data_dir / "tables").rglob("*.parquet"))


def bench_batches(rows, n_batches: int, args, progress) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"docmill-compaction-{n_batches}-"))
    try:
        progress(f"{n_batches} batches: publishing")
        n_docs, publish_s, upkeep_s = split_into_batches(
            rows, work, n_batches, progress, scheduled=args.scheduled_upkeep
        )
        figures = {"documents": n_docs, "batches": n_batches}
        figures["publish_s_mean"] = round(publish_s / n_batches, 4)
        if args.scheduled_upkeep:
            figures["scheduled_upkeep_s_total"] = round(upkeep_s, 2)
            figures["batches_since_daily_upkeep"] = n_batches % BATCHES_PER_DAY
            figures["batches_since_weekly_compaction"] = n_batches % BATCHES_PER_WEEK
        figures["files_before"] = data_files(work)
        progress(f"{n_batches} batches: timing")
        before = time_lake(work, args.repeat)
        if args.small_runs:
            figures["small_run_s"] = round(timed_small_run(args.small_runs[:3], work, 3), 2)
        # New documents change the answers: compaction is compared with the lake just before it.
        compacted_from = answers(work)
        compaction = upkeep(work, merge=True, retention_days=30, grace_seconds=0)
        figures["compaction_s"] = round(compaction.seconds, 2)
        figures["files_after"] = data_files(work)
        after = time_lake(work, args.repeat)
        if args.small_runs:
            figures["small_run_s_after"] = round(
                timed_small_run(
                    args.small_runs[3:6] or args.small_runs, work, 3, name="small-run-after"
                ),
                2,
            )
        for when, times in (("before", before), ("after", after)):
            for name in ("connect_s", "first_query_s", "session_query_s", "report_s"):
                figures[f"{name}_{when}"] = round(times[name], 4)
        top_before, full_before = compacted_from
        figures["identical_top20"] = top_before == after["top"]
        figures["identical_full"] = full_before == after["full"]
        return figures
    finally:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.move(str(work), str(args.keep / f"lake-{n_batches}"))
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="a data directory with processed batches")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 200, 2000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--small-run", type=Path, help="a few documents to run on each lake")
    parser.add_argument(
        "--fresh-runs",
        type=Path,
        metavar="CONLL_FILE",
        help="time small runs of documents no lake holds, made from this CoNLL-2003 file",
    )
    parser.add_argument(
        "--scheduled-upkeep",
        action="store_true",
        help=f"while building, run the daily upkeep every {BATCHES_PER_DAY} batches and the "
        f"weekly compaction every {BATCHES_PER_WEEK}, as the default schedules do",
    )
    parser.add_argument("--keep", type=Path, help="keep each lake in this folder")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    rows = current_rows(args.data_dir)
    figures: dict = {"query": QUERY, "lakes": []}
    sets_dir = Path(tempfile.mkdtemp(prefix="docmill-compaction-runs-"))
    try:
        args.small_runs = []
        if args.fresh_runs:
            args.small_runs = fresh_sets(args.fresh_runs, 6 * len(args.batches), sets_dir)
            figures["small_runs"] = "five new CoNLL-2003 articles per run"
        elif args.small_run:
            args.small_runs = [args.small_run]
            figures["small_runs"] = f"{args.small_run}, the same documents each run"
        # The empty lake gets the sets the lake before compaction gets and, when there are
        # others, those it gets after.
        for key, sets in (
            ("small_run_s_empty_lake", args.small_runs[:3]),
            ("small_run_s_empty_lake_next_sets", args.small_runs[3:6]),
        ):
            if not sets:
                continue
            empty = Path(tempfile.mkdtemp(prefix="docmill-compaction-empty-"))
            try:
                figures[key] = round(timed_small_run(sets, empty, 3), 2)
            finally:
                shutil.rmtree(empty, ignore_errors=True)
        for n_batches in args.batches:
            figures["lakes"].append(bench_batches(rows, n_batches, args, progress))
            print(json.dumps(figures["lakes"][-1], indent=1), flush=True)
            args.small_runs = args.small_runs[6:] or args.small_runs
    finally:
        shutil.rmtree(sets_dir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    identical = all(lake["identical_full"] and lake["identical_top20"] for lake in figures["lakes"])
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
