"""`docmill bench` end to end on a small generated corpus (figures are checked for shape and
consistency, never for speed: speed lives in the recorded benchmark runs)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.corpus_factory import write_corpus


def test_bench_measures_bare_spacy_and_the_flow(tmp_path, prefect_server):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 24)
    out = tmp_path / "figures.json"
    env = {"PREFECT_API_URL": prefect_server}
    command = [sys.executable, "-m", "docmill.flows.cli", "bench", str(corpus)]
    result = subprocess.run(
        [*command, "--repeat", "2", "--workers", "2", "--json", str(out)],
        capture_output=True,
        text=True,
        env={**_base_env(), **env},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    for key in (
        "flow_wps",
        "bare_wps_1proc",
        "bare_wps_nproc",
        "ratio_limit",
        "ratio_nproc",
        "startup_s",
        "peak_rss_mib",
        "workers",
        "profile",
        "documents",
        "words",
        "pipeline_wps_1proc_paragraphs",
        "ratio_pipeline",
    ):
        assert key in figures, key
    assert figures["documents"] == 48
    assert figures["workers"] == 2 and figures["profile"] == "accurate"
    words_once = sum(len(p.read_text().split()) for p in corpus.iterdir())
    assert figures["words"] == 2 * words_once
    for key in ("bare_wps_1proc", "bare_wps_nproc", "pipeline_wps_1proc_paragraphs"):
        assert figures[key] > 0
    expected_ratio = figures["flow_wps"] / figures["bare_wps_nproc"]
    assert figures["ratio_nproc"] == pytest.approx(expected_ratio, rel=0.01, abs=0.002)
    # Two processes (the flow and its workers) each hold a loaded model.
    assert figures["peak_rss_mib"] > 300
    # Two workers at least among the children; the tree's peak is at least its largest part.
    assert len(figures["peak_rss_mib_children"]) >= 2
    assert figures["peak_rss_mib"] >= figures["peak_rss_mib_children"][0]
    assert figures["stage_seconds_summed_over_workers"]["tag"] > 0
    assert "docmill pipeline, paragraphs" in result.stdout
    assert "flow / bare n_process" in result.stdout


def _base_env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
