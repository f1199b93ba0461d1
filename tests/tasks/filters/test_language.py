import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docmill.tasks.filters.language import (
    MIN_LETTERS,
    SAMPLE_WINDOW_CHARS,
    SAMPLE_WINDOWS,
    LanguageGuess,
    detect_language,
    has_min_letters,
    identify_document,
    language_sample,
    paragraph_languages,
)

ENGLISH = (
    "The museum reopened on Saturday after two years of renovation. Visitors queued around the "
    "block to see the restored ceiling, and staff said the first day had gone well."
)
GERMAN = (
    "Das Museum ist am Samstag nach zwei Jahren Umbau wieder geöffnet worden. Die Besucher "
    "standen bis um die Ecke Schlange, um die restaurierte Decke zu sehen."
)
FRENCH = (
    "Le musée a rouvert ses portes samedi après deux ans de travaux. Les visiteurs ont fait la "
    "queue pendant des heures pour admirer le plafond restauré."
)
SPANISH = (
    "El museo volvió a abrir sus puertas el sábado después de dos años de obras. Los visitantes "
    "hicieron cola durante horas para ver el techo restaurado."
)


@pytest.mark.parametrize(
    ("text", "lang"),
    [(ENGLISH, "en"), (GERMAN, "de"), (FRENCH, "fr"), (SPANISH, "es")],
)
def test_detect_language_of_clear_paragraphs(text: str, lang: str) -> None:
    guess = detect_language(text)
    assert guess.lang == lang
    assert 0.9 < guess.score <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n  ",
        "12345 678 910 11 12 13 14 15 16 17 18 19 20",
        "!!! ??? ... --- *** ### §§§",
        "Hi there, you.",  # 10 letters
        "Oil up 3% to $52.10 on Monday",  # 15 letters
        "http://www.example.com/index.php?id=12345&ref=abcdef",  # "zxx": not a language
    ],
)
def test_short_or_letterless_text_is_undetermined(text: str) -> None:
    assert detect_language(text) == LanguageGuess(None, 0.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * (MIN_LETTERS - 1), False),
        ("a" * MIN_LETTERS, True),
        ("a1 " * (MIN_LETTERS - 1), False),
        ("é" * MIN_LETTERS, True),
        ("_" * MIN_LETTERS + "9" * MIN_LETTERS, False),
    ],
)
def test_has_min_letters(text: str, expected: bool) -> None:
    assert has_min_letters(text) is expected


def test_language_sample_keeps_short_text_whole() -> None:
    text = "word " * ((SAMPLE_WINDOW_CHARS * SAMPLE_WINDOWS) // 5)
    assert language_sample(text) == text


def test_language_sample_is_bounded_and_spread_over_the_text() -> None:
    words = [f"w{i:05d}" for i in range(20_000)]
    sample = language_sample(" ".join(words))
    assert len(sample) <= SAMPLE_WINDOW_CHARS * SAMPLE_WINDOWS + SAMPLE_WINDOWS
    pieces = sample.split("\n")
    assert len(pieces) == SAMPLE_WINDOWS
    sampled = [word for piece in pieces for word in piece.split()]
    # Whole words only (no cut "w0"), from the start, the middle and the end of the text.
    assert set(sampled) <= set(words)
    assert sampled[0] == words[0]
    assert any(word in sampled for word in words[9_000:11_000])
    assert sampled[-1] in words[-5:]


def test_long_document_is_decided_by_its_body_not_an_opening_in_another_language() -> None:
    text = ENGLISH + "\n\n" + "\n\n".join([GERMAN] * 20)
    assert len(text) > SAMPLE_WINDOW_CHARS * SAMPLE_WINDOWS
    assert detect_language(text).lang == "de"


def test_paragraph_languages_one_guess_per_span_in_order() -> None:
    text = "\n\n".join([ENGLISH, GERMAN, "Thanks!", FRENCH])
    spans = []
    start = 0
    for paragraph in text.split("\n\n"):
        spans.append((start, start + len(paragraph)))
        start += len(paragraph) + 2
    guesses = paragraph_languages(text, spans)
    assert [g.lang for g in guesses] == ["en", "de", None, "fr"]
    assert guesses[2].score == 0.0
    assert paragraph_languages(text, []) == []


def test_language_guess_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        detect_language(ENGLISH).lang = "de"  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_detect_language_never_raises_and_score_is_a_probability(text: str) -> None:
    guess = detect_language(text)
    assert 0.0 <= guess.score <= 1.0
    assert (guess.lang is None) == (guess.score == 0.0)


@settings(max_examples=100, deadline=None)
@given(st.text(), st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), max_size=5))
def test_paragraph_languages_never_raises(text: str, spans: list[tuple[int, int]]) -> None:
    guesses = paragraph_languages(text, spans)
    assert len(guesses) == len(spans)
    assert all(0.0 <= g.score <= 1.0 for g in guesses)


def _paragraphs(*blocks: str) -> tuple[str, list[tuple[int, int]]]:
    text, spans = "", []
    for block in blocks:
        if text:
            text += "\n\n"
        spans.append((len(text), len(text) + len(block)))
        text += block
    return text, spans


def test_identify_document_weighs_paragraphs_by_length() -> None:
    text, spans = _paragraphs("Budget news", ENGLISH, ENGLISH)
    doc, paragraphs = identify_document(text, spans)
    assert [g.lang for g in paragraphs] == [None, "en", "en"]
    assert doc.lang == "en" and doc.score > 0.95


def test_a_mixed_document_gets_its_main_language_with_its_share_as_score() -> None:
    text, spans = _paragraphs(GERMAN, GERMAN, ENGLISH)
    doc, paragraphs = identify_document(text, spans)
    assert [g.lang for g in paragraphs] == ["de", "de", "en"]
    share = 2 * len(GERMAN) / (2 * len(GERMAN) + len(ENGLISH))
    assert doc.lang == "de"
    assert doc.score == pytest.approx(share, abs=0.02)


def test_a_document_of_short_lines_is_classified_as_a_whole() -> None:
    lines = ["Der Hund bellt.", "Die Katze schläft.", "Das Kind spielt.", "Der Vater kocht."]
    text, spans = _paragraphs(*lines)
    doc, paragraphs = identify_document(text, spans)
    assert all(g.lang is None for g in paragraphs)
    assert doc == detect_language(text)


def test_a_document_without_a_majority_language_is_undetermined() -> None:
    text, spans = _paragraphs(GERMAN, ENGLISH, FRENCH, SPANISH)
    doc, paragraphs = identify_document(text, spans)
    assert [g.lang for g in paragraphs] == ["de", "en", "fr", "es"]
    assert doc == LanguageGuess(None, 0.0)


def test_a_few_identified_paragraphs_do_not_speak_for_the_whole_document() -> None:
    """One German paragraph among many short English lines (too short to identify one by one)
    is a small part of the document: the whole text decides."""
    lines = ["The dog barks.", "The cat sleeps.", "A child plays.", "Our father cooks."] * 12
    text, spans = _paragraphs(GERMAN, *lines)
    doc, paragraphs = identify_document(text, spans)
    assert [g.lang for g in paragraphs[:2]] == ["de", None]
    assert doc == detect_language(text) and doc.lang == "en"
