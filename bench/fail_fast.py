"""Seconds from `docmill run` starting to its exit, for each mistake it should refuse at once.

    python bench/fail_fast.py [--repeat 5] [--json FILE]

Each case runs `python -m docmill.flows.cli run ...` in a fresh process, timed from outside
(interpreter start-up included), into fresh temporary folders; no Prefect server is configured
unless PREFECT_API_URL is set (as for a newcomer). Prints, per case, the median, minimum and
maximum seconds, the exit code and the first line of stderr that starts with `docmill:` (or the
last line, if none does), and how many lines stderr had.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SEEDS = str(PROJECT / "seeds")

# name -> (arguments after `docmill run`, extra environment); DATA is a fresh folder,
# READ_ONLY one this process cannot write in.
CASES: dict[str, tuple[list[str], dict[str, str]]] = {
    "model not installed": ([SEEDS, "--model", "nope", "--data-dir", "DATA"], {}),
    "--batch-id with nothing recorded": (["--batch-id", "b2", "--data-dir", "DATA"], {}),
    "unknown --quality name": ([SEEDS, "--quality", "nope=3", "--data-dir", "DATA"], {}),
    "data directory not writable": ([SEEDS, "--data-dir", "READ_ONLY/data"], {}),
    "malformed --catalog": ([SEEDS, "--catalog", "mysql://db/x", "--data-dir", "DATA"], {}),
    "malformed DOCMILL_CATALOG": (
        [SEEDS, "--data-dir", "DATA"],
        {"DOCMILL_CATALOG": "postgresql://db.internal"},
    ),
    "malformed S3 endpoint": (
        [SEEDS, "--data-dir", "s3://news/docmill"],
        {"DOCMILL_S3_ENDPOINT_URL": "minio:9000"},
    ),
    "malformed --dask-address": (
        [SEEDS, "--task-runner", "dask", "--dask-address", "nonsense::", "--data-dir", "DATA"],
        {},
    ),
}


@contextlib.contextmanager
def read_only_folder(parent: Path) -> Iterator[Path]:
    """A folder this process cannot write in: a read-only bind mount as root, else chmod."""
    folder = parent / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    subprocess.run(["mount", "--bind", folder, folder], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", folder, folder], check=True)
        yield folder
    finally:
        subprocess.run(["umount", folder], check=True)


def one_run(args: list[str], env: dict[str, str], work: Path, read_only: Path) -> dict:
    data = Path(tempfile.mkdtemp(dir=work)) / "data"
    given = [
        a.replace("READ_ONLY", str(read_only)) if a.startswith("READ_ONLY") else a for a in args
    ]
    given = [str(data) if a == "DATA" else a for a in given]
    command = [sys.executable, "-m", "docmill.flows.cli", "run", *given]
    clock = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - clock
    lines = done.stderr.strip().splitlines()
    said = next((line for line in lines if line.startswith("docmill:")), lines[-1] if lines else "")
    return {"seconds": seconds, "exit": done.returncode, "stderr_lines": len(lines), "says": said}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    base.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    results = {}
    with tempfile.TemporaryDirectory(prefix="docmill-fail-fast-") as work:
        work = Path(work)
        base.setdefault("PREFECT_HOME", str(work / "prefect"))
        with read_only_folder(work) as read_only:
            for name, (case_args, extra) in CASES.items():
                env = {**base, **extra}
                runs = [one_run(case_args, env, work, read_only) for _ in range(args.repeat)]
                seconds = [r["seconds"] for r in runs]
                results[name] = {
                    "median_s": round(statistics.median(seconds), 2),
                    "min_s": round(min(seconds), 2),
                    "max_s": round(max(seconds), 2),
                    "exit": sorted({r["exit"] for r in runs}),
                    "stderr_lines": max(r["stderr_lines"] for r in runs),
                    "says": runs[-1]["says"][:160],
                }
                print(
                    f"{name:<34} {results[name]['median_s']:6.2f} s (min {min(seconds):.2f}, "
                    f"max {max(seconds):.2f})  exit {results[name]['exit']}  "
                    f"{results[name]['stderr_lines']} line(s): {results[name]['says'][:90]}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
