"""The run's `runs` row and its arithmetic: totals over every shard, counters, top entities."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from prefect.runtime import flow_run

from docmill.tasks.nlp.entities import VALUE_LABELS
from docmill.tasks.passes.plan import BatchPlan
from docmill.tasks.passes.prepare import PrepareResult
from docmill.tasks.passes.tag import ShardResult, ShardSpec
from docmill.tasks.schemas import PIPELINE_VERSION


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


@dataclass(slots=True)
class ShardsDone:
    """What the two passes over the shards produced, for publishing and the run record."""

    prepared: list[PrepareResult]
    specs: list[ShardSpec]
    results: list[ShardResult]
    seconds: dict[str, float] = field(default_factory=dict)
    # (canonical name, label) -> mentions over every shard of the batch.
    entity_totals: Counter[tuple[str, str]] = field(default_factory=Counter)


def batch_totals(plan: BatchPlan, shards: ShardsDone, parent_seconds: dict) -> dict:
    results, prepared = shards.results, shards.prepared
    return {
        "n_input": plan.n_input,
        "n_documents": sum(r.n_documents for r in results),
        "n_rejected": sum(r.n_rejected for r in results) + len(plan.rejects),
        "n_duplicates": sum(r.n_duplicates for r in results),
        "n_tokens": sum(r.n_tokens for r in results),
        "n_entities": sum(r.n_entities for r in results),
        "n_shards": len(results),
        "n_shards_reused": sum(1 for r in results if r.reused),
        "counters_json": json.dumps(
            {
                "seconds": stage_seconds([*prepared, *results]),
                "flow_seconds": {k: round(v, 3) for k, v in parent_seconds.items()},
                "rejects": merge_counts(
                    [
                        *(r.rejects_by_reason for r in results),
                        Counter(r.reason for r in plan.rejects),
                    ]
                ),
                "clean_ops": merge_counts(r.clean_ops for r in prepared),
                "languages": merge_counts(r.languages for r in prepared),
                "extraction": merge_counts(r.extraction for r in prepared),
                "duplicates": {
                    "exact": sum(r.n_exact_duplicates for r in results),
                    "near": sum(r.n_near_duplicates for r in results),
                },
                "tagged": sum(r.n_tagged for r in results),
                "not_tagged_by_reason": merge_counts(r.not_tagged_by_reason for r in results),
                "not_tagged": {
                    "duplicate": sum(
                        r.n_documents - r.n_tagged - r.n_untagged_language for r in results
                    ),
                    "language": sum(r.n_untagged_language for r in results),
                },
                "entity_repairs": merge_counts(r.entity_repairs for r in results),
            },
            sort_keys=True,
        ),
    }


def top_entities(totals: Counter[tuple[str, str]], limit: int = 10) -> list[tuple[str, str, int]]:
    named = ((key, n) for key, n in totals.items() if key[1] not in VALUE_LABELS)
    ranked = sorted(named, key=lambda kv: (-kv[1], kv[0]))
    return [(name, label, count) for (name, label), count in ranked[:limit]]
