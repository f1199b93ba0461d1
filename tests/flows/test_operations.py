"""Operating docmill: served deployments triggered like the UI does, reruns, retries after a
SIGKILL, the inbox, concurrent runs and crash points. Real Prefect server, real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from conftest import PROJECT_ROOT, SEED_ARTICLE, SEEDS
from helpers.corpus_factory import write_corpus

from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.locks import batch_is_locked
from docmill.warehouse.query import connect_read_only

pytestmark = [pytest.mark.prefect, pytest.mark.model]

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class Served:
    data_dir: Path
    inbox: Path
    process: subprocess.Popen
    env: dict[str, str]


def _env(api_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        DOCMILL_DATA_DIR=str(data_dir),
        DOCMILL_GC_GRACE_SECONDS="0",
        **extra,
    )
    return env


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


@pytest.fixture(scope="module")
def served(prefect_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    inbox = root / "inbox"
    inbox.mkdir()
    env = _env(prefect_server, root / "data", DOCMILL_INBOX=str(inbox))
    log = open(root / "serve.log", "w")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        [sys.executable, "-m", "docmill.flows.cli", "serve"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    with _client() as client:
        while True:
            try:
                client.read_deployment_by_name("process-inbox/process-inbox")
                break
            except Exception:
                assert process.poll() is None, (root / "serve.log").read_text()
                assert time.monotonic() < deadline, "deployments never appeared"
                time.sleep(0.5)
    yield Served(root / "data", inbox, process, env)
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()


def _trigger(deployment: str, parameters: dict) -> str:
    """Start a run the way the UI's custom run does."""
    with _client() as client:
        dep = client.read_deployment_by_name(f"{deployment}/{deployment}")
        return str(client.create_flow_run_from_deployment(dep.id, parameters=parameters).id)


def _wait(run_id: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    with _client() as client:
        while time.monotonic() < deadline:
            state = client.read_flow_run(run_id).state
            if state and state.type.value in FINAL:
                return state.type.value
            time.sleep(0.5)
    raise AssertionError(f"flow run {run_id} did not finish in {timeout} s")


def _rows(data_dir: Path, sql: str, params=()) -> list[tuple]:
    con = connect_read_only(data_dir)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _batch_snapshot(data_dir: Path, batch_id: str) -> dict[str, list]:
    snap = {}
    for view in ("documents", "sentences", "tokens", "entities", "rejects"):
        keep = "doc_id, text" if view == "documents" else "*"
        if view == "rejects":
            keep = "source_uri, reason"
        join = "" if view in ("documents", "rejects") else " join documents d using (doc_id)"
        where = "batch_id" if view in ("documents", "rejects") else "d.batch_id"
        cols = keep if view in ("documents", "rejects") else f"{view}.doc_id, {view}.start_char"
        snap[view] = sorted(
            _rows(data_dir, f"select {cols} from {view}{join} where {where} = ?", [batch_id])
        )
    return snap


def _unique_doc_ids(data_dir: Path) -> bool:
    [(n, distinct)] = _rows(data_dir, "select count(*), count(distinct doc_id) from documents")
    return n == distinct


def test_custom_run_publishes_and_a_rerun_changes_nothing(served):
    run = _trigger("process-documents", {"sources": [str(SEEDS)], "batch_id": "ui-seeds"})
    assert _wait(run) == "COMPLETED"
    [(n_sent,)] = _rows(
        served.data_dir,
        "select n_sentences from documents where batch_id = 'ui-seeds' and source_uri like ?",
        [f"%{SEED_ARTICLE.name}"],
    )
    assert n_sent == 17
    with _client() as client:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run]))
        )
    kinds = {(a.type, a.key) for a in artifacts}
    assert {("markdown", "batch-ui-seeds"), ("table", "batch-ui-seeds-shards")} <= kinds
    summary = next(a.data for a in artifacts if a.type == "markdown")
    assert "Top entities" in summary and "China (GPE)" in summary
    before = _batch_snapshot(served.data_dir, "ui-seeds")
    again = _trigger(
        "process-documents", {"sources": [str(SEEDS)], "batch_id": "ui-seeds", "force": True}
    )
    assert _wait(again) == "COMPLETED"
    assert _batch_snapshot(served.data_dir, "ui-seeds") == before
    assert _unique_doc_ids(served.data_dir)


def test_rerun_without_sources_processes_the_recorded_items(served, tmp_path):
    folder = tmp_path / "feed"
    write_corpus(folder, 3)
    run = _trigger("process-documents", {"sources": [str(folder)], "batch_id": "recorded"})
    assert _wait(run) == "COMPLETED"
    write_corpus(folder / "later", 2, seed=99)
    rerun = _trigger("process-documents", {"batch_id": "recorded", "force": True})
    assert _wait(rerun) == "COMPLETED"
    rows = _rows(served.data_dir, "select count(*) from documents where batch_id = 'recorded'")
    assert rows == [(3,)]


def test_inbox_takes_each_item_once(served):
    write_corpus(served.inbox, 2, seed=1)
    assert _wait(_trigger("process-inbox", {})) == "COMPLETED"
    write_corpus(served.inbox / "more", 3, seed=2)
    assert _wait(_trigger("process-inbox", {})) == "COMPLETED"
    assert _wait(_trigger("process-inbox", {})) == "COMPLETED"
    per_batch = _rows(
        served.data_dir,
        "select batch_id, count(*) from documents where batch_id like 'inbox-%' "
        "group by 1 order by 1",
    )
    assert [n for _, n in per_batch] == [2, 3]
    statuses = _rows(
        served.data_dir,
        "select status from runs where batch_id like 'inbox-%' order by started_at",
    )
    assert [s for (s,) in statuses] == ["completed", "completed", "nothing_new"]
    assert _unique_doc_ids(served.data_dir)


def _flow_run_process(run_id: str, timeout: float = 60) -> psutil.Process:
    """The process executing a flow run (the served runner starts one per run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in psutil.process_iter():
            try:
                if proc.environ().get("PREFECT__FLOW_RUN_ID") == run_id:
                    return proc
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
        time.sleep(0.2)
    raise AssertionError(f"no process is executing flow run {run_id}")


def test_sigkill_mid_batch_then_retry_completes_without_duplicates(served, tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    write_corpus(small, 2, seed=3)
    write_corpus(big, 240, seed=4)
    first = _trigger("process-documents", {"sources": [str(small)], "batch_id": "crash"})
    assert _wait(first) == "COMPLETED"
    before = _batch_snapshot(served.data_dir, "crash")
    assert len(before["documents"]) == 2

    run = _trigger("process-documents", {"sources": [str(big)], "batch_id": "crash", "workers": 1})
    victim = _flow_run_process(run)
    shards = served.data_dir / "_staging" / "crash" / "shards"
    deadline = time.monotonic() + 120
    # A finished shard: its marker in its final folder, not in the private `.tmp-` folder the
    # writer renames after the marker (a kill in between leaves nothing to reuse).
    while not [m for m in shards.glob("*/_SUCCESS.json") if ".tmp-" not in m.parent.name]:
        assert time.monotonic() < deadline, "no shard finished"
        time.sleep(0.1)
    victim.kill()
    assert _wait(run) in {"CRASHED", "FAILED"}

    assert _batch_snapshot(served.data_dir, "crash") == before
    assert _unique_doc_ids(served.data_dir)

    from prefect.states import AwaitingRetry

    with _client() as client:
        client.set_flow_run_state(run, AwaitingRetry(), force=True)
    assert _wait(run) == "COMPLETED"
    assert _rows(served.data_dir, "select count(*) from documents where batch_id = 'crash'") == [
        (240,)
    ]
    [(reused, status)] = _rows(
        served.data_dir, "select n_shards_reused, status from runs where run_id = ?", [run]
    )
    assert status == "completed" and reused >= 1
    assert _unique_doc_ids(served.data_dir)


def _cli_run(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "docmill.flows.cli", "run", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "crash_at", ["shard_writing", "publish_before_commit", "publish_after_commit"]
)
def test_killed_at_any_point_the_published_batch_stays_intact(prefect_server, tmp_path, crash_at):
    data_dir = tmp_path / "data"
    env = _env(prefect_server, data_dir)
    assert _cli_run(env, str(SEED_ARTICLE), "--batch-id", "cp").returncode == 0
    before = _batch_snapshot(data_dir, "cp")
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 12)

    crashed = _cli_run({**env, "DOCMILL_CRASH_AT": crash_at}, str(corpus), "--batch-id", "cp")
    assert crashed.returncode == -signal.SIGKILL

    after_crash = _batch_snapshot(data_dir, "cp")
    if crash_at == "publish_after_commit":
        assert len(after_crash["documents"]) == 12
    else:
        assert after_crash == before
    assert _unique_doc_ids(data_dir)

    rerun = _cli_run(env, str(corpus), "--batch-id", "cp")
    assert rerun.returncode == 0, rerun.stderr
    assert len(_batch_snapshot(data_dir, "cp")["documents"]) == 12
    assert _unique_doc_ids(data_dir)
    assert _rows(data_dir, "select count(*) from stored.batches where batch_id = 'cp'") == [(1,)]
    runs = _rows(data_dir, "select status from runs where batch_id = 'cp' order by started_at")
    # The killed run published nothing and recorded nothing (SIGKILL), unless it had committed.
    assert runs[-1] == ("completed",)


def test_second_concurrent_run_of_a_batch_fails_clearly(prefect_server, tmp_path):
    data_dir = tmp_path / "data"
    env = _env(prefect_server, data_dir)
    corpus = tmp_path / "corpus"
    # Big enough that the first run still holds the batch when the second one starts.
    write_corpus(corpus, 1000, sentences=12)
    first = subprocess.Popen(
        [sys.executable, "-m", "docmill.flows.cli", "run", str(corpus), "--batch-id", "busy"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    layout = Layout(data_dir)
    deadline = time.monotonic() + 120
    while not batch_is_locked(layout, "busy"):
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    second = _cli_run(env, str(corpus), "--batch-id", "busy")
    assert first.poll() is None, "the first run ended before the second tried; test too small"
    assert second.returncode == 1
    last_line = second.stderr.strip().splitlines()[-1]
    assert last_line.startswith("docmill:") and "being processed by another run" in last_line
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert _rows(data_dir, "select count(*) from documents where batch_id = 'busy'") == [(1000,)]
    assert _unique_doc_ids(data_dir)
