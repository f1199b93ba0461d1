"""One shard, start to finish: read -> clean -> tag -> staged Parquet. Plain Python.

A shard runs inside one worker process; the model is loaded there once (see `nlp.load_pipeline`)
and only counters travel back to the flow, never spaCy objects.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from docmill.tasks import schemas
from docmill.tasks.clean import DEFAULT_STEPS, clean_document
from docmill.tasks.dates import parse_published_at
from docmill.tasks.ingest import read_items
from docmill.tasks.nlp import TagCounts, load_pipeline, tag_in_chunks
from docmill.tasks.records import Document, ItemRejected, Reject, SourceItem
from docmill.tasks.store import Layout, ShardWriter, completed_shard


@dataclass(frozen=True, slots=True)
class ProcessingOptions:
    """Everything that changes a shard's output; part of its cache key."""

    model: str
    model_id: str
    profile: str = "accurate"
    clean_steps: tuple[str, ...] = ()
    nlp_batch_size: int = 64
    chunk_docs: int = 200
    max_segment_chars: int = 10_000
    tag_duplicates: bool = False


@dataclass(frozen=True, slots=True)
class ShardSpec:
    batch_id: str
    shard_no: int
    shard_key: str
    data_dir: str
    run_id: str
    items: tuple[SourceItem, ...]
    duplicate_of: dict[str, str]
    options: ProcessingOptions
    force: bool = False


@dataclass(slots=True)
class ShardResult:
    shard_no: int
    shard_key: str
    reused: bool
    n_input: int = 0
    n_documents: int = 0
    n_rejected: int = 0
    n_duplicates: int = 0
    n_tagged: int = 0
    n_sentences: int = 0
    n_tokens: int = 0
    n_entities: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    clean_ops: dict[str, int] = field(default_factory=dict)
    entity_repairs: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    entity_counts: list[tuple[str, str, int]] = field(default_factory=list)


def process_shard(spec: ShardSpec) -> ShardResult:
    """Process a shard unless an identical one (same key) already completed."""
    layout = Layout(Path(spec.data_dir))
    shard_dir = layout.shard_dir(spec.batch_id, spec.shard_key)
    if not spec.force and (summary := completed_shard(shard_dir)) is not None:
        result = ShardResult(**summary)
        result.reused = True
        return result

    result = ShardResult(spec.shard_no, spec.shard_key, reused=False, n_input=len(spec.items))
    timer = _StageTimer()
    processed_at = datetime.now(UTC)
    writer = ShardWriter(shard_dir)
    try:
        rejects: list[Reject] = []
        docs = list(_read_and_clean(spec, rejects, result, timer))
        to_tag = [d for d in docs if d.duplicate_of is None or spec.options.tag_duplicates]
        counts: dict[str, TagCounts] = {}
        entity_counter: Counter[tuple[str, str]] = Counter()
        repairs: Counter[str] = Counter()
        if to_tag:
            with timer("load_model"):
                nlp = load_pipeline(spec.options.model, spec.options.profile)
            chunks = tag_in_chunks(
                nlp,
                to_tag,
                chunk_docs=spec.options.chunk_docs,
                max_segment_chars=spec.options.max_segment_chars,
                batch_size=spec.options.nlp_batch_size,
            )
            while True:
                with timer("tag"):
                    item = next(chunks, None)
                if item is None:
                    break
                chunk, ann = item
                with timer("write"):
                    writer.write("sentences", ann.sentences)
                    writer.write("tokens", ann.tokens)
                    writer.write("entities", ann.entities)
                    writer.write("noun_chunks", ann.noun_chunks)
                repairs.update(ann.repairs)
                for doc, c in zip(chunk, ann.counts, strict=True):
                    counts[doc.doc_id] = c
                pairs = zip(
                    ann.entities.column("canonical").to_pylist(),
                    ann.entities.column("label").to_pylist(),
                    strict=True,
                )
                entity_counter.update(pairs)
        with timer("write"):
            writer.write("documents", _documents_table(spec, docs, counts, processed_at))
            writer.write("paragraphs", _paragraphs_table(docs))
            writer.write("rejects", rejects_table(spec.batch_id, spec.run_id, rejects))
        result.n_documents = len(docs)
        result.n_rejected = len(rejects)
        result.n_duplicates = sum(1 for d in docs if d.duplicate_of is not None)
        result.n_tagged = len(counts)
        result.n_sentences = sum(c.n_sentences for c in counts.values())
        result.n_tokens = sum(c.n_tokens for c in counts.values())
        result.n_entities = sum(c.n_entities for c in counts.values())
        result.entity_counts = [(n, lab, k) for (n, lab), k in entity_counter.most_common()]
        result.entity_repairs = dict(repairs)
        result.seconds = timer.seconds
        writer.commit(asdict(result))
    except BaseException:
        writer.abort()
        raise
    return result


def _read_and_clean(
    spec: ShardSpec, rejects: list[Reject], result: ShardResult, timer: _StageTimer
) -> Iterator[Document]:
    reasons: Counter[str] = Counter()
    ops: Counter[str] = Counter()
    outcomes = read_items(spec.items)
    while True:
        with timer("read"):
            pair = next(outcomes, None)
        if pair is None:
            break
        item, outcome = pair
        try:
            if isinstance(outcome, ItemRejected):
                raise outcome
            with timer("clean"):
                doc = clean_document(outcome, steps=spec.options.clean_steps or DEFAULT_STEPS)
            if not doc.text:
                raise ItemRejected("empty_after_cleaning", "no text left after cleaning")
        except ItemRejected as rejected:
            reasons[rejected.reason] += 1
            rejects.append(
                Reject(
                    item.source_uri, item.source_id, item.doc_id, rejected.reason, rejected.detail
                )
            )
            continue
        doc.duplicate_of = spec.duplicate_of.get(item.doc_id)
        ops.update(doc.clean_ops)
        yield doc
    result.rejects_by_reason = dict(reasons)
    result.clean_ops = dict(ops)


def _documents_table(
    spec: ShardSpec, docs: list[Document], counts: dict[str, TagCounts], processed_at: datetime
) -> pa.Table:
    empty = TagCounts()
    rows = []
    for doc in docs:
        c = counts.get(doc.doc_id, empty)
        rows.append(
            {
                "doc_id": doc.doc_id,
                "source_id": doc.source_id,
                "batch_id": spec.batch_id,
                "source_uri": doc.source_uri,
                "title": doc.title,
                "published_at": parse_published_at(doc.published_at),
                "published_at_raw": doc.published_at,
                "lang": doc.lang,
                "text": doc.text,
                "n_chars": len(doc.text),
                "n_paragraphs": len(doc.paragraphs),
                "n_sentences": c.n_sentences,
                "n_tokens": c.n_tokens,
                "n_entities": c.n_entities,
                "content_hash": doc.content_hash,
                "raw_hash": doc.raw_hash,
                "duplicate_of": doc.duplicate_of,
                "tagged": doc.doc_id in counts,
                "encoding": doc.encoding,
                "decode_note": doc.decode_note,
                "clean_ops": list(doc.clean_ops),
                "metadata_json": json.dumps(doc.metadata, sort_keys=True, default=str)
                if doc.metadata
                else None,
                "model": spec.options.model_id,
                "pipeline_version": schemas.PIPELINE_VERSION,
                "processed_at": processed_at,
                "run_id": spec.run_id,
            }
        )
    return pa.Table.from_pylist(rows, schema=schemas.DOCUMENTS)


def _paragraphs_table(docs: list[Document]) -> pa.Table:
    rows = {"doc_id": [], "para_idx": [], "start_char": [], "end_char": [], "kind": []}
    for doc in docs:
        for idx, (start, end) in enumerate(doc.paragraphs):
            rows["doc_id"].append(doc.doc_id)
            rows["para_idx"].append(idx)
            rows["start_char"].append(start)
            rows["end_char"].append(end)
            rows["kind"].append("title" if idx == 0 and doc.title_paragraph else "body")
    return pa.Table.from_pydict(rows, schema=schemas.PARAGRAPHS)


def rejects_table(batch_id: str, run_id: str, rejects: list[Reject]) -> pa.Table:
    now = datetime.now(UTC)
    rows = [
        {
            "batch_id": batch_id,
            "source_uri": r.source_uri,
            "source_id": r.source_id,
            "doc_id": r.doc_id,
            "reason": r.reason,
            "detail": r.detail,
            "run_id": run_id,
            "rejected_at": now,
        }
        for r in rejects
    ]
    return pa.Table.from_pylist(rows, schema=schemas.REJECTS)


class _StageTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str) -> _Stage:
        return _Stage(self, stage)


class _Stage:
    def __init__(self, timer: _StageTimer, stage: str) -> None:
        self.timer, self.stage = timer, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.start
        self.timer.seconds[self.stage] = self.timer.seconds.get(self.stage, 0.0) + elapsed
