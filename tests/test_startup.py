"""A small run starts sooner and writes the same rows: a batch of one shard tags on a thread of
the flow's process, whatever the workers; with no Prefect server configured, `docmill run`
starts Prefect's temporary server in the background and meanwhile loads the model it will tag
with (bench/startup.py measures the seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, SEEDS
from test_dask import view_contents

from docmill.flows.settings import Settings


@pytest.mark.parametrize(
    ("workers", "n_shards", "runner"),
    [
        (1, 1, "ThreadPoolTaskRunner"),
        (1, 8, "ThreadPoolTaskRunner"),
        (2, 1, "ThreadPoolTaskRunner"),
        (2, 8, "ProcessPoolTaskRunner"),
        (4, 2, "ProcessPoolTaskRunner"),
    ],
)
def test_where_the_shards_run(workers: int, n_shards: int, runner: str) -> None:
    from docmill.flows.process import _task_runner

    chosen = _task_runner(Settings(workers=workers), n_shards)
    assert type(chosen).__name__ == runner
    if runner == "ProcessPoolTaskRunner":
        assert chosen._max_workers == min(workers, n_shards)


@pytest.mark.model
def test_the_preloaded_model_is_the_one_a_shard_gets() -> None:
    from docmill.flows.startup import preload, tags_in_this_process
    from docmill.tasks import shard

    settings = Settings(profile="fast")
    assert tags_in_this_process(settings)
    preload(settings)
    hits = shard.load_pipeline.cache_info().hits
    nlp = shard.load_pipeline(settings.model, settings.profile)  # as process_shard calls it
    assert shard.load_pipeline.cache_info().hits == hits + 1
    assert "senter" in nlp.pipe_names and not nlp.has_pipe("parser")


@pytest.fixture(scope="module")
def in_a_worker_process(prefect_server, tmp_path_factory) -> dict[str, list[tuple]]:
    """The views of seeds/ tagged the way a batch of one shard was with --workers 2 before: in
    a worker process of its own."""
    from prefect.task_runners import ProcessPoolTaskRunner

    from docmill.flows import process

    data_dir = tmp_path_factory.mktemp("worker-process") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(process, "_task_runner", lambda *_: ProcessPoolTaskRunner(max_workers=1))
        summary = process.process_documents(
            sources=[str(SEEDS)], batch_id="seeds", data_dir=str(data_dir), workers=2
        )
    assert summary["status"] == "completed" and summary["n_shards"] == 1
    return view_contents(data_dir)


@pytest.mark.prefect
@pytest.mark.model
def test_a_batch_of_one_shard_tags_in_process_with_the_same_rows(
    in_a_worker_process, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docmill.flows import process

    chosen = []
    choose = process._task_runner
    monkeypatch.setattr(process, "_task_runner", lambda *a: chosen.append(choose(*a)) or chosen[-1])
    summary = process.process_documents(
        sources=[str(SEEDS)], batch_id="seeds", data_dir=str(tmp_path / "data"), workers=2
    )
    assert [type(runner).__name__ for runner in chosen] == ["ThreadPoolTaskRunner"]
    assert summary["n_tokens"] > 500
    assert view_contents(tmp_path / "data") == in_a_worker_process


@pytest.mark.prefect
@pytest.mark.model
def test_a_run_with_no_server_configured_writes_the_same_rows(
    in_a_worker_process, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCMILL_", "PREFECT_API"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="0")
    # A new Prefect database on a busy machine can take longer than Prefect's default 20 s.
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "300"
    env["PREFECT_LOGGING_LEVEL"] = "INFO"
    data_dir = tmp_path / "data"
    command = [sys.executable, "-m", "docmill.flows.cli", "run", str(SEEDS), "--batch-id", "seeds"]
    done = subprocess.run(
        [*command, "--data-dir", str(data_dir)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "batch seeds published" in done.stdout
    assert "Starting temporary server" in done.stderr
    assert view_contents(data_dir) == in_a_worker_process
