"""A plain `docmill run CORPUS --workers N`, timed from outside, as a user runs it.

    python bench/plain_run.py ../shared/corpus/bbc [--workers 2] [--profile fast] [--json FILE]

No Prefect server is configured (Prefect's ephemeral mode, unless PREFECT_API_URL is set; its
database in the user's PREFECT_HOME, as for any run, so migrations are paid once) and the
run's defaults apply (duplicates are found and not tagged again). The command runs on the
first tenth of the corpus's files and on all of them, each into a fresh data directory; the
steady rate is the difference in tagged words over the difference in seconds, start-up what
remains of the full run. Words are counted as `docmill bench` counts them (whitespace words
of the cleaned text) over the documents the run tagged, read back from its warehouse.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from docmill.evaluation.bench import timed_docmill_run
from docmill.warehouse.query import connect_read_only


def tagged_words(data_dir: Path) -> tuple[int, int]:
    with connect_read_only(data_dir) as con:
        texts = con.execute("select text from documents where tagged").fetchall()
    return len(texts), sum(len(text.split()) for (text,) in texts)


def timed_run(corpus: Path, data_dir: Path, env: dict, workers: int, profile: str) -> dict:
    command = [sys.executable, "-m", "docmill.flows.cli", "run", str(corpus)]
    command += ["--data-dir", str(data_dir), "--workers", str(workers), "--profile", profile]
    wall, memory = timed_docmill_run(command, env)
    docs, words = tagged_words(data_dir)
    return {"wall_s": wall, "peak_rss_mib": memory.peak / 2**20, "documents": docs, "words": words}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", choices=["accurate", "fast"], default="accurate")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    files = sorted(p for p in args.corpus.rglob("*") if p.is_file())
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with tempfile.TemporaryDirectory(prefix="docmill-plain-run-") as work:
        work = Path(work)
        tenth = work / "tenth"
        for path in files[: max(1, len(files) // 10)]:
            link = tenth / path.relative_to(args.corpus)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())
        runs = {}
        for label, corpus in (("tenth", tenth), ("full", args.corpus)):
            runs[label] = timed_run(corpus, work / label, env, args.workers, args.profile)
            print(
                f"{label}: {runs[label]['documents']:,} documents tagged, "
                f"{runs[label]['words']:,} words, {runs[label]['wall_s']:.1f} s, "
                f"peak {runs[label]['peak_rss_mib']:,.0f} MiB"
            )
    small, big = runs["tenth"], runs["full"]
    steady = (big["words"] - small["words"]) / (big["wall_s"] - small["wall_s"])
    startup = big["wall_s"] - big["words"] / steady
    server = "configured server" if env.get("PREFECT_API_URL") else "no server (ephemeral)"
    print(f"steady {steady:,.0f} words/s, start-up {startup:.1f} s ({server})")
    if args.json:
        figures = {
            "corpus": str(args.corpus),
            "workers": args.workers,
            "profile": args.profile,
            "prefect": server,
            "runs": {k: {n: round(v, 2) for n, v in r.items()} for k, r in runs.items()},
            "flow_wps": round(steady),
            "startup_s": round(startup, 2),
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
