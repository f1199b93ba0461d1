"""Entity post-processing: span repairs on spaCy's output and canonical names of mentions.

Repairs work on entity spans in token positions (`EntSpan`) plus the token facts they need
(`words`, `spaces`, `sents`: any sequences indexable by token position), so they run on a real
spaCy `Doc` and on a hand-built one alike and need no model. The rules, in the order applied:

1. `trim_to_unit` — an entity never crosses a sentence start or a line break: it is cut to the
   part in the sentence and line where it starts (the head of a name carries its meaning; the
   tail across a break is almost always a tagging error). A span with nothing left is dropped.
   `cut_at_open_bracket` likewise cuts before a bracket the entity opens but does not close
   (`Scott Draper ( Australia` -> `Scott Draper`).
2. `strip_edges` — tokens that are not part of the name come off the edges: possessives
   (`’s`, `'s`, a trailing `'`) and a leading "the" from names (`the Federal Reserve` ->
   `Federal Reserve`, as in canonical names); trailing number tokens from people, places and
   peoples (`Somerset 83` -> `Somerset`); punctuation and whitespace tokens from any entity
   (`"Reuters` -> `Reuters`). Symbols that belong to a value stay (`$5`, `5%`).
3. `extend_given_name` — a PERSON span of two or more tokens that ends in a short capitalised
   token glued (no whitespace) to `-` and a short lower-case word takes them in
   (`Han Duck` + `-soo` -> `Han Duck-soo`). Shapes only, never particular names; a few common
   English hyphen suffixes (`-era`, `-led`, ...) are excluded.
4. `resolve_overlaps` — a span grown by rule 3 wins over any span it now overlaps.

Canonical names (`canonical_name` per mention, `canonicalize` per document) are described in
their docstrings and in docs/evaluation.md.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

_SPACES = re.compile(r"\s+")
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")

# Labels whose "entities" are values (dates, amounts, counts), not names: lists of top entities
# leave them out, or "2" and "first" would crowd out the people, places and organisations.
VALUE_LABELS = frozenset({"CARDINAL", "DATE", "MONEY", "ORDINAL", "PERCENT", "QUANTITY", "TIME"})

# Labels whose surface form is a name; a leading "the" is part of the phrase, not the name.
_NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT"})

_POSSESSIVE_TOKENS = frozenset({"'s", "’s", "'S", "’S", "'", "’"})
_POSSESSOR_LABELS = _NAME_LABELS | {"WORK_OF_ART", "LAW", "LANGUAGE"}
# People, places and peoples never end in a number: `Somerset 83` is a name and a score.
_NUMBERLESS_LABELS = frozenset({"PERSON", "GPE", "LOC", "NORP"})
_NUMBER = re.compile(r"^(?=.*\d)[\d.,:/+=\-]+$")
_OPEN_BRACKETS = {"(": ")", "[": "]", "{": "}"}
# Punctuation that never belongs at the edge of a name or value. `%`, `$`, `#`, `&` and other
# symbols are left alone: they are part of PERCENT, MONEY and some ORG spans.
_EDGE_PUNCT_CHARS = frozenset("\"'“”‘’«»„‚()[]{}<>,.;:!?-–—/\\|*·…")
# English words that follow a name after a hyphen without being part of it ("Obama-era").
_HYPHEN_SUFFIXES = frozenset(
    {"era", "led", "based", "born", "style", "like", "type", "backed", "owned", "run", "made"}
)
_MAX_GIVEN_PART = 5


class EntSpan(NamedTuple):
    """An entity as token positions [start, end) in one spaCy Doc, with its label."""

    start: int
    end: int
    label: str


def trim_to_unit(
    span: EntSpan, words: Sequence[str], sents: Sequence[int]
) -> tuple[EntSpan | None, str | None]:
    """Cut `span` at the first sentence change or line-break token after its start.

    Returns the (possibly shorter) span or None when nothing is left, and the repair made
    ("cut_at_sentence", "cut_at_line_break") or None.
    """
    for i in range(span.start + 1, span.end):
        if "\n" in words[i]:
            return _nonempty(span._replace(end=i)), "cut_at_line_break"
        if sents[i] != sents[span.start]:
            return _nonempty(span._replace(end=i)), "cut_at_sentence"
    if "\n" in words[span.start]:
        return None, "cut_at_line_break"
    return span, None


def strip_edges(span: EntSpan, words: Sequence[str]) -> tuple[EntSpan | None, list[str]]:
    """Remove what is not part of a name from both edges of `span`: possessive tokens (`’s`,
    `'s`, `'`), a leading "the" and trailing number tokens (`Somerset 83`) from names only;
    punctuation and whitespace tokens from any entity. Returns the span (None when nothing is
    left) and the repairs made, one name per token removed.
    """
    start, end = span.start, span.end
    is_name = span.label in _POSSESSOR_LABELS
    done: list[str] = []
    while end > start:
        last = words[end - 1]
        if is_name and last in _POSSESSIVE_TOKENS:
            done.append("possessive")
        elif _is_edge_punct(last):
            done.append("punctuation")
        elif span.label in _NUMBERLESS_LABELS and _NUMBER.match(last) and end - 1 > start:
            done.append("trailing_number")
        else:
            break
        end -= 1
    while start < end:
        first = words[start]
        if _is_edge_punct(first):
            done.append("punctuation")
        elif is_name and first.lower() == "the" and end - start > 1:
            done.append("leading_the")
        else:
            break
        start += 1
    return (span._replace(start=start, end=end) if end > start else None), done


def cut_at_open_bracket(span: EntSpan, words: Sequence[str]) -> EntSpan | None:
    """Cut `span` before an opening bracket that it does not close (`Scott Draper ( Australia`).
    Returns the shorter span, or None when there is no such bracket (or nothing before it)."""
    for i in range(span.start + 1, span.end):
        if words[i] in _OPEN_BRACKETS:
            closer = _OPEN_BRACKETS[words[i]]
            if all(words[j] != closer for j in range(i + 1, span.end)):
                return span._replace(end=i)
    return None


def extend_given_name(
    span: EntSpan, words: Sequence[str], spaces: Sequence[bool], sents: Sequence[int]
) -> EntSpan:
    """Grow a PERSON span over a hyphenated given-name continuation glued to its last token.

    Conditions (token shapes only): the span has at least two tokens; its last token is
    capitalised, alphabetic and at most five letters long; then, with no whitespace in between,
    come `-` and a lower-case alphabetic word of at most five letters that is not a common
    English hyphen suffix, in the same sentence. Repeats for chains (`Kim Jong-il-sung`).
    """
    if span.label != "PERSON" or span.end - span.start < 2:
        return span
    end = span.end
    if not _is_given_part(words[end - 1], lower=False):
        return span
    while (
        end + 1 < len(words)
        and not spaces[end - 1]
        and words[end] == "-"
        and not spaces[end]
        and _is_given_part(words[end + 1], lower=True)
        and words[end + 1] not in _HYPHEN_SUFFIXES
        and sents[end + 1] == sents[span.start]
    ):
        end += 2
    return span._replace(end=end)


def resolve_overlaps(spans: Sequence[EntSpan], grown: set[int]) -> tuple[list[EntSpan], int]:
    """Non-overlapping spans in order: the grown ones (by index) first, then the rest as long
    as they do not overlap anything kept. Returns the spans and how many were dropped."""
    order = sorted(range(len(spans)), key=lambda i: (i not in grown, i))
    taken: list[EntSpan] = []
    for i in order:
        span = spans[i]
        if all(span.end <= t.start or span.start >= t.end for t in taken):
            taken.append(span)
    taken.sort()
    return taken, len(spans) - len(taken)


def repair_entities(
    spans: Sequence[EntSpan],
    words: Sequence[str],
    spaces: Sequence[bool],
    sents: Sequence[int],
) -> tuple[list[EntSpan], Counter[str]]:
    """Apply every repair rule (see the module docstring) to the entities of one Doc.

    `words[i]` is the text of token i, `spaces[i]` whether whitespace follows it, `sents[i]` the
    index of its sentence. Returns the repaired, non-overlapping spans in order and a counter
    of the repairs made (only non-zero entries).
    """
    repairs: Counter[str] = Counter()
    kept: list[EntSpan] = []
    grown: set[int] = set()
    for original in spans:
        span, cut = trim_to_unit(original, words, sents)
        if cut:
            repairs[cut] += 1
        if span is not None and (shorter := cut_at_open_bracket(span, words)) is not None:
            span = shorter
            repairs["cut_at_bracket"] += 1
        if span is not None:
            span, stripped = strip_edges(span, words)
            repairs.update(stripped)
        if span is None:
            repairs["dropped_empty"] += 1
            continue
        longer = extend_given_name(span, words, spaces, sents)
        if longer != span:
            repairs["hyphen_given_name"] += 1
            grown.add(len(kept))
        kept.append(longer)
    result, dropped = resolve_overlaps(kept, grown)
    if dropped:
        repairs["dropped_overlap"] += dropped
    return result, repairs


def _nonempty(span: EntSpan) -> EntSpan | None:
    return span if span.end > span.start else None


def _is_edge_punct(word: str) -> bool:
    return not word.strip() or all(ch in _EDGE_PUNCT_CHARS for ch in word)


def _is_given_part(word: str, *, lower: bool) -> bool:
    if not (word.isalpha() and len(word) <= _MAX_GIVEN_PART):
        return False
    return word.islower() if lower else word[0].isupper() and word[1:].islower()


# --- canonical names ---------------------------------------------------------------------------


def canonical_name(text: str, label: str) -> str:
    """A normalised form of a mention: single spaces, no leading "the" or possessive, no
    surrounding punctuation. Case is kept: "US" and "us" are different things."""
    name = _SPACES.sub(" ", text).strip()
    if label in _NAME_LABELS:
        name = _LEADING_THE.sub("", name)
        if name.endswith(("'s", "’s")):
            name = name[:-2]
        elif name.endswith(("s'", "s’")):
            name = name[:-1]
    stripped = _EDGE_PUNCT.sub("", name)
    return stripped or name


# Function words are not letters of an acronym ("Bank of England" -> "BE").
_ACRONYM_SKIP = frozenset({"of", "the", "and", "for", "&", "in", "on", "at", "to", "de", "du"})
_ACRONYM = re.compile(r"^(?:[A-Z]\.?){2,8}$")


def canonicalize(mentions: Sequence[tuple[str, str]]) -> tuple[list[str], Counter[str]]:
    """Canonical names for all (text, label) mentions of ONE document, in order.

    Rules, applied on top of `canonical_name`:

    - case: mentions of one label that differ only in case take the first form that is not
      all upper-case (`SOUTH KOREA` -> `South Korea` when both occur); otherwise case is kept.
    - PERSON: a mention whose words are the first or last words of longer PERSON names of the
      document (`Xi` -> `Xi Jinping`, `Lavrov` -> `Sergey Lavrov`) takes the longest of them,
      provided all those names are the same person (each a prefix or suffix of that longest
      one). Two different people sharing the word (`Kim Jong-un`, `Kim Yo-jong`) leave `Kim`
      alone.
    - ORG: an acronym (2-8 capitals, dots allowed) equal to the initials of the capitalised
      words of exactly one longer ORG name of the document takes that name (`KCNA` ->
      `Korean Central News Agency`).

    Returns the names and counts of the links made ("canonical_case", "canonical_person",
    "canonical_acronym").
    """
    names = [canonical_name(text, label) for text, label in mentions]
    links: Counter[str] = Counter()
    preferred: dict[tuple[str, str], str] = {}
    for name, (_, label) in zip(names, mentions, strict=True):
        key = (name.casefold(), label)
        current = preferred.get(key)
        if current is None or (current.isupper() and not name.isupper()):
            preferred[key] = name
    cased = []
    for name, (_, label) in zip(names, mentions, strict=True):
        better = preferred[(name.casefold(), label)]
        if better != name:
            links["canonical_case"] += 1
        cased.append(better)

    persons = {n for n, (_, lab) in zip(cased, mentions, strict=True) if lab == "PERSON"}
    orgs = {n for n, (_, lab) in zip(cased, mentions, strict=True) if lab == "ORG"}
    person_full = {n: full for n in persons if (full := _longer_person(n, persons))}
    org_full = {n: full for n in orgs if (full := _expanded_acronym(n, orgs))}
    result = []
    for name, (_, label) in zip(cased, mentions, strict=True):
        if label == "PERSON" and name in person_full:
            links["canonical_person"] += 1
            name = person_full[name]
        elif label == "ORG" and name in org_full:
            links["canonical_acronym"] += 1
            name = org_full[name]
        result.append(name)
    return result, links


def _words(name: str) -> list[str]:
    return name.casefold().split()


def _is_edge_part(short: list[str], long: list[str]) -> bool:
    n = len(short)
    return 0 < n < len(long) and (long[:n] == short or long[-n:] == short)


def _longer_person(name: str, persons: set[str]) -> str | None:
    short = _words(name)
    matches = [p for p in persons if _is_edge_part(short, _words(p))]
    if not matches:
        return None
    longest = max(matches, key=lambda p: (len(_words(p)), len(p), p))
    top = _words(longest)
    if all(p == longest or _is_edge_part(_words(p), top) for p in matches):
        return longest
    return None


def _expanded_acronym(name: str, orgs: set[str]) -> str | None:
    if not _ACRONYM.match(name):
        return None
    letters = name.replace(".", "")
    matches = [o for o in orgs if o != name and _initials(o) == letters]
    return matches[0] if len(matches) == 1 else None


def _initials(name: str) -> str:
    words = [w for w in re.split(r"[\s\-]+", name) if w and w.lower() not in _ACRONYM_SKIP]
    if len(words) < 2 or not all(w[0].isupper() for w in words):
        return ""
    return "".join(w[0] for w in words)
