"""The first pass over a shard: read -> clean -> language -> quality -> fingerprint -> staging.

Deduplication needs every document of the batch cleaned before any is tagged (so duplicates
are not tagged again), so a shard is processed in two passes: this one, cheap, stages the
cleaned documents with their language, quality signals and MinHash signature; the flow then
decides duplicates over the whole batch (tasks/dedup/minhash.py) and `shard.process_shard` tags.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from docmill.tasks import schemas
from docmill.tasks.clean.steps import DEFAULT_STEPS, clean_document
from docmill.tasks.dedup.minhash import DEFAULT_THRESHOLD, minhash_signature
from docmill.tasks.filters.language import identify_document
from docmill.tasks.filters.quality import (
    QualityThresholds,
    as_columns,
    failed_thresholds,
    quality_signals,
)
from docmill.tasks.ingest.html import HtmlOptions
from docmill.tasks.ingest.read import read_items
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.staging import ShardWriter, completed_shard
from docmill.tasks.options import (
    CHUNK_DOCS,
    MAX_SEGMENT_CHARS,
    NLP_BATCH_SIZE,
    DedupMode,
    Profile,
)
from docmill.tasks.records import Document, ItemRejected, Reject, SourceItem
from docmill.tasks.timing import StageTimer


@dataclass(frozen=True, slots=True)
class ProcessingOptions:
    """Everything that changes a batch's output; part of every shard's cache key."""

    model: str
    model_id: str
    profile: Profile = "accurate"
    clean_steps: tuple[str, ...] = DEFAULT_STEPS
    nlp_batch_size: int = NLP_BATCH_SIZE
    chunk_docs: int = CHUNK_DOCS
    max_segment_chars: int = MAX_SEGMENT_CHARS
    tag_duplicates: bool = False
    dedup: DedupMode = "near"  # exact + MinHash LSH
    near_duplicate_threshold: float = DEFAULT_THRESHOLD
    # Languages to tag; documents confidently identified as another language are kept but
    # not tagged. Empty: the model's own language.
    languages: tuple[str, ...] = ()
    min_language_score: float = 0.8
    # (signal threshold name, value) pairs; see tasks/filters/quality.py.
    quality_thresholds: tuple[tuple[str, float], ...] = ()
    use_trafilatura: bool = True
    html_time_limit_s: float = 10.0


@dataclass(frozen=True, slots=True)
class PrepareSpec:
    batch_id: str
    shard_no: int
    key: str
    data_dir: str
    run_id: str
    items: tuple[SourceItem, ...]
    options: ProcessingOptions
    force: bool = False


@dataclass(slots=True)
class PrepareResult:
    shard_no: int
    key: str
    reused: bool
    n_input: int = 0
    n_documents: int = 0
    n_rejected: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    clean_ops: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    extraction: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def prepare_shard(spec: PrepareSpec) -> PrepareResult:
    """Stage the cleaned documents and rejects of a shard, unless an identical run did."""
    shard_dir = Layout.at(spec.data_dir).prepared_dir(spec.batch_id, spec.key)
    if not spec.force and (summary := completed_shard(shard_dir, schemas.PREPARED_TABLES)):
        return dataclasses.replace(PrepareResult(**summary), reused=True)
    result = PrepareResult(spec.shard_no, spec.key, reused=False, n_input=len(spec.items))
    timer = StageTimer()
    thresholds = QualityThresholds.from_mapping(dict(spec.options.quality_thresholds))
    rejects: list[Reject] = []
    rows: list[dict] = []
    counters: dict[str, Counter[str]] = {
        name: Counter() for name in ("reasons", "ops", "languages", "extraction")
    }
    writer = ShardWriter(shard_dir, schemas.PREPARED_TABLES)
    try:
        html = HtmlOptions(
            use_trafilatura=spec.options.use_trafilatura,
            time_limit_s=spec.options.html_time_limit_s,
        )
        for item, outcome in _read_timed(spec.items, html, timer):
            try:
                if isinstance(outcome, ItemRejected):
                    raise outcome
                rows.append(_prepare_document(outcome, spec.options, thresholds, timer))
            except ItemRejected as rejected:
                counters["reasons"][rejected.reason] += 1
                rejects.append(
                    Reject(
                        item.source_uri,
                        item.source_id,
                        item.doc_id,
                        rejected.reason,
                        rejected.detail,
                        item.content_hash,
                    )
                )
                continue
            counters["ops"].update(rows[-1]["clean_ops"])
            counters["languages"][rows[-1]["lang"] or "unknown"] += 1
            if rows[-1]["extraction"]:
                counters["extraction"][rows[-1]["extraction"]] += 1
        with timer("write"):
            writer.write("prepared", pa.Table.from_pylist(rows, schema=schemas.PREPARED))
            writer.write("rejects", rejects_table(spec.batch_id, spec.run_id, rejects))
        result.n_documents, result.n_rejected = len(rows), len(rejects)
        result.rejects_by_reason = dict(counters["reasons"])
        result.clean_ops = dict(counters["ops"])
        result.languages = dict(counters["languages"])
        result.extraction = dict(counters["extraction"])
        result.seconds = timer.seconds
        writer.commit(asdict(result))
    except BaseException:
        writer.abort()
        raise
    return result


def _read_timed(
    items: tuple[SourceItem, ...], html: HtmlOptions, timer: StageTimer
) -> Iterator[tuple[SourceItem, Document | ItemRejected]]:
    outcomes = read_items(items, html=html)
    while True:
        with timer("read"):
            pair = next(outcomes, None)
        if pair is None:
            return
        yield pair


def _prepare_document(
    raw: Document, options: ProcessingOptions, thresholds: QualityThresholds, timer: StageTimer
) -> dict:
    with timer("clean"):
        doc = clean_document(raw, steps=options.clean_steps)
    if not doc.text:
        raise ItemRejected("empty_after_cleaning", "no text left after cleaning")
    with timer("language"):
        guess, paragraph_guesses = identify_document(doc.text, doc.paragraphs)
    with timer("quality"):
        signals = quality_signals(doc.text, guess.lang)
        failed = failed_thresholds(signals, thresholds)
    if failed:
        raise ItemRejected("low_quality", "; ".join(failed))
    signature = None
    if options.dedup == "near":
        with timer("fingerprint"):
            signature = minhash_signature(doc.text)
    return {
        "doc_id": doc.doc_id,
        "source_id": doc.source_id,
        "source_uri": doc.source_uri,
        "title": doc.title,
        "title_paragraph": doc.title_paragraph,
        "published_at_raw": doc.published_at,
        "text": doc.text,
        "encoding": doc.encoding,
        "decode_note": doc.decode_note,
        "raw_hash": doc.raw_hash,
        "content_hash": doc.content_hash,
        "clean_ops": list(doc.clean_ops),
        "clean_audit": [asdict(edit) for edit in doc.clean_audit],
        "metadata_json": json.dumps(doc.metadata, sort_keys=True, default=str)
        if doc.metadata
        else None,
        "extraction": doc.extraction,
        "lang": guess.lang,
        "lang_score": guess.score,
        "para_starts": [start for start, _ in doc.paragraphs],
        "para_ends": [end for _, end in doc.paragraphs],
        "para_langs": [g.lang for g in paragraph_guesses],
        "para_lang_scores": [g.score for g in paragraph_guesses],
        **as_columns(signals),
        "minhash": signature,
    }


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
