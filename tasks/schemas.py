"""Explicit, versioned Arrow schemas of every table docmill writes.

Bump SCHEMA_VERSION when a column is added or changed; the version is stored in each Parquet
file's key-value metadata (`docmill.schema_version`) next to the table name.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1
PIPELINE_VERSION = "0.1.0"

_ts = pa.timestamp("us", tz="UTC")

DOCUMENTS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source_id", pa.string()),
        ("batch_id", pa.string()),
        ("source_uri", pa.string()),
        ("title", pa.string()),
        ("published_at", _ts),
        ("published_at_raw", pa.string()),
        ("lang", pa.string()),
        ("text", pa.large_string()),
        ("n_chars", pa.int32()),
        ("n_paragraphs", pa.int32()),
        ("n_sentences", pa.int32()),
        ("n_tokens", pa.int32()),
        ("n_entities", pa.int32()),
        ("content_hash", pa.string()),
        ("raw_hash", pa.string()),
        ("duplicate_of", pa.string()),
        ("tagged", pa.bool_()),
        ("encoding", pa.string()),
        ("decode_note", pa.string()),
        ("clean_ops", pa.list_(pa.string())),
        ("metadata_json", pa.string()),
        ("model", pa.string()),
        ("pipeline_version", pa.string()),
        ("processed_at", _ts),
        ("run_id", pa.string()),
    ]
)

PARAGRAPHS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("para_idx", pa.int32()),
        ("start_char", pa.int32()),
        ("end_char", pa.int32()),
        ("kind", pa.string()),
    ]
)

SENTENCES = pa.schema(
    [
        ("doc_id", pa.string()),
        ("sent_idx", pa.int32()),
        ("para_idx", pa.int32()),
        ("start_char", pa.int32()),
        ("end_char", pa.int32()),
        ("n_tokens", pa.int32()),
        ("text", pa.string()),
    ]
)

TOKENS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("sent_idx", pa.int32()),
        ("tok_idx", pa.int32()),
        ("start_char", pa.int32()),
        ("end_char", pa.int32()),
        ("text", pa.string()),
        ("lemma", pa.string()),
        ("pos", pa.string()),
        ("tag", pa.string()),
        ("dep", pa.string()),
        ("head_idx", pa.int32()),
        ("ent_type", pa.string()),
        ("ent_iob", pa.string()),
        ("is_stop", pa.bool_()),
        ("is_punct", pa.bool_()),
    ]
)

ENTITIES = pa.schema(
    [
        ("doc_id", pa.string()),
        ("ent_idx", pa.int32()),
        ("sent_idx", pa.int32()),
        ("start_char", pa.int32()),
        ("end_char", pa.int32()),
        ("text", pa.string()),
        ("label", pa.string()),
        ("canonical", pa.string()),
    ]
)

NOUN_CHUNKS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("chunk_idx", pa.int32()),
        ("sent_idx", pa.int32()),
        ("start_char", pa.int32()),
        ("end_char", pa.int32()),
        ("text", pa.string()),
        ("root_lemma", pa.string()),
    ]
)

REJECTS = pa.schema(
    [
        ("batch_id", pa.string()),
        ("source_uri", pa.string()),
        ("source_id", pa.string()),
        ("doc_id", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("run_id", pa.string()),
        ("rejected_at", _ts),
    ]
)

RUNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("flow_run_id", pa.string()),
        ("batch_id", pa.string()),
        ("batch_version", pa.string()),
        ("started_at", _ts),
        ("finished_at", _ts),
        ("status", pa.string()),
        ("error", pa.string()),
        ("n_input", pa.int64()),
        ("n_documents", pa.int64()),
        ("n_rejected", pa.int64()),
        ("n_duplicates", pa.int64()),
        ("n_tokens", pa.int64()),
        ("n_entities", pa.int64()),
        ("n_shards", pa.int32()),
        ("n_shards_reused", pa.int32()),
        ("model", pa.string()),
        ("pipeline_version", pa.string()),
        ("counters_json", pa.string()),
    ]
)

# The tables a batch publishes, in the order they are written; `runs` is written separately.
BATCH_TABLES: dict[str, pa.Schema] = {
    "documents": DOCUMENTS,
    "paragraphs": PARAGRAPHS,
    "sentences": SENTENCES,
    "tokens": TOKENS,
    "entities": ENTITIES,
    "noun_chunks": NOUN_CHUNKS,
    "rejects": REJECTS,
}
ALL_TABLES: dict[str, pa.Schema] = {**BATCH_TABLES, "runs": RUNS}


def with_version(schema: pa.Schema, table: str) -> pa.Schema:
    """The schema with docmill's table name and schema version in its metadata."""
    return schema.with_metadata(
        {
            b"docmill.table": table.encode(),
            b"docmill.schema_version": str(SCHEMA_VERSION).encode(),
            b"docmill.pipeline_version": PIPELINE_VERSION.encode(),
        }
    )
