"""Hand-built lakes for warehouse tests: shards staged as the workers stage them and published
as the flow publishes them, no pipeline.

Documents are made from a list of sentences (one paragraph each, whitespace tokens), so every
span's offsets index the document text exactly as the real pipeline's do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from docmill.tasks.lake.catalog import ALIAS
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.publish import Published, publish_batch, write_run_record
from docmill.tasks.lake.staging import ShardWriter
from docmill.tasks.schemas import BATCH_TABLES, RUNS
from docmill.warehouse.build import build_warehouse

STOP_WORDS = frozenset({"a", "an", "and", "in", "of", "on", "the", "to", "with"})
PROCESSED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Mention:
    sent_idx: int
    text: str
    label: str
    canonical: str | None = None


@dataclass
class Doc:
    doc_id: str
    sentences: list[str]
    mentions: list[Mention] = field(default_factory=list)
    title: str | None = None
    duplicate_of: str | None = None
    published_at: dt.datetime | None = None
    source_uri: str | None = None  # default file:///inbox/<doc_id>.txt
    url: str | None = None  # a JSONL record's own url, kept in metadata_json
    pos: dict[str, str] = field(default_factory=dict)  # word -> part of speech, else NULL
    lemmas: dict[str, str] = field(default_factory=dict)  # word -> lemma, else default_lemma
    tagged: bool = True
    null_canonical: bool = False  # a mention without canonical keeps NULL (no tagger fallback)

    @property
    def text(self) -> str:
        return "\n\n".join(self.sentences)


def default_lemma(word: str, pos: str | None) -> str:
    """As spaCy's English lemmatizer does for a word it has no rule for: proper nouns keep
    their case, everything else is lower-cased."""
    return word if pos == "PROPN" else word.lower()


def doc_rows(doc: Doc, *, batch_id: str, run_id: str) -> dict[str, list[dict]]:
    """Rows of every span table for one document, with consistent offsets."""
    rows: dict[str, list[dict]] = {table: [] for table in BATCH_TABLES}
    text = doc.text
    start = 0
    sentence_starts = []
    for sent_idx, sentence in enumerate(doc.sentences):
        end = start + len(sentence)
        sentence_starts.append(start)
        rows["paragraphs"].append(
            {"doc_id": doc.doc_id, "para_idx": sent_idx, "start_char": start, "end_char": end}
        )
        words = sentence.split(" ")
        rows["sentences"].append(
            {
                "doc_id": doc.doc_id,
                "sent_idx": sent_idx,
                "para_idx": sent_idx,
                "start_char": start,
                "end_char": end,
                "n_tokens": len(words),
                "text": sentence,
            }
        )
        offset = start
        for word in words:
            rows["tokens"].append(
                {
                    "doc_id": doc.doc_id,
                    "sent_idx": sent_idx,
                    "tok_idx": len(rows["tokens"]),
                    "start_char": offset,
                    "end_char": offset + len(word),
                    "text": word,
                    "lemma": doc.lemmas.get(word, default_lemma(word, doc.pos.get(word))),
                    "pos": doc.pos.get(word),
                    "is_stop": word.lower() in STOP_WORDS,
                    "is_punct": word in {".", ",", "!", "?"},
                }
            )
            offset += len(word) + 1
        start = end + 2
    for ent_idx, mention in enumerate(doc.mentions):
        sentence = doc.sentences[mention.sent_idx]
        ent_start = sentence_starts[mention.sent_idx] + sentence.index(mention.text)
        canonical = mention.canonical if doc.null_canonical else mention.canonical or mention.text
        rows["entities"].append(
            {
                "doc_id": doc.doc_id,
                "ent_idx": ent_idx,
                "sent_idx": mention.sent_idx,
                "start_char": ent_start,
                "end_char": ent_start + len(mention.text),
                "text": mention.text,
                "label": mention.label,
                "canonical": canonical,
            }
        )
    rows["documents"].append(
        {
            "doc_id": doc.doc_id,
            "source_id": doc.doc_id,
            "batch_id": batch_id,
            "source_uri": doc.source_uri or f"file:///inbox/{doc.doc_id}.txt",
            "title": doc.title,
            "published_at": doc.published_at,
            "lang": "en",
            "text": text,
            "n_chars": len(text),
            "n_paragraphs": len(rows["paragraphs"]),
            "n_sentences": len(rows["sentences"]),
            "n_tokens": len(rows["tokens"]),
            "n_entities": len(rows["entities"]),
            "duplicate_of": doc.duplicate_of,
            "duplicate_kind": "exact" if doc.duplicate_of else None,
            "duplicate_similarity": 1.0 if doc.duplicate_of else None,
            "tagged": doc.tagged,
            "metadata_json": json.dumps({"url": doc.url}) if doc.url else None,
            "processed_at": PROCESSED_AT,
            "run_id": run_id,
        }
    )
    return rows


def write_version(
    data_dir: Path,
    *,
    batch_id: str,
    version: str,
    docs: list[Doc],
    rejects: list[dict] | None = None,
) -> Published:
    """Publish one version of a batch, as the flow does: one staged shard, one commit."""
    run_id = f"run-{version}"
    tables: dict[str, list[dict]] = {table: [] for table in BATCH_TABLES}
    for doc in docs:
        for table, rows in doc_rows(doc, batch_id=batch_id, run_id=run_id).items():
            tables[table].extend(rows)
    tables["rejects"] = [
        {"batch_id": batch_id, "run_id": run_id, **reject} for reject in rejects or []
    ]
    layout = Layout.at(data_dir)
    shard = layout.shard_dir(batch_id, f"factory-{version}")
    writer = ShardWriter(shard, batch_id=batch_id)
    for table, schema in BATCH_TABLES.items():
        writer.write(table, pa.Table.from_pylist(tables[table], schema=schema))
    writer.commit({})
    manifest = {"n_input": len(docs) + len(rejects or []), "items": []}
    return publish_batch(layout, batch_id, [shard], manifest, version=version)


def write_run(data_dir: Path, **row: object) -> None:
    full = {name: None for name in RUNS.names} | row
    write_run_record(Layout.at(data_dir), full)


@contextlib.contextmanager
def catalog_held_open(data_dir: Path) -> Iterator[None]:
    """Another process in the middle of a write transaction on the catalog (it has deleted rows
    and holds SQLite's write lock), as a pipeline about to commit would be."""
    script = textwrap.dedent(
        f"""
        import sys
        from docmill.tasks.lake import catalog
        from docmill.tasks.lake.layout import Layout
        con = catalog.connect(Layout.at({str(data_dir)!r}).catalog)
        con.execute("begin transaction")
        con.execute("delete from {ALIAS}.stored.documents where batch_id = 'no-such-batch'")
        con.execute("insert into {ALIAS}.stored.runs (run_id) values ('held-open')")
        print("ready", flush=True)
        sys.stdin.read()
        con.execute("rollback")
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def published_files(
    data_dir: Path, table: str, batch_id: str, *, superseded: bool = False
) -> list[Path]:
    """The data files of `table` holding only `batch_id`'s rows, found through the catalog (the
    publish's files are named by DuckLake): those of the current snapshot, or with `superseded`
    those of earlier versions only."""
    from docmill.warehouse.check import lake_files
    from docmill.warehouse.query import connect_read_only

    with connect_read_only(data_dir) as con:
        current = {f.path for f in lake_files(con)}
        every = lake_files(con, earlier=superseded)
    folder = data_dir / "tables" / "stored" / table  # where a superseded file's relative path is
    return [
        folder / f.path if not Path(f.path).is_absolute() else Path(f.path)
        for f in every
        if f.kind == "data"
        and f.table == table
        and f.batch_range == (batch_id, batch_id)
        and (f.path not in current) == superseded
    ]


V1 = "20260101T000000000000Z-00000001"
SAMPLE_LONG = "Xi Jinping met Han Duck-soo in Seoul to talk about trade and tariffs and Ukraine ."
XI = Mention(0, "Xi Jinping", "PERSON")
LAVROV = Mention(0, "Sergey Lavrov", "PERSON", canonical="Lavrov")
SEOUL = Mention(1, "Seoul", "GPE")


def sample_docs(batch: str, n: int = 40) -> list[Doc]:
    """`n` documents of one long sentence each, every one naming Xi Jinping."""
    return [
        Doc(f"{batch}-d{i}", [f"{SAMPLE_LONG} Number {i} of {batch} ."], [XI]) for i in range(n)
    ]


def version(n: int) -> str:
    """The n-th version name, in publish order."""
    return f"202601{n:02d}T000000000000Z-{n:08d}"


def build_lake(data_dir: Path, n_batches: int = 6) -> None:
    """Several batches, each with a reject; b0 published twice; d-shared in b0 and again in
    the last batch, which `documents` shows."""
    write_version(data_dir, batch_id="b0", version=version(1), docs=[Doc("d-old", ["Old ."])])
    for b in range(n_batches):
        docs = [
            Doc(
                f"d{b}-{i}",
                ["Xi Jinping met Sergey Lavrov .", "Then Seoul ."],
                [XI, LAVROV, SEOUL],
            )
            for i in range(3)
        ]
        if b in (0, n_batches - 1):
            docs.append(Doc("d-shared", [f"Lavrov in Seoul for batch {b} ."], []))
        write_version(
            data_dir,
            batch_id=f"b{b}",
            version=version(b + 2),
            docs=docs,
            rejects=[{"source_uri": f"file:///in/{b}.bin", "reason": "binary", "detail": "NUL"}],
        )
        write_run(data_dir, run_id=f"run-{b}", batch_id=f"b{b}", status="completed")
    build_warehouse(data_dir)
