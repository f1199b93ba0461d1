"""Planning a batch: which items it holds and how they are sharded.

Planning is cheap (hashes, not parsing) and deterministic: the same inputs always give the same
shards with the same keys, which is what lets a retry reuse every shard that already finished.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from docmill.tasks import schemas
from docmill.tasks.ingest.read import plan_items
from docmill.tasks.records import Reject, SourceItem


@dataclass(slots=True)
class BatchPlan:
    batch_id: str
    items: list[SourceItem]
    shards: list[list[SourceItem]]
    rejects: list[Reject] = field(default_factory=list)

    @property
    def n_input(self) -> int:
        return len(self.items) + len(self.rejects)

    def manifest(self) -> dict:
        """The exact input items of the batch, so a rerun can process the same ones."""
        return {
            "n_input": self.n_input,
            "items": [item_entry(i) for i in self.items],
            "planning_rejects": [asdict(r) for r in self.rejects],
        }


def item_entry(item: SourceItem) -> dict:
    """How a manifest records one input item."""
    return {
        "doc_id": item.doc_id,
        "source_id": item.source_id,
        "source_uri": item.source_uri,
        "content_hash": item.content_hash,
    }


def manifest_entries(manifest: dict) -> list[dict]:
    """Every input item a manifest records (processed or rejected at planning), in order."""
    return [*manifest.get("items", []), *manifest.get("planning_rejects", [])]


def items_from_manifest(manifest: dict) -> tuple[list[SourceItem], list[Reject]]:
    """Plan exactly the items a manifest records, from their sources as they are now.

    An item whose file or record is gone becomes a `source_missing` reject, so the rerun still
    accounts for every recorded item.
    """
    entries = manifest_entries(manifest)
    files = list(dict.fromkeys(_path_of(e["source_uri"]) for e in entries))
    found = {item.source_uri: item for item in plan_items(files) if item.source_uri}
    items: list[SourceItem] = []
    rejects: list[Reject] = []
    for entry in entries:
        item = found.get(entry["source_uri"])
        if item is not None:
            items.append(item)
            continue
        rejects.append(
            Reject(
                entry["source_uri"],
                entry.get("source_id", entry["source_uri"]),
                entry.get("doc_id", ""),
                "source_missing",
                "recorded in the batch manifest but no longer present in its source",
                entry.get("content_hash", ""),
            )
        )
    return items, rejects


def _path_of(source_uri: str) -> Path:
    return Path(url2pathname(urlparse(source_uri.split("#", 1)[0]).path))


def plan_batch(
    batch_id: str,
    items: Iterable[SourceItem],
    *,
    rejects: Sequence[Reject] = (),
    max_shard_docs: int = 200,
    min_shard_docs: int = 10,
) -> BatchPlan:
    """Drop repeated doc_ids (a reject each) and cut the rest into shards of similar size.
    `rejects` are items already known to be unusable; they are carried into the plan.
    Duplicate content is found later, on the cleaned text (tasks/dedup/minhash.py).

    Ids are compared as text: a JSON number 5 and a string "5" (or a CSV row's 5) are one id.
    Exporters quote ids inconsistently and CSV has no types, and the doc_id of either spelling
    must stay what it always was (invariant 6), so the repeat is rejected and says why."""
    kept: list[SourceItem] = []
    rejects = list(rejects)
    first_with_id: dict[str, SourceItem] = {}
    for item in items:
        earlier = first_with_id.get(item.doc_id)
        if earlier is not None:
            rejects.append(
                Reject(
                    item.source_uri,
                    item.source_id,
                    item.doc_id,
                    "duplicate_id",
                    f"id {item.source_id!r} was already given by {earlier.source_uri}"
                    + _as_text_note(item.source_id),
                    item.content_hash,
                )
            )
            continue
        first_with_id[item.doc_id] = item
        kept.append(item)
    size = shard_size(len(kept), max_shard_docs=max_shard_docs, min_shard_docs=min_shard_docs)
    shards = [kept[i : i + size] for i in range(0, len(kept), size)]
    return BatchPlan(batch_id, kept, shards, rejects)


def _as_text_note(source_id: str) -> str:
    try:
        number = json.loads(source_id)
    except ValueError:
        return ""
    if isinstance(number, bool) or not isinstance(number, int | float):
        return ""
    return (
        f" (ids are compared as text: the number {source_id} and the string"
        f' "{source_id}" are one id)'
    )


def shard_size(n_items: int, *, max_shard_docs: int, min_shard_docs: int) -> int:
    """About 32 shards per batch, within the bounds. With two to four workers the last shards
    then leave a core idle for seconds, not a minute, while Prefect's cost (a few ms per task
    run) stays negligible. The size depends on the batch alone, so a retry cuts the same
    shards whatever the number of workers."""
    return max(1, min(max_shard_docs, max(min_shard_docs, math.ceil(n_items / 32))))


def shard_key(
    batch_id: str, items: Sequence[SourceItem], options: object, decisions: object = None
) -> str:
    """Key of a shard's output: its items' identities and content, the processing options
    (model name and version included), the pipeline and schema versions, and `decisions`
    taken outside the shard that change its output (which of its documents are duplicates)."""
    payload = {
        "batch_id": batch_id,
        "items": [(i.doc_id, i.source_uri, i.content_hash) for i in items],
        "decisions": decisions,
        "options": asdict(options),  # type: ignore[call-overload]
        "pipeline": schemas.PIPELINE_VERSION,
        "schema": schemas.SCHEMA_VERSION,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:24]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_batch_id(paths: Sequence[Path]) -> str:
    """A batch id derived from the resolved sources, so rerunning the same command reruns the
    same batch instead of adding a copy."""
    if not paths:
        raise ValueError("no input files")
    common = Path(*_common_parts(paths)) if len(paths) > 1 else paths[0]
    stem = _UNSAFE.sub("-", common.stem or common.name or "batch").strip("-._") or "batch"
    digest = hashlib.sha256("\n".join(str(p) for p in sorted(paths)).encode()).hexdigest()[:8]
    return f"{stem[:40]}-{digest}"


def _common_parts(paths: Sequence[Path]) -> tuple[str, ...]:
    parts = [p.parts for p in paths]
    common: list[str] = []
    for group in zip(*parts, strict=False):
        if len(set(group)) != 1:
            break
        common.append(group[0])
    return tuple(common) or ("batch",)
