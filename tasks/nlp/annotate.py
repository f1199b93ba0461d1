"""Segmentation and tagging with spaCy, turned straight into Arrow columns.

Each cleaned paragraph is one spaCy `Doc` (long paragraphs are cut into segments first), so
sentences and entities never cross a paragraph break and no single `Doc` exceeds spaCy's
memory-hungry length limits. Token attributes come out of `Doc.to_array` and are mapped to
strings once per chunk, not per token.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from docmill.tasks import schemas
from docmill.tasks.nlp.entities import EntSpan, canonicalize, repair_entities
from docmill.tasks.options import CHUNK_DOCS, MAX_SEGMENT_CHARS, NLP_BATCH_SIZE
from docmill.tasks.records import Document

_IOB_NAMES = np.array(["", "I", "O", "B"], dtype=object)


_SEGMENT_CUT = re.compile(r"\n|(?<=[.!?])\s+|\s+")


@dataclass(slots=True)
class Segment:
    """A piece of one paragraph handed to spaCy, with where it sits in the document."""

    doc_pos: int
    para_idx: int
    offset: int
    text: str


@dataclass(slots=True)
class TagCounts:
    n_sentences: int = 0
    n_tokens: int = 0
    n_entities: int = 0


@dataclass(slots=True)
class ChunkAnnotations:
    """Arrow tables for one chunk of documents plus per-document counts (by position)."""

    sentences: pa.Table
    tokens: pa.Table
    entities: pa.Table
    counts: list[TagCounts] = field(default_factory=list)
    # Empty (zero rows) without a parser: the fast profile has no noun chunks.
    noun_chunks: pa.Table = field(
        default_factory=lambda: schemas.unbatched(schemas.NOUN_CHUNKS).empty_table()
    )
    # Entity repairs and canonical-name links made in this chunk, by rule (see entities.py).
    repairs: dict[str, int] = field(default_factory=dict)


def segment_paragraphs(docs: Sequence[Document], *, max_segment_chars: int) -> Iterator[Segment]:
    """Yield every paragraph of `docs` (those to be tagged), cut into pieces of at most
    `max_segment_chars` at line breaks, sentence ends or spaces when it is longer."""
    for doc_pos, doc in enumerate(docs):
        for para_idx, (start, end) in enumerate(doc.paragraphs):
            yield from _cut(doc_pos, para_idx, start, doc.text[start:end], max_segment_chars)


def _cut(doc_pos: int, para_idx: int, start: int, text: str, limit: int) -> Iterator[Segment]:
    while len(text) > limit:
        cut = 0
        for match in _SEGMENT_CUT.finditer(text, 0, limit):
            cut = match.end()
        if cut <= 0:
            cut = limit
        piece = text[:cut].rstrip()
        if piece:
            yield Segment(doc_pos, para_idx, start, piece)
        skipped = len(text[cut:]) - len(text[cut:].lstrip())
        start += cut + skipped
        text = text[cut + skipped :]
    if text:
        yield Segment(doc_pos, para_idx, start, text)


# The token attributes read with `Doc.to_array`, one column each, by name.
class Col(enum.IntEnum):
    ORTH = 0
    LEMMA = 1
    POS = 2
    TAG = 3
    DEP = 4
    ENT_TYPE = 5
    ENT_IOB = 6
    IDX = 7
    LENGTH = 8
    HEAD = 9
    SENT_START = 10
    IS_SPACE = 11
    IS_STOP = 12
    IS_PUNCT = 13


def annotate_chunk(
    nlp, docs: Sequence[Document], *, max_segment_chars: int = 10_000, batch_size: int = 64
) -> ChunkAnnotations:
    """Tag every paragraph of `docs` and return Arrow tables whose offsets index `doc.text`.

    Call inside `nlp.memory_zone()`: all strings are resolved before this returns.
    """
    from spacy import attrs

    columns = [getattr(attrs, col.name) for col in Col]
    tables = _ChunkTables(docs, with_noun_chunks="parser" in nlp.pipe_names)
    segments = segment_paragraphs(docs, max_segment_chars=max_segment_chars)
    pairs = ((seg.text, seg) for seg in segments)
    for sdoc, seg in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size):
        if len(sdoc):
            arr = sdoc.to_array(columns).astype(np.int64, copy=False)
            tables.add(sdoc, seg, arr)
    return tables.finish(nlp)


class _ChunkTables:
    """The rows of one chunk's tables, built segment by segment. Sentence, token, entity and
    noun-chunk numbers run on across the segments of a document; tokens that are only
    whitespace are left out and the numbers skip them."""

    def __init__(self, docs: Sequence[Document], *, with_noun_chunks: bool) -> None:
        self.docs = docs
        self.with_noun_chunks = with_noun_chunks
        self.repairs: Counter[str] = Counter()
        self.next_sent = [0] * len(docs)
        self.next_tok = [0] * len(docs)
        self.next_ent = [0] * len(docs)
        self.next_chunk = [0] * len(docs)
        self.tok_parts: list[np.ndarray] = []
        self.tok_doc: list[np.ndarray] = []
        self.tok_sent: list[np.ndarray] = []
        self.tok_idx: list[np.ndarray] = []
        self.tok_head: list[np.ndarray] = []
        self.tok_start: list[np.ndarray] = []
        self.sentences = _rows(schemas.SENTENCES)
        self.entities = _rows(schemas.ENTITIES, without=("canonical",))
        self.ent_doc_pos: list[int] = []
        self.noun_chunks = _rows(schemas.NOUN_CHUNKS)

    def add(self, sdoc, seg: Segment, arr: np.ndarray) -> None:
        from spacy.attrs import ENT_IOB, ENT_TYPE

        pos = seg.doc_pos
        keep = arr[:, Col.IS_SPACE] == 0
        starts = arr[:, Col.SENT_START] == 1
        starts[0] = True
        raw_sent = np.cumsum(starts) - 1
        if sdoc.ents and _repair_doc_entities(sdoc, arr, raw_sent, self.repairs):
            entity_columns = sdoc.to_array([ENT_TYPE, ENT_IOB]).astype(np.int64, copy=False)
            arr[:, Col.ENT_TYPE : Col.ENT_IOB + 1] = entity_columns
        kept_sents = np.unique(raw_sent[keep])
        sent_map = np.full(raw_sent.max() + 1, -1, dtype=np.int64)
        sent_map[kept_sents] = np.arange(len(kept_sents)) + self.next_sent[pos]
        new_idx = np.cumsum(keep) - 1 + self.next_tok[pos]
        heads = np.arange(len(sdoc)) + arr[:, Col.HEAD]
        n_kept = int(keep.sum())

        self.tok_parts.append(arr[keep])
        self.tok_doc.append(np.full(n_kept, pos, dtype=np.int64))
        self.tok_sent.append(sent_map[raw_sent[keep]])
        self.tok_idx.append(new_idx[keep])
        self.tok_head.append(np.maximum(new_idx[heads[keep]], self.next_tok[pos]))
        self.tok_start.append(arr[keep][:, Col.IDX] + seg.offset)
        self._add_sentences(seg, arr, raw_sent, keep, kept_sents)
        self._add_entities(sdoc, seg, sent_map, raw_sent)
        if self.with_noun_chunks:
            self._add_noun_chunks(sdoc, seg, sent_map, raw_sent)
        self.next_sent[pos] += len(kept_sents)
        self.next_tok[pos] += n_kept

    def _add_sentences(self, seg, arr, raw_sent, keep, kept_sents) -> None:
        doc = self.docs[seg.doc_pos]
        for local, raw in enumerate(kept_sents):
            members = np.nonzero((raw_sent == raw) & keep)[0]
            first, last = int(members[0]), int(members[-1])
            start = seg.offset + int(arr[first, Col.IDX])
            end = seg.offset + int(arr[last, Col.IDX] + arr[last, Col.LENGTH])
            _append(
                self.sentences,
                doc_id=doc.doc_id,
                sent_idx=self.next_sent[seg.doc_pos] + local,
                para_idx=seg.para_idx,
                start_char=start,
                end_char=end,
                n_tokens=len(members),
                text=doc.text[start:end],
            )

    def _add_entities(self, sdoc, seg, sent_map, raw_sent) -> None:
        doc = self.docs[seg.doc_pos]
        for ent in sdoc.ents:
            start, end = seg.offset + ent.start_char, seg.offset + ent.end_char
            _append(
                self.entities,
                doc_id=doc.doc_id,
                ent_idx=self.next_ent[seg.doc_pos],
                sent_idx=int(sent_map[raw_sent[ent.start]]),
                start_char=start,
                end_char=end,
                text=doc.text[start:end],
                label=ent.label_,
            )
            self.ent_doc_pos.append(seg.doc_pos)
            self.next_ent[seg.doc_pos] += 1

    def _add_noun_chunks(self, sdoc, seg, sent_map, raw_sent) -> None:
        doc = self.docs[seg.doc_pos]
        for chunk in sdoc.noun_chunks:
            start, end = seg.offset + chunk.start_char, seg.offset + chunk.end_char
            _append(
                self.noun_chunks,
                doc_id=doc.doc_id,
                chunk_idx=self.next_chunk[seg.doc_pos],
                sent_idx=int(sent_map[raw_sent[chunk.start]]),
                start_char=start,
                end_char=end,
                text=doc.text[start:end],
                root_lemma=chunk.root.lemma_,
            )
            self.next_chunk[seg.doc_pos] += 1

    def finish(self, nlp) -> ChunkAnnotations:
        counts = [
            TagCounts(self.next_sent[pos], self.next_tok[pos], self.next_ent[pos])
            for pos in range(len(self.docs))
        ]
        self.entities["canonical"] = _canonical_names(self.ent_doc_pos, self.entities, self.repairs)
        tokens = _token_table(
            nlp,
            self.docs,
            self.tok_parts,
            self.tok_doc,
            self.tok_sent,
            self.tok_idx,
            self.tok_head,
            self.tok_start,
        )
        return ChunkAnnotations(
            _table(self.sentences, schemas.SENTENCES),
            tokens,
            _table(self.entities, schemas.ENTITIES),
            counts,
            _table(self.noun_chunks, schemas.NOUN_CHUNKS),
            dict(self.repairs),
        )


def _rows(schema: pa.Schema, without: tuple[str, ...] = ()) -> dict[str, list]:
    """Empty columns for the rows of a table, as the tagging steps build them (no batch_id)."""
    return {name: [] for name in schemas.unbatched(schema).names if name not in without}


def _append(columns: dict[str, list], **row) -> None:
    for name, value in row.items():
        columns[name].append(value)


def _table(columns: dict[str, list], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pydict(columns, schema=schemas.unbatched(schema))


class _TokenTexts(Sequence[str]):
    """Token texts of a segment, sliced from its text by offsets only where a repair rule
    looks (entities are sparse), without creating spaCy Token objects."""

    def __init__(self, text: str, starts: np.ndarray, lengths: np.ndarray) -> None:
        self.text, self.starts, self.lengths = text, starts, lengths

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i):
        start = int(self.starts[i])
        return self.text[start : start + int(self.lengths[i])]


class _TokenSpaces(_TokenTexts):
    """Whether whitespace follows each token (spaCy's `whitespace_`)."""

    def __getitem__(self, i):
        end = int(self.starts[i] + self.lengths[i])
        return end < len(self.text) and self.text[end] == " "


def _repair_doc_entities(
    sdoc, arr: np.ndarray, raw_sent: np.ndarray, repairs: Counter[str]
) -> bool:
    """Repair the entities of `sdoc` in place (see entities.py); True when they changed, so
    the token columns are re-read from the Doc and stay consistent with the entity rows."""
    from spacy.tokens import Span

    spans = [EntSpan(ent.start, ent.end, ent.label_) for ent in sdoc.ents]
    starts, lengths = arr[:, Col.IDX], arr[:, Col.LENGTH]
    words = _TokenTexts(sdoc.text, starts, lengths)
    spaces = _TokenSpaces(sdoc.text, starts, lengths)
    fixed, done = repair_entities(spans, words, spaces, raw_sent)
    if fixed == spans:
        return False
    repairs.update(done)
    sdoc.ents = [Span(sdoc, span.start, span.end, label=span.label) for span in fixed]
    return True


def _canonical_names(doc_pos: list[int], rows: dict[str, list], links: Counter[str]) -> list:
    """Canonical names of the entity rows, linked within each document (all its mentions are
    in this chunk: documents never span chunks)."""
    by_doc: dict[int, list[int]] = {}
    for row, pos in enumerate(doc_pos):
        by_doc.setdefault(pos, []).append(row)
    names: list[str | None] = [None] * len(doc_pos)
    for rows_of_doc in by_doc.values():
        mentions = [(rows["text"][r], rows["label"][r]) for r in rows_of_doc]
        canonical, made = canonicalize(mentions)
        links.update(made)
        for r, name in zip(rows_of_doc, canonical, strict=True):
            names[r] = name
    return names


def _token_table(nlp, docs, parts, doc_pos, sent, idx, head, start) -> pa.Table:
    if not parts:
        return schemas.unbatched(schemas.TOKENS).empty_table()
    arr = np.concatenate(parts)
    positions = np.concatenate(doc_pos)
    starts = np.concatenate(start)
    ends = starts + arr[:, Col.LENGTH]
    doc_ids = pc.take(pa.array([d.doc_id for d in docs], pa.string()), pa.array(positions))
    columns = {
        "doc_id": doc_ids,
        "sent_idx": pa.array(np.concatenate(sent), pa.int32()),
        "tok_idx": pa.array(np.concatenate(idx), pa.int32()),
        "start_char": pa.array(starts, pa.int32()),
        "end_char": pa.array(ends, pa.int32()),
        "text": _strings(nlp, arr[:, Col.ORTH]),
        "lemma": _strings(nlp, arr[:, Col.LEMMA]),
        "pos": _strings(nlp, arr[:, Col.POS]),
        "tag": _strings(nlp, arr[:, Col.TAG]),
        "dep": _strings(nlp, arr[:, Col.DEP]),
        "head_idx": pa.array(np.concatenate(head), pa.int32()),
        "ent_type": _strings(nlp, arr[:, Col.ENT_TYPE]),
        "ent_iob": pa.array(_IOB_NAMES[arr[:, Col.ENT_IOB]].tolist(), pa.string()),
        "is_stop": pa.array(arr[:, Col.IS_STOP] == 1),
        "is_punct": pa.array(arr[:, Col.IS_PUNCT] == 1),
    }
    return pa.Table.from_pydict(columns, schema=schemas.unbatched(schemas.TOKENS))


def _strings(nlp, hashes: np.ndarray) -> pa.Array:
    """Map spaCy string hashes to an Arrow string column via their unique values."""
    unique, inverse = np.unique(hashes.astype(np.uint64), return_inverse=True)
    lookup = nlp.vocab.strings
    names = ["" if h == 0 else lookup[int(h)] for h in unique]
    return pc.take(pa.array(names, pa.string()), pa.array(inverse.astype(np.int32)))


def tag_in_chunks(
    nlp,
    docs: Iterable[Document],
    *,
    chunk_docs: int = CHUNK_DOCS,
    max_segment_chars: int = MAX_SEGMENT_CHARS,
    batch_size: int = NLP_BATCH_SIZE,
) -> Iterator[tuple[list[Document], ChunkAnnotations]]:
    """Tag `docs` chunk by chunk, each inside its own spaCy memory zone so memory stays flat."""
    chunk: list[Document] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= chunk_docs:
            yield chunk, _annotate_in_zone(nlp, chunk, max_segment_chars, batch_size)
            chunk = []
    if chunk:
        yield chunk, _annotate_in_zone(nlp, chunk, max_segment_chars, batch_size)


def _annotate_in_zone(nlp, chunk, max_segment_chars, batch_size) -> ChunkAnnotations:
    with nlp.memory_zone():
        return annotate_chunk(
            nlp, chunk, max_segment_chars=max_segment_chars, batch_size=batch_size
        )
