"""One scorer for every system: exact-span precision, recall and F1 against gold documents.

Predicted spans are character offsets into the same raw text as the gold (see `tasks.gold`).
Before scoring, every span is trimmed of surrounding whitespace and whitespace-only spans are
dropped, the same way for every system, so a sentence that swallows the following newline is
not penalised for it. All figures are micro-averaged over the documents.

- sentences: a predicted sentence is right when its (start, end) equals a gold sentence's.
- sentence ends: the same on end offsets alone (a boundary detector's view).
- tokens: exact (start, end) match.
- UPOS accuracy: over gold tokens that a predicted token matches exactly (and whose UPOS is
  known), the share whose predicted UPOS equals the gold one; `accuracy_over_gold` divides by
  all gold tokens with a known UPOS instead (a token the system split wrongly counts as wrong).
- entities: exact (start, end, type) match, overall and per gold/predicted type; predicted
  labels are mapped to the gold label set by the caller (`label_map`), unmapped ones ignored.
- entities_crossing_line_breaks: predicted entities (after mapping) that contain a newline.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from docmill.evaluation.gold import GoldDocument


@dataclass(frozen=True, slots=True)
class PRF:
    """Counts of one exact-match comparison and the scores derived from them."""

    tp: int
    n_pred: int
    n_gold: int

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gold if self.n_gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "n_pred": self.n_pred,
            "n_gold": self.n_gold,
        }


def prf(predicted: Iterable, gold: Iterable) -> PRF:
    """Exact-match scores of two collections of hashable items (duplicates count once)."""
    pred, ref = set(predicted), set(gold)
    return PRF(len(pred & ref), len(pred), len(ref))


@dataclass(slots=True)
class Prediction:
    """One system's output for one document, as character spans into the gold raw text."""

    sentences: list[tuple[int, int]] = field(default_factory=list)
    tokens: list[tuple[int, int, str]] = field(default_factory=list)  # start, end, UPOS
    entities: list[tuple[int, int, str]] = field(default_factory=list)  # start, end, label


def trim_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """(start, end) without surrounding whitespace, or None when only whitespace is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def score(
    gold: Sequence[GoldDocument],
    predictions: Mapping[str, Prediction],
    *,
    layers: Iterable[str],
    label_map: Mapping[str, str] | None = None,
) -> dict:
    """Scores of `predictions` (by doc_id; a missing document predicts nothing) for `layers`
    ("sentences", "tokens", "upos", "entities") of `gold`."""
    layers = set(layers)
    pred_sents, gold_sents, pred_tokens, gold_tokens = set(), set(), {}, {}
    pred_ents, gold_ents = set(), set()
    crossing = 0
    for doc in gold:
        pred = predictions.get(doc.doc_id, Prediction())
        key = doc.doc_id
        gold_sents.update((key, s, e) for s, e in doc.sentences)
        pred_sents.update(_trimmed(key, doc.text, pred.sentences))
        for (s, e), upos in zip(doc.tokens, doc.upos, strict=True):
            gold_tokens[(key, s, e)] = upos
        for s, e, upos in pred.tokens:
            if (span := trim_span(doc.text, s, e)) is not None:
                pred_tokens[(key, *span)] = upos
        gold_ents.update((key, s, e, label) for s, e, label in doc.entities)
        for s, e, label in pred.entities:
            mapped = label_map.get(label) if label_map is not None else label
            if mapped is None or (span := trim_span(doc.text, s, e)) is None:
                continue
            pred_ents.add((key, *span, mapped))
            crossing += "\n" in doc.text[span[0] : span[1]]
    result: dict = {"documents": len(gold)}
    if "sentences" in layers:
        result["sentences"] = prf(pred_sents, gold_sents).as_dict()
        ends = prf({(k, e) for k, _, e in pred_sents}, {(k, e) for k, _, e in gold_sents})
        result["sentence_ends"] = ends.as_dict()
    if "tokens" in layers:
        result["tokens"] = prf(pred_tokens, gold_tokens).as_dict()
    if "upos" in layers:
        result["upos"] = upos_accuracy(pred_tokens, gold_tokens)
    if "entities" in layers:
        result["entities"] = prf(pred_ents, gold_ents).as_dict()
        labels = sorted({e[3] for e in gold_ents} | {e[3] for e in pred_ents})
        result["entities_by_type"] = {
            label: prf(
                {e for e in pred_ents if e[3] == label}, {e for e in gold_ents if e[3] == label}
            ).as_dict()
            for label in labels
        }
        result["entities_crossing_line_breaks"] = crossing
    return result


def offset_map(clean: str, raw: str) -> list[int] | None:
    """For every character of `clean`, its position in `raw`, when the two texts differ only in
    whitespace (None otherwise). Whitespace maps to the next non-whitespace character."""
    positions = [0] * (len(clean) + 1)
    j = 0
    pending: list[int] = []
    for i, ch in enumerate(clean):
        if ch.isspace():
            pending.append(i)
            continue
        while j < len(raw) and raw[j].isspace():
            j += 1
        if j >= len(raw) or raw[j] != ch:
            return None
        for k in pending:
            positions[k] = j
        pending.clear()
        positions[i] = j
        j += 1
    if raw[j:].strip():
        return None
    for k in [*pending, len(clean)]:
        positions[k] = len(raw)
    return positions


def upos_accuracy(predicted: Mapping[tuple, str], gold: Mapping[tuple, str | None]) -> dict:
    """Share of aligned tokens (same span in both, gold UPOS known) with the gold UPOS; also
    the share of all gold tokens with a known UPOS (unaligned ones counted as wrong)."""
    known = [(k, tag) for k, tag in gold.items() if tag is not None]
    aligned = [(predicted[k], tag) for k, tag in known if k in predicted]
    correct = sum(p == g for p, g in aligned)
    return {
        "accuracy": round(correct / len(aligned), 4) if aligned else 0.0,
        "accuracy_over_gold": round(correct / len(known), 4) if known else 0.0,
        "correct": correct,
        "aligned": len(aligned),
        "gold": len(known),
    }


def _trimmed(key: str, text: str, spans: Iterable[tuple[int, int]]) -> Iterator:
    for s, e in spans:
        if (span := trim_span(text, s, e)) is not None:
            yield (key, *span)
