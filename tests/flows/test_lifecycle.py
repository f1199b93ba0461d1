"""How a run ends when it is stopped or killed: Ctrl-C, SIGTERM, `kill -9` of the main process.
Real `docmill run` processes in Prefect's ephemeral mode (its temporary server is one of the
processes that must not outlive the run); the random-moment figures are bench/crash_trials.py's.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import PROJECT_ROOT
from helpers.corpus_factory import write_corpus

from docmill.tasks import lifeline, schemas
from docmill.tasks.lake.staging import ShardWriter

BATCH = "stopped"


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    """One home for the module's temporary servers: its database is migrated once."""
    return tmp_path_factory.mktemp("prefect-home")


def test_workers_end_when_their_run_closes_the_lifeline():
    reader, writer = multiprocessing.get_context("spawn").Pipe(duplex=False)
    pool = concurrent.futures.ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=lifeline.serve_run,
        initargs=(reader, os.getpid()),
    )
    try:
        worker = psutil.Process(pool.submit(os.getpid).result(timeout=60))
        writer.close()
        _gone, alive = psutil.wait_procs([worker], timeout=5)
        assert not alive, "the worker outlived its lifeline"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def test_a_child_started_through_lifeline_dies_with_its_parent():
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-m', 'docmill.tasks.lifeline',"
            " str(os.getpid()), 'timeit', '-n1', '-r1', '-s', 'import time', 'time.sleep(600)'])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait()
    _gone, alive = psutil.wait_procs([child], timeout=5)
    assert not alive, "the child outlived its parent"


def test_a_stopping_run_completes_no_shard(tmp_path):
    writer = ShardWriter(tmp_path / "shard", batch_id="b")
    writer.write("documents", schemas.BATCH_TABLES["documents"].empty_table())
    lifeline.stop_local_work()
    try:
        with pytest.raises(lifeline.RunGone):
            writer.commit({})
    finally:
        lifeline.resume_local_work()
        writer.abort()
    assert not (tmp_path / "shard").exists()


def _env(tmp_path: Path, prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCMILL_", "PREFECT_API"))}
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
        # Prefect gives its temporary server 20 s to start, too few on a busy CI machine.
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        DOCMILL_DATA_DIR=str(tmp_path / "data"),
        DOCMILL_REFRESH_REPORT="false",
        DOCMILL_MIN_SHARD_DOCS="10",
        DOCMILL_MAX_SHARD_DOCS="10",
    )
    return env


def _run(env: dict, corpus: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "docmill.flows.cli", "run", str(corpus)]
    command += ["--batch-id", BATCH, *extra]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)


def _start(env: dict, corpus: Path) -> subprocess.Popen:
    """`docmill run` in its own process group, as a terminal starts a command."""
    command = [sys.executable, "-m", "docmill.flows.cli", "run", str(corpus)]
    command += ["--batch-id", BATCH, "--workers", "2"]
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_a_tagged_shard(run: subprocess.Popen, data_dir: Path) -> list[psutil.Process]:
    """Wait until a shard is tagged and others are being tagged; the run's processes then."""
    shards = data_dir / "_staging" / BATCH / "shards"
    root = psutil.Process(run.pid)
    seen: dict[int, psutil.Process] = {}
    while run.poll() is None:
        with_marker = list(shards.glob("*/_SUCCESS.json")) if shards.exists() else []
        with contextlib.suppress(psutil.Error):
            seen.update((p.pid, p) for p in root.children(recursive=True))
        if any(".tmp-" not in m.parent.name for m in with_marker):
            return list(seen.values())
        time.sleep(0.05)
    pytest.fail(f"the run ended before a shard was tagged:\n{run.stdout.read()[-3000:]}")


def _documents(data_dir: Path) -> list[str]:
    from docmill.warehouse.query import connect_read_only

    with connect_read_only(data_dir) as con:
        rows = con.execute("select doc_id from documents where batch_id = ?", [BATCH]).fetchall()
    return [doc_id for (doc_id,) in rows]


def _left_alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(" ".join(process.cmdline())[:100])
    return alive


@pytest.mark.model
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_stopped_run_exits_cancelled_and_a_rerun_reuses_its_shards(tmp_path, prefect_home, how):
    env = _env(tmp_path, prefect_home)
    data_dir = tmp_path / "data"
    old = write_corpus(tmp_path / "old", 10)
    published = _run(env, old[0].parent)
    assert published.returncode == 0, published.stderr[-3000:]
    before = sorted(_documents(data_dir))
    assert len(before) == 10

    corpus = tmp_path / "new"
    write_corpus(corpus, 80, seed=16)
    run = _start(env, corpus)
    processes = _wait_for_a_tagged_shard(run, data_dir)
    if how == "ctrl-c":
        os.killpg(run.pid, signal.SIGINT)
    else:
        run.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    try:
        out, _ = run.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail(f"still running 30 s after {how}:\n{run.communicate()[0][-3000:]}")
    # The orderly path, not the last-resort exit after lifecycle.HARD_EXIT_AFTER_S.
    assert time.monotonic() - sent < 10, out[-3000:]
    assert run.returncode == 130, out[-3000:]
    assert "Finished in state Cancelled" in out
    assert "the run was stopped" in out
    time.sleep(max(0.0, sent + 5 - time.monotonic()))
    assert _left_alive(processes) == []
    assert sorted(_documents(data_dir)) == before  # the old version, whole
    if how == "sigterm":
        return  # the rerun is the same as after Ctrl-C (CI time)

    rerun = _run(env, corpus, "--workers", "2")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    documents = _documents(data_dir)
    assert len(documents) == len(set(documents)) == 80
    reused = int(rerun.stdout.split("reused")[1].split()[0])
    assert reused >= 1, rerun.stdout


@pytest.mark.model
def test_killing_the_main_process_leaves_no_worker_or_server(tmp_path, prefect_home):
    env = _env(tmp_path, prefect_home)
    data_dir = tmp_path / "data"
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 80, seed=6)
    run = _start(env, corpus)
    processes = _wait_for_a_tagged_shard(run, data_dir)
    commands = " ".join(" ".join(p.cmdline()) for p in processes)
    assert "uvicorn" in commands and "multiprocessing.spawn" in commands  # server and workers
    run.kill()
    run.wait()
    _gone, alive = psutil.wait_procs(processes, timeout=5)
    assert _left_alive(alive) == []

    rerun = _run(env, corpus, "--workers", "2")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    documents = _documents(data_dir)
    assert len(documents) == len(set(documents)) == 80
