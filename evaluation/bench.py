"""`docmill bench CORPUS`: the whole flow against bare spaCy on the same cleaned texts.

Bare spaCy runs in this process (one process, then `n_process=N`). The flow runs as a user runs
it — `docmill run` in a subprocess, timed from outside, against a Prefect server the bench starts
(unless PREFECT_API_URL is set) — twice: on a tenth of the input and on all of it. The
difference of the two gives the steady rate; what remains of the full run is start-up.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from docmill.tasks.clean.steps import DEFAULT_STEPS, clean_document, paragraph_spans
from docmill.tasks.ingest.read import plan_items, read_items
from docmill.tasks.ingest.sources import resolve_sources
from docmill.tasks.nlp.pipeline import load_pipeline
from docmill.tasks.options import (
    DEFAULT_DEDUP,
    DEFAULT_MODEL,
    DEFAULT_PROFILE,
    DEFAULT_TASK_RUNNER,
    DedupMode,
    Profile,
    TaskRunnerKind,
)
from docmill.tasks.records import ItemRejected


def load_corpus(corpus: str) -> tuple[list[dict], list[str]]:
    """JSONL-ready records (raw title and text) and the cleaned texts the flow will tag."""
    records, cleaned = [], []
    for item, outcome in read_items(plan_items(resolve_sources([corpus]))):
        if isinstance(outcome, ItemRejected):
            continue
        doc = clean_document(outcome, steps=DEFAULT_STEPS)
        if doc.text:
            records.append({"id": item.doc_id, "title": outcome.title, "text": outcome.text})
            cleaned.append(doc.text)
    return records, cleaned


def bare_spacy(
    texts: list[str], *, model: str, profile: str, n_process: int, batch_components: bool = False
) -> float:
    """Seconds for `nlp.pipe` over `texts` (model already loaded, not timed): spaCy's own
    pipeline, or with `batch_components` the one the flow's workers run."""
    nlp = load_pipeline(model, profile, batch_components)
    start = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=64, n_process=n_process):
        pass
    return time.perf_counter() - start


class TreeMemory:
    """Peak resident memory of a process and all its descendants, sampled every 100 ms."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        # Peak of each process on its own, to say which part grows (the flow process or a
        # worker) when the tree's peak does.
        self.peak_by_process: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                total += rss
                self.peak_by_process[proc.pid] = max(self.peak_by_process.get(proc.pid, 0), rss)
            self.peak = max(self.peak, total)
            self._stop.wait(0.1)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def timed_docmill_run(command: list[str], env: dict) -> tuple[float, TreeMemory]:
    """Run a `docmill run` command; its wall seconds and the (stopped) memory sampler of its
    process tree. Raises RuntimeError with the end of its stderr when it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    memory = TreeMemory(proc.pid)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    memory.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"docmill run failed:\n{err.decode()[-3000:]}")
    return wall, memory


def run_flow(
    input_path: Path,
    data_dir: Path,
    *,
    workers: int,
    profile: str,
    model: str,
    env: dict,
    dedup: DedupMode = DEFAULT_DEDUP,
    task_runner: TaskRunnerKind = DEFAULT_TASK_RUNNER,
    dask_address: str | None = None,
) -> dict:
    """`docmill run` timed from outside; returns wall seconds, peak tree memory and its runs row.

    Duplicates are found (the cost of dedup counts) but tagged anyway, so the flow tags the
    same words as bare spaCy and `--repeat` copies are not skipped as duplicates.
    """
    command = [sys.executable, "-m", "docmill.flows.cli", "run", str(input_path)]
    command += ["--data-dir", str(data_dir), "--workers", str(workers)]
    command += ["--profile", profile, "--model", model, "--batch-id", "bench"]
    command += ["--dedup", dedup, "--tag-duplicates", "--task-runner", task_runner]
    if dask_address:
        command += ["--dask-address", dask_address]
    wall, memory = timed_docmill_run(command, env)
    flow_peak = memory.peak_by_process.get(memory.root.pid, 0)
    children = sorted(
        (rss for pid, rss in memory.peak_by_process.items() if pid != memory.root.pid),
        reverse=True,
    )
    from docmill.warehouse.query import connect_read_only

    with connect_read_only(data_dir) as con:
        row = con.execute(
            "select counters_json, n_documents from runs where status = 'completed'"
        ).fetchone()
    return {
        "wall_s": wall,
        "peak_rss": memory.peak,
        "peak_rss_flow": flow_peak,
        "peak_rss_children": children,
        "counters": json.loads(row[0]),
        "docs": row[1],
    }


@contextmanager
def prefect_server(env: dict) -> Iterator[dict]:
    """A temporary Prefect server on 127.0.0.1, unless the environment names one."""
    if env.get("PREFECT_API_URL"):
        yield env
        return
    home = tempfile.mkdtemp(prefix="docmill-bench-prefect-")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server_env = {**env, "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the Prefect server for the bench did not start") from None
                time.sleep(0.5)
        yield {**server_env, "PREFECT_API_URL": url}
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(home, ignore_errors=True)


def run_bench(
    corpus: str,
    *,
    repeat: int = 1,
    workers: int = 2,
    profile: Profile = DEFAULT_PROFILE,
    model: str = DEFAULT_MODEL,
    dedup: DedupMode = DEFAULT_DEDUP,
    task_runner: TaskRunnerKind = DEFAULT_TASK_RUNNER,
    dask_address: str | None = None,
    progress=print,
) -> dict:
    records, cleaned = load_corpus(corpus)
    words_per_doc = [len(t.split()) for t in cleaned]
    words_once = sum(words_per_doc)
    progress(f"corpus: {len(records)} documents, {words_once:,} words (x{repeat} for the flow)")

    bare_1 = bare_spacy(cleaned, model=model, profile=profile, n_process=1)
    progress(f"bare spaCy, 1 process: {words_once / bare_1:,.0f} words/s")
    bare_n = bare_spacy(cleaned, model=model, profile=profile, n_process=workers)
    progress(f"bare spaCy, n_process={workers}: {words_once / bare_n:,.0f} words/s")
    # The flow hands spaCy one paragraph at a time; bare spaCy on the same pieces shows how much
    # of the difference is that choice rather than the flow around it.
    paragraphs = [text[s:e] for text in cleaned for s, e in paragraph_spans(text)]
    bare_p = bare_spacy(paragraphs, model=model, profile=profile, n_process=1)
    progress(f"bare spaCy over paragraphs, 1 process: {words_once / bare_p:,.0f} words/s")
    # The workers replace two of spaCy's components by batch versions with identical output;
    # the same pipeline bare shows that gain apart from the cost of the flow around it.
    bare_b = bare_spacy(
        paragraphs, model=model, profile=profile, n_process=1, batch_components=True
    )
    progress(
        f"docmill's spaCy pipeline over paragraphs, 1 process: {words_once / bare_b:,.0f} words/s"
    )

    work = Path(tempfile.mkdtemp(prefix="docmill-bench-"))
    try:
        full = work / "full.jsonl"
        tenth = work / "tenth.jsonl"
        n_tenth = max(1, len(records) * repeat // 10)
        with full.open("w") as f_full, tenth.open("w") as f_tenth:
            written = 0
            for copy in range(repeat):
                for rec in records:
                    line = json.dumps({**rec, "id": f"{copy}-{rec['id']}"}) + "\n"
                    f_full.write(line)
                    if written < n_tenth:
                        f_tenth.write(line)
                    written += 1
        words_full = words_once * repeat
        words_tenth = sum(words_per_doc[i % len(records)] for i in range(n_tenth))
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
        with prefect_server(env) as flow_env:
            options = {
                "workers": workers,
                "profile": profile,
                "model": model,
                "dedup": dedup,
                "task_runner": task_runner,
                "dask_address": dask_address,
            }
            small = run_flow(tenth, work / "d1", env=flow_env, **options)
            progress(f"flow on a tenth: {small['wall_s']:.1f} s")
            big = run_flow(full, work / "d2", env=flow_env, **options)
            progress(f"flow on all: {big['wall_s']:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    steady = (words_full - words_tenth) / max(big["wall_s"] - small["wall_s"], 1e-9)
    startup = big["wall_s"] - words_full / steady
    wps_1, wps_n, wps_p = words_once / bare_1, words_once / bare_n, words_once / bare_p
    wps_b = words_once / bare_b
    stages = big["counters"].get("seconds", {})
    flow_stages = big["counters"].get("flow_seconds", {})
    busy = sum(stages.values()) / workers
    return {
        "corpus": str(corpus),
        "documents": len(records) * repeat,
        "words": words_full,
        "repeat": repeat,
        "workers": workers,
        "task_runner": task_runner,
        "profile": profile,
        "dedup": dedup,
        "model": model,
        "bare_wps_1proc": round(wps_1),
        "bare_wps_nproc": round(wps_n),
        "bare_wps_1proc_paragraphs": round(wps_p),
        "pipeline_wps_1proc_paragraphs": round(wps_b),
        "flow_wps": round(steady),
        "flow_docs_per_s": round(steady * len(records) / max(words_once, 1), 1),
        "flow_wall_s": round(big["wall_s"], 2),
        "ratio_limit": round(steady / (workers * wps_1), 3),
        "ratio_nproc": round(steady / wps_n, 3),
        "ratio_limit_paragraphs": round(steady / (workers * wps_p), 3),
        "ratio_pipeline": round(steady / (workers * wps_b), 3),
        "startup_s": round(startup, 2),
        "peak_rss_mib": round(big["peak_rss"] / 2**20),
        "peak_rss_mib_flow_process": round(big["peak_rss_flow"] / 2**20),
        "peak_rss_mib_children": [round(rss / 2**20) for rss in big["peak_rss_children"]],
        "stage_seconds_summed_over_workers": stages,
        "flow_seconds": flow_stages,
        "prefect_and_other_s": round(flow_stages.get("shards_wall", 0) - busy, 2),
    }


def format_report(figures: dict) -> str:
    lines = [
        f"docmill bench: {figures['documents']:,} documents, {figures['words']:,} words, "
        f"{figures['workers']} workers, profile {figures['profile']}, "
        f"dedup {figures.get('dedup', 'near')}",
        f"  bare spaCy, 1 process        {figures['bare_wps_1proc']:>9,} words/s",
        f"  bare spaCy, n_process={figures['workers']}       "
        f"{figures['bare_wps_nproc']:>9,} words/s",
        f"  bare spaCy over paragraphs   {figures['bare_wps_1proc_paragraphs']:>9,} words/s",
        f"  docmill pipeline, paragraphs {figures['pipeline_wps_1proc_paragraphs']:>9,} words/s",
        f"  docmill flow (steady)        {figures['flow_wps']:>9,} words/s "
        f"({figures['flow_docs_per_s']} docs/s)",
        f"  flow / ({figures['workers']} x bare 1 process)  {figures['ratio_limit']:>9.3f}",
        f"  flow / bare n_process        {figures['ratio_nproc']:>9.3f}",
        f"  flow / ({figures['workers']} x bare paragraphs)  "
        f"{figures['ratio_limit_paragraphs']:>9.3f}",
        f"  flow / ({figures['workers']} x docmill pipeline)  {figures['ratio_pipeline']:>9.3f}",
        f"  start-up (fixed cost)        {figures['startup_s']:>9.1f} s",
        f"  peak memory, process tree    {figures['peak_rss_mib']:>9,} MiB",
        f"    each process at its peak: flow {figures['peak_rss_mib_flow_process']:,} MiB, "
        + "children "
        + ", ".join(f"{mib:,}" for mib in figures["peak_rss_mib_children"])
        + " MiB",
        f"  full flow run                {figures['flow_wall_s']:>9.1f} s",
        "  time per stage (s, summed over workers): "
        + ", ".join(f"{k} {v}" for k, v in figures["stage_seconds_summed_over_workers"].items()),
        "  flow (s): "
        + ", ".join(f"{k} {v}" for k, v in figures["flow_seconds"].items())
        + f"; Prefect and other {figures['prefect_and_other_s']}",
    ]
    return "\n".join(lines)
