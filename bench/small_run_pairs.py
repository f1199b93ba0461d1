"""A small run on a given lake against the same run on an empty one, in pairs.

    python bench/small_run_pairs.py LAKE CONLL_FILE [--pairs 4] [--skip-sets 6] [--json FILE]

Each pair runs five CoNLL-2003 articles (bench/compaction.py's `--fresh-runs` sets, after the
first `--skip-sets`, which LAKE may hold already) twice, from outside as a user runs it: into a
new empty data directory and into LAKE as a new batch, in alternating order (ABBA) so that the
machine's drift falls on both sides. Both runs tag the same new documents. Prints the medians
and the median of the per-pair ratios lake / empty.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from compaction import fresh_sets, timed_small_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", type=Path)
    parser.add_argument("conll", type=Path)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--skip-sets", type=int, default=6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="docmill-pairs-"))
    try:
        sets = fresh_sets(args.conll, args.skip_sets + args.pairs, work / "sets")
        empty, lake = [], []
        for n, articles in enumerate(sets[args.skip_sets :]):
            order = ("empty", "lake") if n % 2 == 0 else ("lake", "empty")
            for side in order:
                if side == "empty":
                    target = work / f"empty-{n}"
                    empty.append(timed_small_run([articles], target, 1, name=f"pair-{n}"))
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    lake.append(timed_small_run([articles], args.lake, 1, name=f"pair-{n}"))
            print(f"pair {n}: empty {empty[-1]:.2f} s, lake {lake[-1]:.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures = {
        "lake": str(args.lake),
        "empty_s": [round(x, 2) for x in empty],
        "lake_s": [round(x, 2) for x in lake],
        "empty_median_s": round(statistics.median(empty), 2),
        "lake_median_s": round(statistics.median(lake), 2),
        "ratio_median": round(
            statistics.median(b / a for a, b in zip(empty, lake, strict=True)), 3
        ),
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
