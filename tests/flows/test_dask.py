"""The Dask task runner: the same batch on a LocalCluster gives the same warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SEEDS
from helpers.corpus_factory import write_corpus
from helpers.views import RUN_COLUMNS, view_contents

from docmill.warehouse.build import VIEW_NAMES


@pytest.mark.prefect
@pytest.mark.model
def test_dask_local_cluster_gives_the_same_views_as_the_local_runner(
    prefect_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docmill.flows import runners
    from docmill.flows.process import process_documents

    runners_used = []
    choose = runners.task_runner

    def spy(settings, n_shards):
        runner = choose(settings, n_shards)
        runners_used.append(type(runner).__name__)
        return runner

    monkeypatch.setattr(runners, "task_runner", spy)

    sources = tmp_path / "sources"
    shutil.copytree(SEEDS, sources / "seeds")
    write_corpus(sources / "generated", 60)
    (sources / "empty.txt").write_text("")  # a reject, to compare those too
    results = {}
    for runner in ("local", "dask"):
        data_dir = tmp_path / runner
        summary = process_documents(
            sources=[str(sources)],
            batch_id="same",
            data_dir=str(data_dir),
            workers=2,
            task_runner=runner,
        )
        assert summary["status"] == "completed"
        assert summary["n_shards"] > 2  # shards really fan out to both workers
        results[runner] = view_contents(data_dir, without=RUN_COLUMNS)
    assert runners_used == ["TiedProcessPool", "DaskTaskRunner"]
    local, dask = results["local"], results["dask"]
    assert len(local["documents"]) == 66 and len(local["rejects"]) == 1
    assert local["tokens"] and local["entities"]
    for view in VIEW_NAMES:
        assert dask[view] == local[view], view
