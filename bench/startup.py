"""Where the seconds of a small `docmill run` go, from the process's start to its exit.

    python bench/startup.py [SOURCE ...] [--repeat 5] [--lake DIR] [--json FILE]

Each repeat runs `docmill run SOURCE` (default: seeds/) into a fresh data directory (with
`--lake DIR`: into that lake, as a new batch each time, to see what a lake's size costs) in a child
process that marks the moments of interest: the command line parsed, the flow module imported,
Prefect's temporary server asked for and answering, the flow's body entered, the model loaded,
views, publish, report and artifacts, the flow returned, the temporary server stopped and the
process gone. The marks come from wrapping the functions involved (this file only; docmill is
not changed to be measured), so each phase is wall time as the run spends it, threads
included. No Prefect server is configured unless PREFECT_API_URL is set, as for a newcomer's
first `docmill run`; Prefect's database lives in a PREFECT_HOME made for the benchmark and kept
across repeats (its migrations are paid once, in an unrecorded first run).

Prints the median of each phase over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

# Runs in the child: wraps functions so that each call writes "<label> <seconds since start>".
CHILD = r"""
import functools, os, sys, time, threading
T0 = float(os.environ["STARTUP_T0"])
MARKS = open(os.environ["STARTUP_MARKS"], "a", buffering=1)

def mark(label):
    MARKS.write(f"{label} {time.time() - T0:.3f}\n")

def wrap(module, name, label):
    original = getattr(module, name)
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        mark(label + ":begin")
        try:
            return original(*args, **kwargs)
        finally:
            mark(label + ":end")
    setattr(module, name, wrapper)
    return original

mark("interpreter")
import docmill.flows.cli as cli
mark("cli imported")

class Finder:
    # Marks the import of a module where docmill does it (not earlier), then instruments it.
    def __init__(self, hooks):
        self.hooks = hooks
        self.busy = False

    def find_spec(self, name, path=None, target=None):
        if name not in self.hooks or self.busy:
            return None
        import importlib.util
        self.busy = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.busy = False
        inner, hook = spec.loader, self.hooks.pop(name)

        class Loader:
            def create_module(self, spec):
                return inner.create_module(spec)

            def exec_module(self, module):
                mark(f"{name} import:begin")
                inner.exec_module(module)
                mark(f"{name} import:end")
                hook(module)

        spec.loader = Loader()
        return spec


def instrument_server(server):
    wrap(server.SubprocessASGIServer, "start", "temporary server")
    wrap(server.SubprocessASGIServer, "stop", "stop server")


def instrument_batch(batch):
    from docmill.tasks.nlp import pipeline
    from docmill.tasks.passes import tag
    wrap(batch, "refresh_views_task", "views")
    wrap(batch, "publish_task", "publish")
    wrap(batch, "write_report_task", "report")
    wrap(batch, "publish_artifacts", "artifacts")
    wrap(batch, "_run_shards", "shards")
    wrap(batch, "find_duplicates_task", "dedup")
    loader = pipeline.load_pipeline
    def load(*args, **kwargs):
        hit = loader.cache_info().hits
        mark("model load:begin")
        try:
            return loader(*args, **kwargs)
        finally:
            mark("model load:end" if loader.cache_info().hits == hit else "model cached")
    load.cache_info = loader.cache_info
    load.cache_clear = loader.cache_clear
    pipeline.load_pipeline = tag.load_pipeline = load


def instrument_process(process):
    wrap(process, "run_batch", "flow body")
    wrap(process, "process_documents", "flow call")


HOOKS = {
    "docmill.flows.batch": instrument_batch,
    "docmill.flows.process": instrument_process,
    "prefect.server.api.server": instrument_server,
}
sys.meta_path.insert(0, Finder(HOOKS))
import atexit
atexit.register(lambda: mark("atexit"))
code = cli.main(sys.argv[1:])
mark("main returned")
sys.exit(code)
"""


def one_run(
    sources: list[str], data_dir: Path, batch_id: str | None, env: dict
) -> dict[str, float]:
    batch = ["--batch-id", batch_id] if batch_id else []
    with tempfile.NamedTemporaryFile("r", suffix=".marks") as marks:
        t0 = time.time()
        child_env = {**env, "STARTUP_T0": repr(t0), "STARTUP_MARKS": marks.name}
        done = subprocess.run(
            [sys.executable, "-c", CHILD, "run", *sources, "--data-dir", str(data_dir), *batch],
            env=child_env,
            capture_output=True,
            text=True,
            cwd=PROJECT,
        )
        gone = time.time() - t0
        if done.returncode != 0:
            raise SystemExit(f"docmill run failed:\n{done.stderr[-3000:]}")
        lines = marks.read().splitlines()
    points: dict[str, float] = {}
    for line in lines:
        label, seconds = line.rsplit(" ", 1)
        points.setdefault(label, float(seconds))
    points["exit"] = gone
    return points


# The phase that ends at each mark. Phases are taken in the order the marks come (which the
# code under test decides), so they add up to the run's wall time whatever that order.
PHASE_ENDING_AT = {
    "cli imported": "interpreter, import docmill.flows.cli",
    "prefect.server.api.server import:begin": "until Prefect's server module is imported",
    "prefect.server.api.server import:end": "import Prefect's server module",
    "temporary server:begin": "until the temporary server is started",
    "docmill.flows.process import:begin": "until the flow module is imported",
    "docmill.flows.process import:end": "import the flow module (Prefect, pyarrow, ...)",
    "model load:begin": "until the model is loaded",
    "model load:end": "load the model (spaCy's import included)",
    "temporary server:end": "wait for the temporary server to answer",
    "flow call:begin": "until the flow is called",
    "flow body:begin": "flow called until its body runs",
    "shards:begin": "plan",
    "dedup:begin": "shards: prepare",
    "dedup:end": "shards: find duplicates (earlier batches' signatures read)",
    "shards:end": "shards: tag",
    "views:begin": "until the views",
    "views:end": "views",
    "publish:begin": "until the publish",
    "publish:end": "publish",
    "report:begin": "until the report",
    "report:end": "report",
    "artifacts:end": "artifacts",
    "flow body:end": "rest of the flow body",
    "flow call:end": "until the flow returns",
    "main returned": "summary printed",
    "exit": "exit: temporary server stopped, interpreter ends",
}


def phases(points: dict[str, float]) -> dict[str, float]:
    """The phases of one run in seconds, in the order they happened, and the total."""
    marks = sorted((t, m) for m, t in points.items() if m in PHASE_ENDING_AT)
    out, before = {}, 0.0
    for seconds, mark in marks:
        out[PHASE_ENDING_AT[mark]] = round(seconds - before, 3)
        before = seconds
    out["total"] = round(points["exit"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="*", default=[str(PROJECT / "seeds")])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lake", type=Path, help="run into this lake, a new batch per repeat")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with tempfile.TemporaryDirectory(prefix="docmill-startup-") as work:
        work = Path(work)
        env.setdefault("PREFECT_HOME", str(work / "prefect"))
        # The first start creates the database, which on a busy machine outlasts Prefect's
        # default limit of 20 s.
        env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
        one_run(args.sources, work / "warm-up", None, env)
        stamp = time.strftime("%H%M%S")

        def target(n: int) -> tuple[Path, str | None]:
            """Into the given lake as a new batch, else a fresh data directory."""
            if args.lake:
                return args.lake, f"startup-{stamp}-{n}"
            return work / f"run-{n}", None

        runs = [phases(one_run(args.sources, *target(n), env)) for n in range(args.repeat)]
    median = {k: round(statistics.median(r.get(k, 0.0) for r in runs), 2) for k in runs[0]}
    width = max(map(len, median))
    for name, seconds in median.items():
        print(f"{name:<{width}}  {seconds:6.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"median": median, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
