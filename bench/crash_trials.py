"""Kill `docmill run` at random moments and check what survives (issue 16's crash test).

    python bench/crash_trials.py CORPUS [--docs 120] [--trials 10] [--kinds tree,main,ctrl-c]
                                 [--workers 2] [--json FILE]

Two overlapping sets of `--docs` files of CORPUS (X, and Y half-way along) are published in
turn as one batch, as a user runs it (no Prefect server configured: Prefect's temporary server);
their row counts are the reference. Each trial starts the run of the other set and, at a random
moment of a full run's length (planning, preparing, duplicates, tagging, publishing), sends
- `tree`: SIGKILL to every process of the run at once (a lost machine),
- `main`: SIGKILL to the main process alone (the OOM killer, `kill -9 PID`),
- `ctrl-c`: SIGINT to its process group (Ctrl-C at the terminal),
then checks: the batch is the old version or the new one, whole (every table's rows as the
reference of one of them); no process of the killed run is alive 5 s after the signal; a rerun
completes with the reference rows of the new set and no duplicate documents. Prints one line
per trial and a summary per kind; `--json` writes them too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from docmill.warehouse.query import connect_read_only

BATCH = "crash"
TABLES = ("documents", "sentences", "tokens", "entities", "rejects")
KINDS = ("tree", "main", "ctrl-c")
LEFTOVER_AFTER_S = 5.0
EXIT_LIMIT_S = 120.0


def batch_rows(data_dir: Path) -> dict[str, int]:
    """Rows of the batch per stored table, and the documents counted once per doc_id."""
    with connect_read_only(data_dir) as con:
        count = "select count(*) from stored.{} where batch_id = ?"
        rows = {t: con.execute(count.format(t), [BATCH]).fetchone()[0] for t in TABLES}
        rows["distinct_documents"] = con.execute(
            "select count(distinct doc_id) from documents where batch_id = ?", [BATCH]
        ).fetchone()[0]
    return rows


class Watched:
    """A `docmill run` in its own process group, every descendant it ever had recorded."""

    def __init__(self, command: list[str], env: dict, log: Path) -> None:
        self.log = log.open("w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.root = psutil.Process(self.proc.pid)
        self.seen: dict[int, psutil.Process] = {}
        self._watching = True
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while self._watching and self.proc.poll() is None:
            self.collect()
            time.sleep(0.1)

    def collect(self) -> None:
        try:
            for child in self.root.children(recursive=True):
                self.seen.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def alive(self) -> list[str]:
        left = []
        for proc in self.seen.values():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(" ".join(proc.cmdline())[:120])
            except psutil.Error:
                pass
        return left

    def stop_watching(self) -> None:
        self._watching = False
        self.log.close()


def run_once(command: list[str], env: dict, log: Path) -> tuple[int, float, str]:
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    return code, time.monotonic() - started, log.read_text()


def trial(kind: str, command: list[str], env: dict, at_s: float, log: Path) -> dict:
    run = Watched(command, env, log)
    deadline = run.started + at_s
    while time.monotonic() < deadline and run.proc.poll() is None:
        time.sleep(0.05)
    if run.proc.poll() is not None:  # finished before its moment came: counted apart
        time.sleep(LEFTOVER_AFTER_S)
        run.stop_watching()
        return {"signalled": False, "exit_code": run.proc.returncode, "leftover": run.alive()}
    run.collect()
    sent = time.monotonic()
    if kind == "tree":
        for proc in [run.root, *run.seen.values()]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
    elif kind == "main":
        run.proc.kill()
    else:
        os.killpg(run.proc.pid, signal.SIGINT)
    try:
        run.proc.wait(EXIT_LIMIT_S)
        exit_s = time.monotonic() - sent
    except subprocess.TimeoutExpired:
        exit_s = None
    time.sleep(max(0.0, sent + LEFTOVER_AFTER_S - time.monotonic()))
    leftover = run.alive()
    run.stop_watching()
    if exit_s is None or leftover:  # clean up for the next trial; the figures keep the count
        for proc in [run.root, *run.seen.values()]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        run.proc.wait()
    return {
        "signalled": True,
        "exit_code": run.proc.returncode,
        "exit_s": None if exit_s is None else round(exit_s, 2),
        "leftover": leftover,
        "cancelled_in_prefect": "Finished in state Cancelled" in log.read_text(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--docs", type=int, default=120)
    parser.add_argument("--trials", type=int, default=10, help="trials per kind")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    # Started in the background by a shell, this script (and every run it starts) would ignore
    # SIGINT, which a run started from a terminal never does; a handler resets it in the runs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = random.Random(args.seed)

    files = sorted(p for p in args.corpus.rglob("*") if p.is_file())
    if len(files) < args.docs * 3 // 2:
        sys.exit(f"{args.corpus}: {len(files)} files; --docs {args.docs} needs 1.5 times as many")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCMILL_", "PREFECT_API"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DOCMILL_REFRESH_REPORT="false")
    # Prefect gives its temporary server 20 s to start, too few on a busy machine.
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    with tempfile.TemporaryDirectory(prefix="docmill-crash-") as work:
        work = Path(work)
        sets = {}
        for name, start in (("X", 0), ("Y", args.docs // 2)):
            folder = work / name
            folder.mkdir()
            for path in files[start : start + args.docs]:
                (folder / path.name).symlink_to(path.resolve())
            sets[name] = folder
        data_dir = work / "data"

        def command(name: str) -> list[str]:
            return [
                *(sys.executable, "-m", "docmill.flows.cli", "run", str(sets[name])),
                *("--batch-id", BATCH, "--data-dir", str(data_dir)),
                *("--workers", str(args.workers)),
            ]

        reference, full_s = {}, []
        for name in ("X", "Y"):
            code, seconds, out = run_once(command(name), env, work / f"setup-{name}.log")
            if code != 0:
                sys.exit(f"the reference run of {name} failed:\n{out[-3000:]}")
            reference[name] = batch_rows(data_dir)
            full_s.append(seconds)
            print(f"reference {name}: {reference[name]} in {seconds:.1f} s", flush=True)
        run_s = max(full_s)

        published, results = "Y", []
        schedule = [kind for _ in range(args.trials) for kind in kinds]
        for n, kind in enumerate(schedule):
            new = "X" if published == "Y" else "Y"
            at_s = rng.uniform(1.0, run_s)
            got = trial(kind, command(new), env, at_s, work / f"trial-{n}.log")
            rows = batch_rows(data_dir)
            versions = {"old": reference[published], "new": reference[new]}
            got["batch_after_kill"] = next((v for v, r in versions.items() if rows == r), "MIXED")
            code, seconds, out = run_once(command(new), env, work / f"rerun-{n}.log")
            rows = batch_rows(data_dir)
            reused = re.search(r"reused (\d+)", out)
            got.update(
                kind=kind,
                at_s=round(at_s, 1),
                rerun_exit_code=code,
                rerun_s=round(seconds, 1),
                rerun_complete=code == 0 and rows == reference[new],
                rerun_shards_reused=int(reused.group(1)) if reused else None,
                duplicates=rows["documents"] - rows["distinct_documents"],
            )
            published = new if code == 0 else published
            results.append(got)
            print(json.dumps(got), flush=True)
            if args.json:  # after every trial, so a run cut short keeps its figures
                payload = {
                    "corpus": str(args.corpus),
                    "docs": args.docs,
                    "workers": args.workers,
                    "full_run_s": round(run_s, 1),
                    "reference_rows": reference,
                    "summary": summarize(results, kinds),
                    "trials": results,
                }
                args.json.write_text(json.dumps(payload, indent=1) + "\n")

    print(json.dumps(summarize(results, kinds), indent=1))


def summarize(results: list[dict], kinds: list[str]) -> dict:
    summary = {}
    for kind in kinds:
        mine = [r for r in results if r["kind"] == kind]
        hit = [r for r in mine if r["signalled"]]
        exits = [r["exit_s"] for r in hit if r["exit_s"] is not None]
        summary[kind] = {
            "trials": len(mine),
            "signalled_while_running": len(hit),
            "batch_old": sum(r["batch_after_kill"] == "old" for r in mine),
            "batch_new": sum(r["batch_after_kill"] == "new" for r in mine),
            "batch_mixed": sum(r["batch_after_kill"] == "MIXED" for r in mine),
            "rerun_complete": sum(r["rerun_complete"] for r in mine),
            "rerun_reused_shards": sum(bool(r["rerun_shards_reused"]) for r in mine),
            "duplicates": sum(r["duplicates"] for r in mine),
            "runs_with_leftover_processes": sum(bool(r["leftover"]) for r in mine),
            "exit_s_median": round(statistics.median(exits), 2) if exits else None,
            "exit_s_max": max(exits) if exits else None,
            "not_exited_in_time": sum(r.get("exit_s", 0) is None for r in hit),
            "cancelled_in_prefect": sum(r.get("cancelled_in_prefect", False) for r in hit),
        }
    return summary


if __name__ == "__main__":
    main()
