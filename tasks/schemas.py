"""Explicit, versioned Arrow schemas of every table docmill writes.

Bump SCHEMA_VERSION when a column is added or changed; the version is stored in each Parquet
file's key-value metadata (`docmill.schema_version`) next to the table name. The catalog's stored
tables follow these schemas: a column added here is added to its table before the next publish
(tasks/lake/catalog.py), and rows stored before read NULL in it.

Version 3 (the DuckLake catalog) put `batch_id` on every table a batch publishes, so a batch's
rows can be replaced in one transaction.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 3
PIPELINE_VERSION = "0.2.0"

_ts = pa.timestamp("us", tz="UTC")

# Quality signals (Gopher / C4 style), stored on every document; see tasks/filters/quality.py.
QUALITY_FIELDS: list[tuple[str, pa.DataType]] = [
    ("n_words", pa.int32()),
    ("mean_word_length", pa.float32()),
    ("symbol_word_ratio", pa.float32()),
    ("frac_lines_end_punct", pa.float32()),
    ("repeated_line_frac", pa.float32()),
    ("stopword_ratio", pa.float32()),
    ("frac_alpha_words", pa.float32()),
    ("bullet_line_frac", pa.float32()),
    ("ellipsis_line_frac", pa.float32()),
]

CLEAN_EDIT = pa.struct(
    [
        ("op", pa.string()),
        ("chars_before", pa.int32()),
        ("chars_after", pa.int32()),
        ("before_sample", pa.string()),
        ("after_sample", pa.string()),
        ("detail", pa.string()),
    ]
)

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
        ("lang_score", pa.float32()),
        ("text", pa.large_string()),
        ("n_chars", pa.int32()),
        ("n_paragraphs", pa.int32()),
        ("n_sentences", pa.int32()),
        ("n_tokens", pa.int32()),
        ("n_entities", pa.int32()),
        ("content_hash", pa.string()),
        ("raw_hash", pa.string()),
        ("duplicate_of", pa.string()),
        ("duplicate_kind", pa.string()),
        ("duplicate_similarity", pa.float32()),
        ("tagged", pa.bool_()),
        ("not_tagged_reason", pa.string()),
        *QUALITY_FIELDS,
        ("extraction", pa.string()),
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
        ("batch_id", pa.string()),
        ("para_idx", pa.int32()),
        ("start_char", pa.int32()),
        ("end_char", pa.int32()),
        ("kind", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float32()),
    ]
)

SENTENCES = pa.schema(
    [
        ("doc_id", pa.string()),
        ("batch_id", pa.string()),
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
        ("batch_id", pa.string()),
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
        ("batch_id", pa.string()),
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
        ("batch_id", pa.string()),
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

CLEANING = pa.schema(
    [
        ("doc_id", pa.string()),
        ("batch_id", pa.string()),
        ("step_idx", pa.int32()),
        *CLEAN_EDIT,  # one row per CleanEdit of a document
    ]
)

# The near-duplicate index: one MinHash signature per document of the batch, published with
# it, so later batches can be compared against every earlier one (tasks/dedup/minhash.py).
SIGNATURES = pa.schema(
    [
        ("doc_id", pa.string()),
        ("batch_id", pa.string()),
        ("content_hash", pa.string()),
        ("minhash", pa.list_(pa.uint32())),
        ("kept", pa.bool_()),
    ]
)

# Internal: a cleaned document waiting for dedup and tagging (staging only, never published).
PREPARED = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source_id", pa.string()),
        ("source_uri", pa.string()),
        ("title", pa.string()),
        ("title_paragraph", pa.bool_()),
        ("published_at_raw", pa.string()),
        ("text", pa.large_string()),
        ("encoding", pa.string()),
        ("decode_note", pa.string()),
        ("raw_hash", pa.string()),
        ("content_hash", pa.string()),
        ("clean_ops", pa.list_(pa.string())),
        ("clean_audit", pa.list_(CLEAN_EDIT)),
        ("metadata_json", pa.string()),
        ("extraction", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float32()),
        ("para_starts", pa.list_(pa.int32())),
        ("para_ends", pa.list_(pa.int32())),
        ("para_langs", pa.list_(pa.string())),
        ("para_lang_scores", pa.list_(pa.float32())),
        *QUALITY_FIELDS,
        ("minhash", pa.list_(pa.uint32())),
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

# One row per published batch: its current version and the exact input items it holds (the
# manifest a rerun with no sources processes again; the inbox skips what some batch holds).
BATCHES = pa.schema(
    [
        ("batch_id", pa.string()),
        ("version", pa.string()),
        ("published_at", _ts),
        ("run_id", pa.string()),
        ("n_input", pa.int64()),
        ("manifest_json", pa.large_string()),
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
    "cleaning": CLEANING,
    "signatures": SIGNATURES,
    "rejects": REJECTS,
}
# What a prepare step stages for a shard: cleaned documents and the items rejected so far.
PREPARED_TABLES: dict[str, pa.Schema] = {"prepared": PREPARED, "rejects": REJECTS}
# Exactly one row: the lake's last publish. Every publish replaces it, so any two publishes
# conflict and one retries: without it, two first publishes of the same batch would each
# delete nothing and both commit (DuckLake's conflicts are about deletes, not inserts).
LAST_PUBLISH = pa.schema(
    [
        ("batch_id", pa.string()),
        ("version", pa.string()),
        ("run_id", pa.string()),
        ("published_at", _ts),
    ]
)

# Every table of the catalog (tasks/lake/catalog.py).
STORED_TABLES: dict[str, pa.Schema] = {
    **BATCH_TABLES,
    "runs": RUNS,
    "batches": BATCHES,
    "last_publish": LAST_PUBLISH,
}
ALL_TABLES: dict[str, pa.Schema] = {**STORED_TABLES, **PREPARED_TABLES}


def unbatched(schema: pa.Schema) -> pa.Schema:
    """A stored table's schema without `batch_id`: the columns of the rows the tagging steps
    build (they know documents, not batches; the shard writer adds the batch)."""
    index = schema.get_field_index("batch_id")
    return schema if index < 0 else schema.remove(index)


def with_version(schema: pa.Schema, table: str) -> pa.Schema:
    """The schema with docmill's table name and schema version in its metadata."""
    return schema.with_metadata(
        {
            b"docmill.table": table.encode(),
            b"docmill.schema_version": str(SCHEMA_VERSION).encode(),
            b"docmill.pipeline_version": PIPELINE_VERSION.encode(),
        }
    )
