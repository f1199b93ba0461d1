"""The second pass over a shard: staged documents -> tag -> every table of the batch. Plain Python.

A shard runs inside one worker process; the model is loaded there once (see `nlp.load_pipeline`)
and only counters travel back to the flow, never spaCy objects. The first pass
(`prepare.prepare_shard`) has already read, cleaned and fingerprinted the documents, and the
flow has decided which are duplicates.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from docmill.tasks import schemas
from docmill.tasks.dedup.minhash import Duplicate
from docmill.tasks.ingest.dates import parse_published_at
from docmill.tasks.lake import filesystem
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.staging import ShardWriter, completed_shard
from docmill.tasks.nlp.annotate import TagCounts, tag_in_chunks
from docmill.tasks.nlp.pipeline import load_pipeline
from docmill.tasks.passes.prepare import ProcessingOptions
from docmill.tasks.records import Document
from docmill.tasks.timing import StageTimer


@dataclass(frozen=True, slots=True)
class ShardSpec:
    batch_id: str
    shard_no: int
    shard_key: str
    data_dir: str
    run_id: str
    prepared_key: str
    duplicates: dict[str, Duplicate]
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
    n_exact_duplicates: int = 0
    n_near_duplicates: int = 0
    n_untagged_language: int = 0
    n_tagged: int = 0
    n_sentences: int = 0
    n_tokens: int = 0
    n_entities: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    # Documents kept but not tagged, by documents.not_tagged_reason ("duplicate", "language de").
    not_tagged_by_reason: dict[str, int] = field(default_factory=dict)
    entity_repairs: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    entity_counts: list[tuple[str, str, int]] = field(default_factory=list)


def even_chunk_size(n_docs: int, chunk_docs: int) -> int:
    """At most `chunk_docs` documents per chunk, the shard's documents spread evenly over the
    fewest chunks (70 documents in chunks of 64 become two of 35, not 64 and a row group
    of 6): a chunk's memory stays the same whatever the shard size."""
    n_chunks = max(1, math.ceil(n_docs / chunk_docs))
    return max(1, math.ceil(n_docs / n_chunks))


def process_shard(spec: ShardSpec) -> ShardResult:
    """Tag a prepared shard and write all its tables, unless an identical one completed."""
    layout = Layout.at(spec.data_dir)
    shard_dir = layout.shard_dir(spec.batch_id, spec.shard_key)
    if not spec.force and (summary := completed_shard(shard_dir)) is not None:
        result = ShardResult(**summary)
        result.reused = True
        return result

    prepared_dir = layout.prepared_dir(spec.batch_id, spec.prepared_key)
    timer = StageTimer()
    with timer("read_prepared"):
        rows = filesystem.read_parquet(prepared_dir / "prepared.parquet").to_pylist()
        rejects = filesystem.read_parquet(prepared_dir / "rejects.parquet")
    result = ShardResult(
        spec.shard_no, spec.shard_key, reused=False, n_input=len(rows) + rejects.num_rows
    )
    processed_at = datetime.now(UTC)
    writer = ShardWriter(shard_dir, batch_id=spec.batch_id)
    try:
        reasons = {row["doc_id"]: _not_tagged_reason(row, spec) for row in rows}
        to_tag = [_document(row) for row in rows if reasons[row["doc_id"]] is None]
        counts: dict[str, TagCounts] = {}
        entity_counter: Counter[tuple[str, str]] = Counter()
        repairs: Counter[str] = Counter()
        if to_tag:
            with timer("load_model"):
                nlp = load_pipeline(spec.options.model, spec.options.profile)
            chunks = tag_in_chunks(
                nlp,
                to_tag,
                chunk_docs=even_chunk_size(len(to_tag), spec.options.chunk_docs),
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
            writer.write("documents", _documents_table(spec, rows, counts, reasons, processed_at))
            writer.write("paragraphs", _paragraphs_table(rows))
            writer.write("cleaning", _cleaning_table(rows))
            writer.write("signatures", _signatures_table(rows, spec.duplicates))
            writer.write("rejects", rejects)
        result.n_documents = len(rows)
        result.n_rejected = rejects.num_rows
        result.rejects_by_reason = dict(Counter(rejects.column("reason").to_pylist()))
        mine = [spec.duplicates[r["doc_id"]] for r in rows if r["doc_id"] in spec.duplicates]
        result.n_duplicates = len(mine)
        result.n_exact_duplicates = sum(1 for d in mine if d.kind == "exact")
        result.n_near_duplicates = sum(1 for d in mine if d.kind == "near")
        result.n_untagged_language = sum(
            1 for r in reasons.values() if r and r.startswith("language")
        )
        result.n_tagged = len(counts)
        result.not_tagged_by_reason = dict(Counter(r for r in reasons.values() if r))
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


def _not_tagged_reason(row: dict, spec: ShardSpec) -> str | None:
    """Why a prepared document is not tagged: a duplicate, or a language the model does not
    serve (only when the identification is confident); None when it is tagged."""
    options = spec.options
    if row["doc_id"] in spec.duplicates and not options.tag_duplicates:
        return "duplicate"
    lang, score = row["lang"], row["lang_score"] or 0.0
    confident = score >= options.min_language_score
    if options.languages and lang and lang not in options.languages and confident:
        return f"language {lang}"
    return None


def _document(row: dict) -> Document:
    return Document(
        row["doc_id"],
        row["source_id"],
        row["source_uri"],
        row["text"],
        paragraphs=list(zip(row["para_starts"], row["para_ends"], strict=True)),
    )


def _documents_table(
    spec: ShardSpec,
    rows: list[dict],
    counts: dict[str, TagCounts],
    reasons: dict[str, str | None],
    processed_at: datetime,
) -> pa.Table:
    empty = TagCounts()
    out = []
    for row in rows:
        doc_id = row["doc_id"]
        c = counts.get(doc_id, empty)
        duplicate = spec.duplicates.get(doc_id)
        out.append(
            {
                **{name: row[name] for name in _CARRIED_COLUMNS},
                "batch_id": spec.batch_id,
                "published_at": parse_published_at(row["published_at_raw"]),
                "n_chars": len(row["text"]),
                "n_paragraphs": len(row["para_starts"]),
                "n_sentences": c.n_sentences,
                "n_tokens": c.n_tokens,
                "n_entities": c.n_entities,
                "duplicate_of": duplicate.duplicate_of if duplicate else None,
                "duplicate_kind": duplicate.kind if duplicate else None,
                "duplicate_similarity": duplicate.similarity if duplicate else None,
                "tagged": doc_id in counts,
                "not_tagged_reason": reasons[doc_id],
                "model": spec.options.model_id,
                "pipeline_version": schemas.PIPELINE_VERSION,
                "processed_at": processed_at,
                "run_id": spec.run_id,
            }
        )
    return pa.Table.from_pylist(out, schema=schemas.DOCUMENTS)


# Columns a prepared document carries unchanged into `documents`.
_CARRIED_COLUMNS = [name for name in schemas.PREPARED.names if name in set(schemas.DOCUMENTS.names)]


def _paragraphs_table(rows: list[dict]) -> pa.Table:
    schema = schemas.unbatched(schemas.PARAGRAPHS)
    cols: dict[str, list] = {name: [] for name in schema.names}
    for row in rows:
        spans = zip(
            row["para_starts"],
            row["para_ends"],
            row["para_langs"],
            row["para_lang_scores"],
            strict=True,
        )
        for idx, (start, end, lang, score) in enumerate(spans):
            cols["doc_id"].append(row["doc_id"])
            cols["para_idx"].append(idx)
            cols["start_char"].append(start)
            cols["end_char"].append(end)
            cols["kind"].append("title" if idx == 0 and row["title_paragraph"] else "body")
            cols["lang"].append(lang)
            cols["lang_score"].append(score)
    return pa.Table.from_pydict(cols, schema=schema)


def _cleaning_table(rows: list[dict]) -> pa.Table:
    out = [
        {"doc_id": row["doc_id"], "step_idx": idx, **edit}
        for row in rows
        for idx, edit in enumerate(row["clean_audit"])
    ]
    return pa.Table.from_pylist(out, schema=schemas.CLEANING)


def _signatures_table(rows: list[dict], duplicates: dict[str, Duplicate]) -> pa.Table:
    out = [
        {
            "doc_id": row["doc_id"],
            "content_hash": row["content_hash"],
            "minhash": row["minhash"],
            "kept": row["doc_id"] not in duplicates,
        }
        for row in rows
    ]
    return pa.Table.from_pylist(out, schema=schemas.SIGNATURES)
