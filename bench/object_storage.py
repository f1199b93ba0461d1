"""What a data directory in an S3-compatible object store costs beside a local one.

    python bench/object_storage.py CORPUS [--workers 2] [--json FILE]

Starts moto's S3 server on 127.0.0.1 (a Python server: every request costs more than on S3 or
MinIO, so the object-store figures are an upper bound), then runs `docmill run CORPUS` into a
fresh local data directory and into a fresh bucket, each timed from outside, and times one
`docmill sql` query on each. The seconds of the run's steps come from its log.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pyarrow.fs as pafs

QUERY = "select label, count(*) from entities group by 1 order by 2 desc limit 3"
STEPS = ("find-duplicates", "publish-batch", "refresh-views", "write-report")
_FINISHED = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) .*Task run '([a-z-]+)-\w+' - Finished")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _docmill(env: dict, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "docmill.flows.cli", *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"docmill {args[0]} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout + done.stderr


def _step_seconds(log: str) -> dict[str, float]:
    """Seconds from one step's end to the next one's, for the steps after tagging."""
    ends = {}
    for line in log.splitlines():
        match = _FINISHED.match(line)
        if match and match.group(2) in STEPS:
            ends[match.group(2)] = datetime.strptime(match.group(1), "%H:%M:%S.%f")
    ordered = [step for step in STEPS if step in ends]
    return {
        f"{before}..{after}": round((ends[after] - ends[before]).total_seconds(), 2)
        for before, after in itertools.pairwise(ordered)
    }


def measure(corpus: Path, workers: int) -> dict:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    work = Path(tempfile.mkdtemp(prefix="docmill-bench-s3-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCMILL_", "PREFECT_API"))}
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        DOCMILL_LOCAL_DIR=str(work / "local-state"),
    )
    try:
        time.sleep(3)
        pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{port}",
            scheme="http",
            region="us-east-1",
            access_key="bench",
            secret_key="bench",
            allow_bucket_creation=True,
        ).create_dir("bench")
        figures = {"corpus": str(corpus), "workers": workers}
        for name, data_dir in (("local", str(work / "data")), ("s3", "s3://bench/docmill")):
            run = ["run", str(corpus), "--data-dir", data_dir, "--workers", str(workers)]
            wall, log = _docmill(env, *run, "--batch-id", "bench")
            query_s, _ = _docmill(env, "sql", QUERY, "--data-dir", data_dir)
            figures[name] = {
                "run_wall_s": round(wall, 2),
                "sql_wall_s": round(query_s, 2),
                "steps_s": _step_seconds(log),
            }
            print(name, json.dumps(figures[name]), flush=True)
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    figures = measure(args.corpus, args.workers)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
