"""The run's story (terminal and markdown) and the Prefect artifacts a person reads on the flow
run page."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from docmill.tasks.passes.prepare import PrepareResult
from docmill.tasks.passes.tag import ShardResult


@dataclass(frozen=True)
class RunStory:
    """What a finished run did, from its summary: the terminal and the flow run's markdown
    artifact both tell it. Pairs are (name, count or seconds), largest counts first."""

    tagged: int
    not_tagged: list[tuple[str, int]]
    rejects: list[tuple[str, int]]
    stages: list[tuple[str, float]]  # wall clock, in the order they ran
    worker_seconds: list[tuple[str, float]]  # per step, summed over shards
    top_entities: list[tuple[str, str, int]]  # (canonical, label, mentions), named kinds only


def run_story(summary: Mapping) -> RunStory:
    counters = json.loads(summary.get("counters_json") or "{}")
    return RunStory(
        tagged=counters.get("tagged", 0),
        not_tagged=_largest_first(counters.get("not_tagged_by_reason", {})),
        rejects=_largest_first(counters.get("rejects", {})),
        stages=_wall_clock(
            # The publish commits the run's row, so its own time is only in the summary.
            {**counters.get("flow_seconds", {}), "publish": summary.get("publish_seconds")}
        ),
        worker_seconds=list(counters.get("seconds", {}).items()),
        top_entities=[tuple(entity) for entity in summary.get("top_entities") or []],
    )


def _wall_clock(flow_seconds: Mapping[str, float]) -> list[tuple[str, float]]:
    """The flow's stages as a person names them; shards_wall spans prepare, find duplicates
    and tag, so tag is what is left of it."""
    if not flow_seconds:
        return []
    seconds = flow_seconds.get
    tag = seconds("shards_wall", 0.0) - seconds("prepare_wall", 0.0) - seconds("dedup", 0.0)
    stages = {
        "plan": seconds("plan"),
        "prepare": seconds("prepare_wall"),
        "find duplicates": seconds("dedup"),
        "tag": max(tag, 0.0),
        "views": seconds("views"),
        "publish": seconds("publish"),
    }
    return [(name, round(s, 2)) for name, s in stages.items() if s is not None]


def _largest_first(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0]))


def listing(pairs: Iterable[tuple[str, float]], unit: str = "") -> str:
    """`language de 34, duplicate 10` (or `plan 0.1 s, tag 12.3 s` with unit " s")."""
    return ", ".join(f"{name} {_number(n)}{unit}" for name, n in pairs)


def _number(n: float) -> str:
    return f"{n:,}" if isinstance(n, int) else f"{n:,.2f}".rstrip("0").rstrip(".")


def summary_markdown(summary: dict) -> str:
    """The flow run page's summary of a published batch."""
    counters = json.loads(summary["counters_json"])
    story = run_story(summary)
    lines = [
        f"# Batch `{summary['batch_id']}` — version `{summary['batch_version']}`",
        "",
        "| input | documents | tagged | not tagged | rejected | duplicates | tokens | entities "
        "| shards (reused) |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {summary['n_input']} | {summary['n_documents']} | {story.tagged} | "
        f"{sum(n for _, n in story.not_tagged)} | {summary['n_rejected']} | "
        f"{summary['n_duplicates']} | {summary['n_tokens']} | {summary['n_entities']} | "
        f"{summary['n_shards']} ({summary['n_shards_reused']}) |",
        "",
        f"Not tagged: {listing(story.not_tagged) or 'none'} (`documents.not_tagged_reason`). "
        f"Rejected: {listing(story.rejects) or 'none'}.",
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
        f"{counters['duplicates']['near']} near (query the `duplicates` view).",
        "",
        "Languages: "
        + (", ".join(f"{lang} {n}" for lang, n in counters["languages"].items()) or "none")
        + ". HTML extraction: "
        + (", ".join(f"{how} {n}" for how, n in counters["extraction"].items()) or "none")
        + ".",
        "",
        "## Time per stage (seconds)",
        "",
        f"Wall clock: {listing(story.stages, ' s')}.",
        "",
        "In the workers, summed over shards:",
        "",
        *(f"- {step}: {_number(s)}" for step, s in story.worker_seconds),
        "",
        "## Top entities (names; dates, times and amounts left out)",
        "",
        *(f"- {name} ({label}): {n}" for name, label, n in story.top_entities),
        *([] if story.top_entities else ["none"]),
        "",
        "## Rejects",
        "",
        *(f"- {reason}: {n}" for reason, n in story.rejects),
        *([] if story.rejects else ["none"]),
    ]
    return "\n".join(lines)


def publish_artifacts(
    summary: dict, prepared: list[PrepareResult], results: list[ShardResult]
) -> None:
    """A markdown summary and a per-shard table on the flow run page."""
    key = "batch-" + "".join(c if c.isalnum() else "-" for c in summary["batch_id"].lower())
    create_markdown_artifact(
        summary_markdown(summary), key=key, description="docmill batch summary"
    )
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
