"""Run records and the Prefect artifacts a person reads on the flow run page."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from docmill.tasks.prepare import PrepareResult
from docmill.tasks.schemas import PIPELINE_VERSION
from docmill.tasks.shard import ShardResult


def run_record(run_id: str, batch_id: str, started_at: datetime, model_id: str) -> dict:
    """A `runs` row, filled in as the run goes."""
    return {
        "run_id": run_id,
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "batch_id": batch_id,
        "batch_version": None,
        "started_at": started_at,
        "finished_at": None,
        "status": "running",
        "error": None,
        "n_input": 0,
        "n_documents": 0,
        "n_rejected": 0,
        "n_duplicates": 0,
        "n_tokens": 0,
        "n_entities": 0,
        "n_shards": 0,
        "n_shards_reused": 0,
        "model": model_id,
        "pipeline_version": PIPELINE_VERSION,
        "counters_json": None,
    }


def merge_counts(counters: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Per-key sums of several counters (per-shard counts or seconds)."""
    total: dict[str, float] = {}
    for counter in counters:
        for key, n in counter.items():
            total[key] = total.get(key, 0) + n
    return dict(sorted(total.items()))


def stage_seconds(results: list[ShardResult | PrepareResult]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in merge_counts(r.seconds for r in results).items()}


def publish_artifacts(
    summary: dict, prepared: list[PrepareResult], results: list[ShardResult]
) -> None:
    """A markdown summary and a per-shard table on the flow run page."""
    key = "batch-" + "".join(c if c.isalnum() else "-" for c in summary["batch_id"].lower())
    counters = json.loads(summary["counters_json"])
    rejects = counters["rejects"]
    lines = [
        f"# Batch `{summary['batch_id']}` — version `{summary['batch_version']}`",
        "",
        "| input | documents | rejected | duplicates | tokens | entities | shards (reused) |",
        "|---|---|---|---|---|---|---|",
        f"| {summary['n_input']} | {summary['n_documents']} | {summary['n_rejected']} | "
        f"{summary['n_duplicates']} | {summary['n_tokens']} | {summary['n_entities']} | "
        f"{summary['n_shards']} ({summary['n_shards_reused']}) |",
        "",
        f"Model `{summary['model']}`, pipeline {summary['pipeline_version']}, "
        f"{summary['seconds']} s wall clock. Data: `{summary['data_dir']}`.",
        "",
        *_report_link(summary.get("report")),
        "## Cleaning and deduplication",
        "",
        "| step | documents changed |",
        "|---|---|",
        *(f"| {op} | {n} |" for op, n in counters["clean_ops"].items()),
        "",
        f"Duplicates: {counters['duplicates']['exact']} exact, "
        f"{counters['duplicates']['near']} near (query the `duplicates` view). "
        f"Not tagged: {counters['not_tagged']['duplicate']} duplicates, "
        f"{counters['not_tagged']['language']} in a language the model does not serve.",
        "",
        "Languages: "
        + (", ".join(f"{lang} {n}" for lang, n in counters["languages"].items()) or "none")
        + ". HTML extraction: "
        + (", ".join(f"{how} {n}" for how, n in counters["extraction"].items()) or "none")
        + ".",
        "",
        "## Time per stage (summed over shards, seconds)",
        "",
        *(f"- {stage}: {s}" for stage, s in stage_seconds([*prepared, *results]).items()),
        "",
        "## Top entities",
        "",
        *(f"- {name} ({label}): {n}" for name, label, n in summary["top_entities"]),
        "",
        "## Rejects",
        "",
        *(f"- {reason}: {n}" for reason, n in sorted(rejects.items())),
        *([] if rejects else ["none"]),
    ]
    create_markdown_artifact("\n".join(lines), key=key, description="docmill batch summary")
    rows = [
        {
            "shard": r.shard_no,
            "reused": r.reused,
            "input": r.n_input,
            "documents": r.n_documents,
            "rejected": r.n_rejected,
            "duplicates": r.n_duplicates,
            "tokens": r.n_tokens,
            "entities": r.n_entities,
            "seconds": round(sum(r.seconds.values()), 2),
        }
        for r in results
    ]
    create_table_artifact(rows, key=f"{key}-shards", description="per-shard counters")


def _report_link(path: str | None) -> list[str]:
    """The offline HTML report, as a link and as a path to copy (browsers may refuse to open
    `file://` links from an http page)."""
    if not path:
        return []
    return [f"Report: [{Path(path).name}]({Path(path).as_uri()}) — `{path}`", ""]
