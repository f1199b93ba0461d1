"""Gold-standard readers: CoNLL-U (Universal Dependencies) and CoNLL-2003 (NER) files rebuilt
into raw documents with gold spans as character offsets into the rebuilt text.

The raw text is rebuilt the same way for every system that is scored on it:

- CoNLL-U: a sentence is its `# text =` line; sentences of a paragraph (`# newpar`) are joined
  by one space, paragraphs by a blank line; `# newdoc` starts a document.
- CoNLL-2003: tokens are joined by single spaces, sentences (blank-line separated blocks) by
  a newline; `-DOCSTART-` lines separate documents wherever they are (the shared copy has the
  first one moved to the end of the file). IOB1 tags become spans: `I-X` continues an entity of
  type X, `B-X` or a change of type starts a new one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

GOLD_KINDS = ("ud", "conll")

# spaCy's OntoNotes labels as CoNLL-2003 types; labels not listed have no CoNLL counterpart
# (dates, numbers, ...) and are left out of the scores.
ONTONOTES_TO_CONLL: dict[str, str] = {
    "PERSON": "PER",
    "GPE": "LOC",
    "LOC": "LOC",
    "ORG": "ORG",
    **dict.fromkeys(("NORP", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE", "PRODUCT", "FAC"), "MISC"),
}


class GoldFormatError(ValueError):
    """A gold file that does not follow its format; the message names the file and line."""


@dataclass(slots=True)
class GoldDocument:
    """A rebuilt raw document and its gold spans, (start, end) character offsets into `text`.

    `upos[i]` is the UPOS of `tokens[i]`, or None for a multiword token whose words cannot be
    placed in the text one by one (it is scored as a token but not for its tag).
    """

    doc_id: str
    text: str
    sentences: list[tuple[int, int]] = field(default_factory=list)
    tokens: list[tuple[int, int]] = field(default_factory=list)
    upos: list[str | None] = field(default_factory=list)
    entities: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass(slots=True)
class GoldSet:
    """The documents of one gold file and the layers it annotates (what can be scored)."""

    kind: str
    source: str
    documents: list[GoldDocument]
    layers: frozenset[str]


def load_gold(kind: str, path: Path) -> GoldSet:
    """Read a gold file of `kind` ("ud": CoNLL-U, "conll": CoNLL-2003)."""
    if kind not in GOLD_KINDS:
        raise ValueError(f"unknown gold format {kind!r}; choose one of {', '.join(GOLD_KINDS)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"gold file {path} does not exist")
    with path.open(encoding="utf-8") as lines:
        if kind == "ud":
            docs = read_conllu(lines, source=str(path))
            layers = frozenset({"sentences", "tokens", "upos"})
        else:
            docs = read_conll2003(lines, source=str(path))
            layers = frozenset({"entities"})
    if not docs:
        raise GoldFormatError(f"{path}: no documents found; is it a {kind} file?")
    return GoldSet(kind, str(path), docs, layers)


# --- CoNLL-U -----------------------------------------------------------------------------------


class _Word(NamedTuple):
    form: str
    upos: str | None
    covers: int = 0  # > 0: a multiword token standing for the next `covers` words


@dataclass(slots=True)
class _Sentence:
    text: str = ""
    words: list[_Word] = field(default_factory=list)
    line_no: int = 0


@dataclass(slots=True)
class _UdDoc:
    doc_id: str
    paragraphs: list[list[_Sentence]] = field(default_factory=list)


def read_conllu(lines: Iterable[str], *, source: str = "<conllu>") -> list[GoldDocument]:
    """Documents of a CoNLL-U file: sentences from `# text`, tokens and UPOS from word lines."""
    docs: list[_UdDoc] = []
    sentence: _Sentence | None = None
    for line_no, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if line.startswith("#"):
            key, _, value = line[1:].partition("=")
            head, value = (key.split() or [""])[0], value.strip()
            if head == "newdoc":
                docs.append(_UdDoc(value or f"doc-{len(docs) + 1:04d}"))
            elif head == "newpar":
                _current(docs).paragraphs.append([])
            elif head == "text" and key.strip() == "text":
                sentence = sentence or _Sentence(line_no=line_no)
                sentence.text = value
            continue
        if not line.strip():
            if sentence is not None:
                _add_sentence(docs, sentence, source)
            sentence = None
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise GoldFormatError(f"{source}:{line_no}: expected 10 tab-separated columns")
        sentence = sentence or _Sentence(line_no=line_no)
        word_id, form, upos = cols[0], cols[1], cols[3]
        if "." in word_id:
            continue  # an empty node has no surface form
        if "-" in word_id:
            first, last = (int(x) for x in word_id.split("-"))
            sentence.words.append(_Word(form, None, last - first + 1))
        else:
            sentence.words.append(_Word(form, None if upos == "_" else upos))
    if sentence is not None:
        _add_sentence(docs, sentence, source)
    return [_build_ud(doc, source) for doc in docs if any(doc.paragraphs)]


def _current(docs: list[_UdDoc]) -> _UdDoc:
    if not docs:
        docs.append(_UdDoc("doc-0001"))
    return docs[-1]


def _add_sentence(docs: list[_UdDoc], sentence: _Sentence, source: str) -> None:
    if not sentence.text:
        raise GoldFormatError(f"{source}:{sentence.line_no}: sentence without a '# text' line")
    doc = _current(docs)
    if not doc.paragraphs:
        doc.paragraphs.append([])
    doc.paragraphs[-1].append(sentence)


def _build_ud(doc: _UdDoc, source: str) -> GoldDocument:
    gold = GoldDocument(doc.doc_id, "")
    parts: list[str] = []
    pos = 0
    for p_no, paragraph in enumerate(p for p in doc.paragraphs if p):
        if p_no:
            parts.append("\n\n")
            pos += 2
        for s_no, sentence in enumerate(paragraph):
            if s_no:
                parts.append(" ")
                pos += 1
            gold.sentences.append((pos, pos + len(sentence.text)))
            _place_tokens(gold, sentence, pos, source)
            parts.append(sentence.text)
            pos += len(sentence.text)
    gold.text = "".join(parts)
    return gold


def _place_tokens(gold: GoldDocument, sentence: _Sentence, offset: int, source: str) -> None:
    """Find each surface token of `sentence` in its text, left to right. The words of a
    multiword token are tokens of their own when they spell it exactly (`don't` = `do`+`n't`)."""
    text, cursor, i = sentence.text, 0, 0
    words = sentence.words
    while i < len(words):
        word = words[i]
        start = text.find(word.form, cursor)
        if start < 0:
            raise GoldFormatError(
                f"{source}:{sentence.line_no}: token {word.form!r} not found in the sentence text"
            )
        cursor = start + len(word.form)
        parts = words[i + 1 : i + 1 + word.covers]
        i += 1 + word.covers
        if word.covers and "".join(p.form for p in parts) == word.form:
            for part in parts:
                gold.tokens.append((offset + start, offset + start + len(part.form)))
                gold.upos.append(part.upos)
                start += len(part.form)
        else:
            gold.tokens.append((offset + start, offset + cursor))
            gold.upos.append(word.upos)


# --- CoNLL-2003 --------------------------------------------------------------------------------


def read_conll2003(lines: Iterable[str], *, source: str = "<conll>") -> list[GoldDocument]:
    """Documents of a CoNLL-2003 file (columns: token ... tag; IOB1 tags)."""
    docs: list[list[list[tuple[str, str]]]] = [[]]
    sentence: list[tuple[str, str]] = []
    for line_no, raw in enumerate(lines, 1):
        cols = raw.split()
        if not cols:
            if sentence:
                docs[-1].append(sentence)
            sentence = []
            continue
        if cols[0] == "-DOCSTART-":
            if sentence:
                docs[-1].append(sentence)
            sentence = []
            docs.append([])
            continue
        if len(cols) < 2:
            raise GoldFormatError(f"{source}:{line_no}: expected a token and a tag")
        sentence.append((cols[0], cols[-1]))
    if sentence:
        docs[-1].append(sentence)
    numbered = [d for d in docs if d]
    return [_build_conll(f"conll-{n:04d}", d) for n, d in enumerate(numbered, 1)]


def _build_conll(doc_id: str, sentences: list[list[tuple[str, str]]]) -> GoldDocument:
    gold = GoldDocument(doc_id, "")
    lines: list[str] = []
    pos = 0
    for sentence in sentences:
        line_start = pos
        spans: list[tuple[int, int]] = []
        for n, (token, _) in enumerate(sentence):
            if n:
                pos += 1
            spans.append((pos, pos + len(token)))
            pos += len(token)
        gold.sentences.append((line_start, pos))
        gold.tokens.extend(spans)
        gold.upos.extend([None] * len(spans))
        gold.entities.extend(iob1_spans(spans, [tag for _, tag in sentence]))
        lines.append(" ".join(token for token, _ in sentence))
        pos += 1  # the newline
    gold.text = "\n".join(lines)
    return gold


def iob1_spans(spans: list[tuple[int, int]], tags: list[str]) -> list[tuple[int, int, str]]:
    """Entity (start, end, type) from token spans and IOB1 (or IOB2) tags."""
    entities: list[tuple[int, int, str]] = []
    current: list = []  # [start, end, type]
    for (start, end), tag in zip(spans, tags, strict=True):
        prefix, _, kind = tag.partition("-")
        if prefix not in ("B", "I") or not kind:
            if current:
                entities.append(tuple(current))
            current = []
            continue
        if prefix == "B" or not current or current[2] != kind:
            if current:
                entities.append(tuple(current))
            current = [start, end, kind]
        else:
            current[1] = end
    if current:
        entities.append(tuple(current))
    return entities
