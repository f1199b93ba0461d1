"""A small run starts sooner and writes the same rows: a batch of one shard tags on a thread of
the flow's process, whatever the workers (bench/startup.py times the phases of a small run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SEEDS
from helpers.views import RUN_COLUMNS, view_contents

from docmill.flows.settings import Settings


@pytest.mark.parametrize(
    ("workers", "n_shards", "runner"),
    [
        (1, 1, "ThreadPoolTaskRunner"),
        (1, 8, "ThreadPoolTaskRunner"),
        (2, 1, "ThreadPoolTaskRunner"),
        (2, 8, "TiedProcessPool"),
        (4, 2, "TiedProcessPool"),
    ],
)
def test_where_the_shards_run(workers: int, n_shards: int, runner: str) -> None:
    from docmill.flows.runners import task_runner

    chosen = task_runner(Settings(workers=workers), n_shards)
    assert type(chosen).__name__ == runner
    if runner == "TiedProcessPool":
        assert chosen._max_workers == min(workers, n_shards)


@pytest.fixture(scope="module")
def in_a_worker_process(prefect_server, tmp_path_factory) -> dict[str, list[tuple]]:
    """The views of seeds/ tagged the way a batch of one shard was with --workers 2 before: in
    a worker process of its own."""
    from prefect.task_runners import ProcessPoolTaskRunner

    from docmill.flows import process, runners

    data_dir = tmp_path_factory.mktemp("worker-process") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runners, "task_runner", lambda *_: ProcessPoolTaskRunner(max_workers=1))
        summary = process.process_documents(
            sources=[str(SEEDS)], batch_id="seeds", data_dir=str(data_dir), workers=2
        )
    assert summary["status"] == "completed" and summary["n_shards"] == 1
    return view_contents(data_dir, without=RUN_COLUMNS)


@pytest.mark.prefect
@pytest.mark.model
def test_a_batch_of_one_shard_tags_in_process_with_the_same_rows(
    in_a_worker_process, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docmill.flows import process, runners

    chosen = []
    choose = runners.task_runner
    monkeypatch.setattr(runners, "task_runner", lambda *a: chosen.append(choose(*a)) or chosen[-1])
    summary = process.process_documents(
        sources=[str(SEEDS)], batch_id="seeds", data_dir=str(tmp_path / "data"), workers=2
    )
    assert [type(runner).__name__ for runner in chosen] == ["ThreadPoolTaskRunner"]
    assert summary["n_tokens"] > 500
    assert view_contents(tmp_path / "data", without=RUN_COLUMNS) == in_a_worker_process
