"""`docmill eval` end to end on tiny gold snippets: the real flow and bare spaCy, one scorer."""

from __future__ import annotations

import pytest
from helpers.gold_samples import CONLL, CONLLU

from docmill.evaluation.evaluate import evaluate, format_report

pytestmark = [pytest.mark.prefect, pytest.mark.model]


@pytest.mark.parametrize(("kind", "text"), [("ud", CONLLU), ("conll", CONLL)])
def test_both_systems_are_scored_on_the_same_documents(prefect_server, tmp_path, kind, text):
    gold = tmp_path / f"gold.{kind}"
    gold.write_text(text)
    report = evaluate(kind, gold)
    assert set(report["systems"]) == {"docmill", "spacy"}
    assert report["text_mismatches"] == []
    assert report["gold"]["documents"] >= 1
    layers = ("sentences", "tokens") if kind == "ud" else ("entities",)
    for figures in report["systems"].values():
        assert figures["documents"] == report["gold"]["documents"]
        for layer in layers:
            assert 0.0 <= figures[layer]["f1"] <= 1.0
    # Whitespace-tokenised gold text: both systems must find every token of it.
    if kind == "ud":
        assert report["systems"]["docmill"]["tokens"]["f1"] > 0.5
    rendered = format_report(report)
    assert "docmill" in rendered and "spacy" in rendered
