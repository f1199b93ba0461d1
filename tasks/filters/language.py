"""Language identification of documents and paragraphs with py3langid's bundled model.

py3langid (byte n-gram naive Bayes, 139 languages, model shipped in the package) was chosen
over lingua-language-detector by measuring both (`bench/language_id.py`) on the BBC articles,
62 English/German/French web pages and hand-written headlines, sentences and paragraphs in four
languages: both identify every document correctly; lingua is better on short paragraphs (90% vs
82% right at 20-39 letters) but about 10 times slower per call and loads 7-15 s and ~900 MB per
worker process, against 0.4 s and ~80 MB. py3langid's wrong paragraph guesses come with low
scores, which makes the score the useful filter (see `paragraph_languages`).

Scores are py3langid's normalised probabilities (`norm_probs=True`), calibrated by text length
so that a score means about the same for a headline and an article. Codes are ISO 639-1 where
the language has one ("en", "de"), else ISO 639-3 ("yue", "pcm"), as py3langid reports them;
its "not a language" class (`zxx`: numbers, markup, identifiers, URLs) becomes `None`.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

# Below this many letters the n-gram evidence is too thin: on paragraphs of 10-19 letters
# Below this many letters py3langid is right too rarely to label anything (accuracy by length:
# docs/cleaning.md, "Language"). Shorter text gets `LanguageGuess(None, 0.0)`.
MIN_LETTERS = 20

# Long texts are identified from a bounded sample, because py3langid's cost grows with the bytes
# while a few windows of prose already decide (figures: docs/cleaning.md). Three windows (start,
# middle, end) rather than a prefix, so a foreign-language preamble or boilerplate header does
# not decide a long document alone.
SAMPLE_WINDOW_CHARS = 500
SAMPLE_WINDOWS = 3

_NOT_A_LANGUAGE = frozenset({"zxx", "und"})
_LETTER_RE = re.compile(r"[^\W\d_]")
_HEAD_PARTIAL = re.compile(r"\S*\s+")
_TAIL_PARTIAL = re.compile(r"\s+\S*\Z")


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """The most likely language of a text and its probability; `lang` is None when the text is
    too short or has no linguistic content, and then `score` is 0.0."""

    lang: str | None
    score: float


UNDETERMINED = LanguageGuess(None, 0.0)


@functools.cache
def _identifier():  # -> py3langid.langid.LanguageIdentifier
    # Loaded once per process (~0.4 s, ~80 MB) on first use, not at import: a process that never
    # identifies a language never pays for it.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def has_min_letters(text: str, minimum: int = MIN_LETTERS) -> bool:
    """True when `text` has at least `minimum` letters (stops counting once it has them)."""
    return sum(1 for _ in itertools.islice(_LETTER_RE.finditer(text), minimum)) >= minimum


def language_sample(text: str) -> str:
    """`text` itself when short, else SAMPLE_WINDOWS windows of SAMPLE_WINDOW_CHARS characters
    spread evenly over it (first, ..., last), without the words the cuts split."""
    window, count = SAMPLE_WINDOW_CHARS, SAMPLE_WINDOWS
    if len(text) <= window * count:
        return text
    step = (len(text) - window) // max(count - 1, 1)
    return "\n".join(_whole_words(text, i * step, i * step + window) for i in range(count))


def _whole_words(text: str, start: int, end: int) -> str:
    # A split word adds character n-grams that belong to no language.
    piece = text[start:end]
    if start > 0 and not text[start - 1].isspace() and (head := _HEAD_PARTIAL.match(piece)):
        piece = piece[head.end() :]
    if end < len(text) and not text[end].isspace() and (tail := _TAIL_PARTIAL.search(piece)):
        piece = piece[: tail.start()]
    return piece or text[start:end]


def _classify(text: str) -> LanguageGuess:
    if not has_min_letters(text):
        return UNDETERMINED
    lang, score = _identifier().classify(language_sample(text))
    if lang in _NOT_A_LANGUAGE:
        return UNDETERMINED
    return LanguageGuess(lang, min(max(float(score), 0.0), 1.0))


def detect_language(text: str) -> LanguageGuess:
    """The language of a whole document, from a bounded sample of it (see `language_sample`).

    Text with fewer than MIN_LETTERS letters, or classified as not being language at all, gives
    `LanguageGuess(None, 0.0)`. A mixed-language document gets the language that dominates the
    sample; `paragraph_languages` shows the mix. On the benchmark every document scored >= 0.89,
    so a threshold such as 0.8 separates "confidently another language" from "unsure".
    """
    return _classify(text)


def paragraph_languages(text: str, spans: Sequence[tuple[int, int]]) -> list[LanguageGuess]:
    """One guess per `(start, end)` span of `text`, in order.

    A paragraph with fewer than MIN_LETTERS letters gets `LanguageGuess(None, 0.0)` rather than
    the document's language, so "undetermined" stays visible; a caller that wants a value for
    every paragraph can fall back to the document language itself. Headlines and name lists
    of 20-40 letters are often misread (English headlines as Nigerian Pidgin "pcm"), but with
    low scores: paragraph guesses scoring >= 0.5 were right 99.7% of the time on the benchmark,
    and kept 91% of the right guesses.
    """
    return [_classify(_paragraph_sample(text, start, end)) for start, end in spans]


def _paragraph_sample(text: str, start: int, end: int) -> str:
    if end - start > PARAGRAPH_SAMPLE_CHARS:
        return _whole_words(text, start, start + PARAGRAPH_SAMPLE_CHARS)
    return text[start:end]


# A paragraph is identified from its first PARAGRAPH_SAMPLE_CHARS characters (whole words): past
# a few hundred characters of prose the guess no longer changes, and the cost is linear in bytes.
PARAGRAPH_SAMPLE_CHARS = 400
# Paragraph guesses scoring at least this were right 99.7 % of the time on the benchmark (see
# `paragraph_languages`); lower ones are left out of a document's vote.
RELIABLE_SCORE = 0.5


# The paragraph vote speaks for a document only when the reliably identified paragraphs cover
# at least this share of its characters; otherwise the whole text is classified. On a lyrics
# page of Chinese lines (too short to identify one by one) and their pinyin, two pinyin lines
# read as Hausa with 0.57-0.86 covered 12 % of the page and made it "ha"; as a whole it reads as
# Chinese. The lowest coverage among the 2,225 BBC articles is 0.31, among the web pages with
# one language 0.46 (bench/language_id.py).
MIN_VOTE_COVERAGE = 0.25
# A document whose leading language holds less than this share of its reliably identified text
# has no main language, and is undetermined rather than labelled with its largest minority: the
# UTF-8 demo page (English captions around Greek, Russian, Georgian, Thai, Amharic... samples)
# came out "grc" with 0.29.
MIN_MAIN_LANGUAGE_SHARE = 0.5


def identify_document(
    text: str, spans: Sequence[tuple[int, int]]
) -> tuple[LanguageGuess, list[LanguageGuess]]:
    """(document guess, one guess per paragraph span) in one pass over the paragraphs.

    The document's language is the one with the largest share of its reliably identified
    paragraphs (score >= RELIABLE_SCORE), by characters weighted with their scores; its score
    is that share, so a document that is 60 % German reads as ("de", 0.6) and a confidence
    threshold treats it as mixed. Below MIN_MAIN_LANGUAGE_SHARE no language has a majority and
    the document is undetermined, `LanguageGuess(None, 0.0)`. When reliably identified
    paragraphs cover less than MIN_VOTE_COVERAGE of the text (short lines, lists of names), the
    whole text is classified instead.
    """
    guesses = paragraph_languages(text, spans)
    vote = _paragraph_vote(spans, guesses)
    if vote is None:
        return _classify(text), guesses
    return (vote if vote.score >= MIN_MAIN_LANGUAGE_SHARE else UNDETERMINED), guesses


def _paragraph_vote(
    spans: Sequence[tuple[int, int]], guesses: Sequence[LanguageGuess]
) -> LanguageGuess | None:
    """The language with the largest score-weighted share of the reliably identified
    characters, or None when they cover less than MIN_VOTE_COVERAGE of all paragraphs."""
    weight_by_lang: dict[str, float] = {}
    reliable = total = 0.0
    for (start, end), guess in zip(spans, guesses, strict=True):
        total += end - start
        if guess.lang is not None and guess.score >= RELIABLE_SCORE:
            reliable += end - start
            weight_by_lang[guess.lang] = weight_by_lang.get(guess.lang, 0.0) + (
                (end - start) * guess.score
            )
    if not weight_by_lang or reliable < MIN_VOTE_COVERAGE * total:
        return None
    lang, weight = max(weight_by_lang.items(), key=lambda kv: (kv[1], kv[0]))
    return LanguageGuess(lang, round(weight / reliable, 4))
