"""Batch versions of two rule-based spaCy components, the attribute ruler and the lemmatizer.

spaCy runs both token by token in Python: in `en_core_web_sm` 3.8 the attribute ruler's 179
rules cost 10 % of the whole pipeline and the lemmatizer another 3 % (per component, the
BBC corpus; see docs/performance.md). Both are plain functions of a few token attributes,
so here a batch of Docs becomes one numpy array, each rule is a vectorised test over it, the
lemma is computed once per distinct (text, POS, morphology) and the results go back with
`Doc.from_array`. The results are the same as spaCy's
(tests/tasks/nlp/test_batch_components.py checks every token attribute against the stock
pipeline). A component whose rules use anything beyond
what is compiled here (quantifiers, other predicates or attributes, other lemmatizer modes) is
left as it is.

spaCy's private parts this relies on, and the rule for a spaCy upgrade:

- `spacy.tokens._retokenize.normalize_token_attrs`: turns a rule's attributes (as the public
  `AttributeRuler.patterns` lists them) into the attribute ids and values spaCy sets;
- `Lemmatizer._validated`, `Lemmatizer._validate_tables()` and `Lemmatizer.cache`: the
  lemmatizer checks its tables lazily on first use and caches lemmas per token; and that its
  `lemmatize` is a bound method set at construction (the copy here rebinds it);
- `Language._components` and `Language._link_components()`: spaCy builds components only from
  registered factories, so the batch versions are put in place of the loaded ones (`_swap`).

The batch versions are installed only under the spaCy minor release they were checked against
(`CHECKED_SPACY`); under any other the stock components run. To move to a new release, run
tests/tasks/nlp/test_batch_components.py under it: if every token attribute still equals the stock
pipeline's, raise `CHECKED_SPACY`; if not, leave it, and the stock components stay the default.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import spacy
from spacy.attrs import DEP, IDS, LEMMA, LOWER, MORPH, NORM, ORTH, POS, TAG
from spacy.lookups import Lookups
from spacy.tokens import Doc
from spacy.tokens._retokenize import normalize_token_attrs
from spacy.util import minibatch

CHECKED_SPACY = "3.8"

# Token attributes a compiled pattern may test: string attributes compare hashes, flags 0/1.
_STRING_ATTRS = {"ORTH": ORTH, "LOWER": LOWER, "NORM": NORM, "TAG": TAG, "DEP": DEP, "LEMMA": LEMMA}
_FLAG_ATTRS = {name: IDS[name] for name in ("IS_SPACE", "IS_PUNCT", "IS_ALPHA", "IS_DIGIT")}
# Attributes a rule may set: token attributes only, so nothing reaches the shared lexemes.
_SETTABLE = {TAG, POS, MORPH, LEMMA, DEP}
# Lemmatizer modes whose result depends only on the token's text, POS and morphology.
_PURE_LEMMATIZER_MODES = {"rule", "lookup"}
_LEMMA_CACHE_LIMIT = 500_000


class Unsupported(ValueError):
    """A component uses a feature the batch version does not compile."""


@dataclass(frozen=True, slots=True)
class _Test:
    """One condition on one token attribute: equal to / in `values`, or (`regex`) a string
    that `regex.search` accepts, decided once per distinct value and remembered."""

    column: int
    values: np.ndarray
    negate: bool
    regex: re.Pattern | None = None
    verdicts: dict[int, bool] | None = None

    def holds(self, column: np.ndarray, strings) -> np.ndarray:
        if self.regex is not None:
            unique, inverse = np.unique(column, return_inverse=True)
            verdicts = self.verdicts
            for value in unique.tolist():
                if value not in verdicts:
                    verdicts[value] = bool(self.regex.search(strings[value] if value else ""))
            ok = np.array([verdicts[v] for v in unique.tolist()], dtype=bool)[inverse.reshape(-1)]
        elif len(self.values) > 1:
            ok = np.isin(column, self.values)
        else:
            ok = column == self.values[0]
        return ~ok if self.negate else ok


@dataclass(frozen=True, slots=True)
class _Rule:
    patterns: tuple[tuple[tuple[_Test, ...], ...], ...]
    index: int
    attrs: tuple[tuple[int, int], ...]


class _BatchComponent:
    """A pipeline component whose work is done per batch of Docs (`_apply`)."""

    def __call__(self, doc: Doc) -> Doc:
        self._apply([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        for batch in minibatch(stream, size=batch_size):
            self._apply(batch)
            yield from batch

    def _apply(self, docs: Sequence[Doc]) -> None:
        raise NotImplementedError


class BatchAttributeRuler(_BatchComponent):
    """Applies a loaded `AttributeRuler`'s rules to whole batches, in the same order and with
    the same precedence (a later rule overrides an earlier one)."""

    def __init__(self, stock) -> None:
        strings = stock.vocab.strings
        columns: dict[int, int] = {}
        rules = []
        for number, rule in enumerate(stock.patterns):
            compiled = tuple(_compile_pattern(p, columns, strings) for p in rule["patterns"])
            attrs = normalize_token_attrs(stock.vocab, dict(rule["attrs"]))
            settable = tuple(sorted(attrs.items()))
            if any(attr not in _SETTABLE for attr, _ in settable):
                raise Unsupported(f"rule {number} sets an attribute other than {_SETTABLE}")
            rules.append(_Rule(compiled, rule.get("index", 0), settable))
        self.vocab = stock.vocab
        self.name = getattr(stock, "name", "attribute_ruler")
        self._rules = tuple(rules)
        self._read = [attr for attr, _ in sorted(columns.items(), key=lambda kv: kv[1])]
        self._write = sorted({attr for rule in rules for attr, _ in rule.attrs})
        self._write_column = {attr: i for i, attr in enumerate(self._write)}

    def _apply(self, docs: Sequence[Doc]) -> None:
        docs = [doc for doc in docs if len(doc)]
        if not docs or not self._rules:
            return
        lengths = np.array([len(doc) for doc in docs])
        ends = np.cumsum(lengths)
        # Tokens from each one to the end of its Doc: a match must fit inside one Doc.
        room = np.repeat(ends, lengths) - np.arange(int(ends[-1]))
        seen = _columns(docs, self._read)
        out = _columns(docs, self._write)
        before = out.copy()
        for rule in self._rules:
            targets = _targets(rule, seen, room, self.vocab.strings)
            if targets is None:
                continue
            for attr, value in rule.attrs:
                out[targets, self._write_column[attr]] = value
        changed = np.bitwise_or.reduceat((out != before).any(axis=1), ends - lengths)
        for i in np.nonzero(changed)[0]:
            docs[i].from_array(self._write, out[ends[i] - lengths[i] : ends[i]])


def _columns(docs: Sequence[Doc], attrs: list[int]) -> np.ndarray:
    """The attributes of every token of `docs`, one row per token (to_array drops the second
    axis for a single attribute)."""
    arrays = [doc.to_array(attrs).reshape(len(doc), len(attrs)) for doc in docs]
    return np.concatenate(arrays).astype(np.uint64, copy=False)


def _targets(rule: _Rule, seen, room, strings) -> np.ndarray | None:
    """Positions (in the batch) of the tokens `rule` sets, or None."""
    hits = np.zeros(len(seen), dtype=bool)
    any_hit = False
    for pattern in rule.patterns:
        width = len(pattern)
        match = np.ones(len(seen), dtype=bool)
        for offset, tests in enumerate(pattern):
            for test in tests:
                ok = test.holds(seen[:, test.column], strings)
                if offset:
                    ok = np.concatenate([ok[offset:], np.zeros(offset, dtype=bool)])
                match &= ok
            if not match.any():
                break
        match &= width <= room
        if not match.any():
            continue
        starts = np.nonzero(match)[0]
        targets = starts + (rule.index if rule.index >= 0 else width + rule.index)
        hits[targets] = True
        any_hit = True
    return np.nonzero(hits)[0] if any_hit else None


def _compile_pattern(pattern, columns: dict[int, int], strings) -> tuple[tuple[_Test, ...], ...]:
    compiled = []
    for spec in pattern:
        tests = []
        for key, value in spec.items():
            name = key.upper()
            if name in _STRING_ATTRS:
                attr, encode = _STRING_ATTRS[name], strings.add
            elif name in _FLAG_ATTRS:
                attr, encode = _FLAG_ATTRS[name], _flag
            else:
                raise Unsupported(f"pattern key {key!r}")
            column = columns.setdefault(attr, len(columns))
            if isinstance(value, dict):
                if len(value) != 1 or next(iter(value)) not in ("IN", "NOT_IN", "REGEX"):
                    raise Unsupported(f"predicate {value!r}")
                ((predicate, options),) = value.items()
                if predicate == "REGEX":
                    if name not in _STRING_ATTRS:
                        raise Unsupported(f"REGEX on {key!r}")
                    none = np.empty(0, dtype=np.uint64)
                    tests.append(_Test(column, none, False, re.compile(options), {}))
                    continue
                values = np.array([encode(v) for v in options], dtype=np.uint64)
                tests.append(_Test(column, values, predicate == "NOT_IN"))
            else:
                tests.append(_Test(column, np.array([encode(value)], dtype=np.uint64), False))
        compiled.append(tuple(tests))
    return tuple(compiled)


def _flag(value) -> int:
    if not isinstance(value, bool):
        raise Unsupported(f"flag value {value!r}")
    return int(value)


class BatchLemmatizer(_BatchComponent):
    """Runs a loaded spaCy `Lemmatizer` once per distinct (text, POS, morphology) of a batch
    instead of once per token, keeping its rule: a lemma already set is kept unless the
    lemmatizer overwrites."""

    def __init__(self, stock) -> None:
        if stock.mode not in _PURE_LEMMATIZER_MODES:
            raise Unsupported(f"lemmatizer mode {stock.mode!r}")
        # A copy with its own lookups and cache: the loaded component stays as it was (it can
        # still be saved, or run by another pipeline sharing it).
        self.stock = copy.copy(stock)
        self.stock.cache = {}
        # The loaded one chose its method at construction (a bound method in its __dict__),
        # which the copy would share: rebind it to the copy.
        self.stock.lemmatize = getattr(self.stock, stock.lemmatize.__name__)
        if stock.mode == "rule":
            self.stock.lookups = _with_index_as_sets(stock.lookups)
        self.vocab = stock.vocab
        self.name = getattr(stock, "name", "lemmatizer")
        self._lemmas: dict[tuple[int, int, int], str] = {}

    def _apply(self, docs: Sequence[Doc]) -> None:
        docs = [doc for doc in docs if len(doc)]
        if not docs:
            return
        if not getattr(self.stock, "_validated", True):
            self.stock._validate_tables()
        if len(self._lemmas) > _LEMMA_CACHE_LIMIT:
            self._lemmas.clear()
            self.stock.cache.clear()
        lengths = np.array([len(doc) for doc in docs])
        ends = np.cumsum(lengths)
        arr = _columns(docs, [ORTH, POS, MORPH, LEMMA])
        todo = np.arange(len(arr)) if self.stock.overwrite else np.nonzero(arr[:, 3] == 0)[0]
        if not len(todo):
            return
        keys, first, inverse = np.unique(
            arr[todo, :3], axis=0, return_index=True, return_inverse=True
        )
        owner = np.repeat(np.arange(len(docs)), lengths)
        starts = ends - lengths
        add = self.vocab.strings.add
        lemma_hashes = np.empty(len(keys), dtype=np.uint64)
        for k, (key, row) in enumerate(zip(map(tuple, keys.tolist()), todo[first], strict=True)):
            lemma = self._lemmas.get(key)
            if lemma is None:
                doc = docs[owner[row]]
                lemma = self.stock.lemmatize(doc[int(row - starts[owner[row]])])[0]
                self._lemmas[key] = lemma
            lemma_hashes[k] = add(lemma)
        arr[todo, 3] = lemma_hashes[inverse.reshape(-1)]
        for i in np.unique(owner[todo]):
            docs[i].from_array([LEMMA], arr[starts[i] : ends[i], 3:4])


def _with_index_as_sets(lookups: Lookups) -> Lookups:
    """A copy of the lemmatizer's tables whose word index holds sets.

    The rule lemmatizer tests `form in index` against a list of every known word of the part
    of speech (tens of thousands for English nouns): ~75 us per new word, most of the
    lemmatizer's time. A set answers the same membership and truth tests."""
    copied = Lookups()
    for name in lookups.tables:
        table = lookups.get_table(name)
        data = dict(table.items())
        if name == "lemma_index":
            data = {
                pos: frozenset(words) if isinstance(words, list | tuple) else words
                for pos, words in data.items()
            }
        copied.add_table(name, data)
    return copied


def install(nlp) -> list[str]:
    """Replace the pipeline's attribute ruler and lemmatizer by their batch versions where
    their rules compile and the spaCy release is the one they were checked against; return
    the names of the components replaced."""
    if not spacy.__version__.startswith(CHECKED_SPACY + "."):
        return []
    replaced = []
    for name, component in list(nlp.pipeline):
        factory = nlp.get_pipe_meta(name).factory
        try:
            if factory == "attribute_ruler":
                batch = BatchAttributeRuler(component)
            elif factory == "lemmatizer":
                batch = BatchLemmatizer(component)
            else:
                continue
        except Unsupported:
            continue
        _swap(nlp, name, batch)
        replaced.append(name)
    return replaced


def _swap(nlp, name: str, component) -> None:
    # spaCy builds components only from registered factories; the batch versions wrap an
    # already-loaded component, so the pipeline entry is exchanged in place (same name,
    # same position, same metadata).
    position = nlp.pipe_names.index(name)
    nlp._components[position] = (name, component)
    nlp._link_components()
