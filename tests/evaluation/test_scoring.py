"""The scorer on hand-made gold and predictions."""

from __future__ import annotations

import pytest

from docmill.evaluation.gold import ONTONOTES_TO_CONLL, GoldDocument
from docmill.evaluation.scoring import PRF, Prediction, offset_map, prf, score, trim_span


def test_prf_counts_and_scores():
    result = prf({1, 2, 3}, {2, 3, 4, 5})
    assert result == PRF(tp=2, n_pred=3, n_gold=4)
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(0.5)
    assert result.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert prf([], []).f1 == 0.0


@pytest.mark.parametrize(
    ("span", "expected"),
    [((0, 5), (0, 4)), ((4, 8), (6, 8)), ((4, 5), None)],
)
def test_trim_span(span, expected):
    assert trim_span("Abcd \nef", *span) == expected


GOLD = GoldDocument(
    "d",
    "One two. Three.\n\nFour",
    sentences=[(0, 8), (9, 15), (17, 21)],
    tokens=[(0, 3), (4, 7), (7, 8), (9, 14), (14, 15), (17, 21)],
    upos=["NUM", "NUM", "PUNCT", "NUM", "PUNCT", None],
    entities=[(0, 3, "MISC"), (9, 14, "PER")],
)


def test_sentences_tokens_and_upos():
    pred = Prediction(
        # the second sentence swallows the paragraph break (trimmed away), the third is merged
        sentences=[(0, 8), (9, 17), (17, 21)],
        tokens=[
            (0, 3, "NUM"),
            (4, 8, "NUM"),
            (9, 14, "NOUN"),
            (14, 15, "PUNCT"),
            (15, 17, "SPACE"),
            (17, 21, "NUM"),
        ],
    )
    result = score([GOLD], {"d": pred}, layers={"sentences", "tokens", "upos"})
    assert result["sentences"]["tp"] == 3
    assert result["sentence_ends"]["f1"] == 1.0
    assert (result["tokens"]["tp"], result["tokens"]["n_pred"]) == (4, 5)
    # aligned with a known gold tag: One, Three, "." -> 2 of 3 right ("Four" has no gold tag)
    assert result["upos"] == {
        "accuracy": pytest.approx(0.6667),
        "accuracy_over_gold": pytest.approx(0.4),
        "correct": 2,
        "aligned": 3,
        "gold": 5,
    }
    assert "entities" not in result


def test_entities_map_labels_per_type_and_line_breaks():
    pred = Prediction(
        entities=[(0, 3, "NORP"), (9, 14, "PERSON"), (9, 21, "ORG"), (4, 7, "CARDINAL")]
    )
    result = score([GOLD], {"d": pred}, layers={"entities"}, label_map=ONTONOTES_TO_CONLL)
    assert (result["entities"]["tp"], result["entities"]["n_pred"]) == (2, 3)
    assert result["entities_by_type"]["PER"]["f1"] == 1.0
    assert result["entities_by_type"]["ORG"]["precision"] == 0.0
    assert result["entities_crossing_line_breaks"] == 1


def test_missing_document_predicts_nothing():
    result = score([GOLD], {}, layers={"sentences", "entities"})
    assert result["sentences"]["recall"] == 0.0
    assert result["entities"]["n_gold"] == 2


@pytest.mark.parametrize(
    ("clean", "raw", "expected"),
    [
        ("a b", "a b", [0, 2, 2, 3]),
        ("a\n\nb", "a\nb", [0, 2, 2, 2, 3]),
        ("ab", " a  b ", [1, 4, 6]),
        ("ab", "ac", None),
        ("a", "a b", None),
    ],
)
def test_offset_map_through_whitespace_changes(clean, raw, expected):
    assert offset_map(clean, raw) == expected
