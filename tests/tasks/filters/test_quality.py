import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docmill.tasks.filters.quality import (
    SIGNAL_NAMES,
    QualitySignals,
    QualityThresholds,
    as_columns,
    failed_thresholds,
    quality_signals,
    stop_words,
)

FRACTIONS = (
    "frac_lines_end_punct",
    "repeated_line_frac",
    "stopword_ratio",
    "frac_alpha_words",
    "bullet_line_frac",
    "ellipsis_line_frac",
)


def signals(**values: float | int | None) -> QualitySignals:
    """Signals of a plausible article, with `values` replaced."""
    base = QualitySignals(
        n_words=400,
        mean_word_length=4.8,
        symbol_word_ratio=0.0,
        frac_lines_end_punct=0.9,
        repeated_line_frac=0.0,
        stopword_ratio=0.45,
        frac_alpha_words=0.97,
        bullet_line_frac=0.0,
        ellipsis_line_frac=0.0,
    )
    return dataclasses.replace(base, **values)


@pytest.mark.parametrize(
    ("text", "n_words", "mean_word_length"),
    [
        ("The cat sat.", 3, 9 / 3),
        # Inner ' - . join a word; edge punctuation is not part of it.
        ("don't e-mail U.S. 3.5", 4, (5 + 6 + 3 + 3) / 4),
        ("“Quoted,” she said — twice...", 4, (6 + 3 + 4 + 5) / 4),
        ("— ... # | *", 0, None),
        ("", 0, None),
    ],
)
def test_words_and_mean_word_length(
    text: str, n_words: int, mean_word_length: float | None
) -> None:
    result = quality_signals(text, None)
    assert result.n_words == n_words
    assert result.mean_word_length == (
        pytest.approx(mean_word_length) if mean_word_length else None
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("In 2004 sales rose 3.5 percent", 4 / 6),  # 2004 and 3.5 have no letter
        ("Straße café naïve", 1.0),
        ("12 34 56", 0.0),
        ("...", None),
    ],
)
def test_frac_alpha_words(text: str, expected: float | None) -> None:
    assert quality_signals(text, None).frac_alpha_words == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#one #two three... four…", 4 / 4),  # 2 hashes + "..." + "…" over 4 words
        ("Wait.... what", 1 / 2),  # "...." is one ellipsis
        ("plain words only", 0.0),
        ("# ... …", None),  # no words
    ],
)
def test_symbol_word_ratio(text: str, expected: float | None) -> None:
    assert quality_signals(text, None).symbol_word_ratio == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One.\nTwo\nThree!\n„Vier“", 3 / 4),
        ("A sentence.\n\nA heading", 1 / 2),  # blank lines are not lines
        ('He said "no"\nIs it?\nEnd…\nFin »', 4 / 4),
        ("Menu\nHome\nContact", 0.0),
        ("\n \n", None),
    ],
)
def test_frac_lines_end_punct(text: str, expected: float | None) -> None:
    assert quality_signals(text, None).frac_lines_end_punct == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Share\nText one.\nShare\nText two.", 1 / 4),
        ("a\na\na", 2 / 3),
        ("  same\nsame  ", 1 / 2),  # compared after stripping
        ("Same\nsame", 0.0),  # case matters
        ("one\n\ntwo", 0.0),
        ("", None),
    ],
)
def test_repeated_line_frac(text: str, expected: float | None) -> None:
    assert quality_signals(text, None).repeated_line_frac == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("• one\n- two\n-3 degrees\n* four\nplain", 3 / 5),  # "-3" is no bullet
        ("●item\n– dash item\nText.", 2 / 3),
        ("No bullets here.", 0.0),
    ],
)
def test_bullet_line_frac(text: str, expected: float) -> None:
    assert quality_signals(text, None).bullet_line_frac == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Read more...\nRead more …\nDone.", 2 / 3),
        ("Wait... then go.", 0.0),  # an ellipsis inside the line does not count
    ],
)
def test_ellipsis_line_frac(text: str, expected: float) -> None:
    assert quality_signals(text, None).ellipsis_line_frac == expected


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("The cat sat on the mat", "en", 3 / 6),  # the, on, the
        ("THE CAT SAT ON THE MAT", "en", 3 / 6),  # case-insensitive
        ("It's raining", "en", 1 / 2),  # "it's" via "it"
        ("Der Hund und die Katze", "de", 3 / 5),
        ("L'université et la ville", "fr", 3 / 4),  # "l'université" via "l'"
        ("L’université et la ville", "fr", 3 / 4),  # typographic apostrophe
        ("El perro y el gato", "es", 3 / 5),
        ("Det er en hund", "no", 3 / 4),  # py3langid "no" -> spaCy's "nb" list
        ("The cat sat on the mat", None, None),  # language unknown
        ("The cat sat on the mat", "xx", None),  # no list
        ("The cat sat on the mat", "../../etc", None),  # not a language code
        ("我们今天去公园", "zh", None),  # no spaces between words: ratio meaningless
        ("", "en", None),  # no words
    ],
)
def test_stopword_ratio(text: str, lang: str | None, expected: float | None) -> None:
    assert quality_signals(text, lang).stopword_ratio == expected


def test_stop_words_are_spacy_lists_lower_cased() -> None:
    english = stop_words("en")
    assert english is not None and "the" in english and "n't" in english
    assert all(word == word.lower() for word in english)
    french = stop_words("fr")
    assert french is not None and "l'" in french
    assert stop_words("xx") is None


def test_as_columns_in_field_order_with_optional_prefix() -> None:
    result = quality_signals("One line.", "en")
    assert list(as_columns(result)) == list(SIGNAL_NAMES)
    assert as_columns(result, prefix="q_")["q_n_words"] == 2


def test_default_thresholds_filter_nothing() -> None:
    assert QualityThresholds().as_mapping() == {}
    assert failed_thresholds(quality_signals("", None), QualityThresholds()) == []
    assert failed_thresholds(signals(n_words=0, repeated_line_frac=1.0), QualityThresholds()) == []


@pytest.mark.parametrize(
    ("mapping", "values", "reasons"),
    [
        ({"min_words": 50}, {"n_words": 12}, ["n_words 12 < min_words 50"]),
        ({"min_words": 50}, {"n_words": 50}, []),  # the limit itself passes
        (
            {"max_mean_word_length": 10},
            {"mean_word_length": 12.5},
            ["mean_word_length 12.5 > max_mean_word_length 10"],
        ),
        (
            {"min_mean_word_length": 3},
            {"mean_word_length": 2.25},
            ["mean_word_length 2.25 < min_mean_word_length 3"],
        ),
        (
            {"max_symbol_word_ratio": 0.1},
            {"symbol_word_ratio": 0.25},
            ["symbol_word_ratio 0.25 > max_symbol_word_ratio 0.1"],
        ),
        (
            {"min_frac_lines_end_punct": 0.5},
            {"frac_lines_end_punct": 0.2},
            ["frac_lines_end_punct 0.2 < min_frac_lines_end_punct 0.5"],
        ),
        (
            {"max_repeated_line_frac": 0.3},
            {"repeated_line_frac": 0.5},
            ["repeated_line_frac 0.5 > max_repeated_line_frac 0.3"],
        ),
        (
            {"min_stopword_ratio": 0.5},
            {"stopword_ratio": 0.4996},
            ["stopword_ratio 0.4996 < min_stopword_ratio 0.5"],  # digits enough to differ
        ),
        (
            {"min_frac_alpha_words": 0.8},
            {"frac_alpha_words": 0.6},
            ["frac_alpha_words 0.6 < min_frac_alpha_words 0.8"],
        ),
        (
            {"max_bullet_line_frac": 0.9},
            {"bullet_line_frac": 1.0},
            ["bullet_line_frac 1 > max_bullet_line_frac 0.9"],
        ),
        (
            {"max_ellipsis_line_frac": 0.3},
            {"ellipsis_line_frac": 0.75},
            ["ellipsis_line_frac 0.75 > max_ellipsis_line_frac 0.3"],
        ),
        # Undefined signals never fail.
        ({"min_stopword_ratio": 0.3}, {"stopword_ratio": None}, []),
        ({"min_frac_alpha_words": 0.8}, {"frac_alpha_words": None}, []),
        # Several failures, in the fixed order of the thresholds.
        (
            {"min_frac_alpha_words": 0.8, "min_words": 50},
            {"n_words": 3, "frac_alpha_words": 0.5},
            ["n_words 3 < min_words 50", "frac_alpha_words 0.5 < min_frac_alpha_words 0.8"],
        ),
    ],
)
def test_failed_thresholds(mapping: dict, values: dict, reasons: list[str]) -> None:
    thresholds = QualityThresholds.from_mapping(mapping)
    assert failed_thresholds(signals(**values), thresholds) == reasons


def test_from_mapping_accepts_numeric_strings_and_none() -> None:
    thresholds = QualityThresholds.from_mapping(
        {"min_words": "50", "min_stopword_ratio": 0.2, "max_repeated_line_frac": None}
    )
    assert thresholds.min_words == 50.0
    assert thresholds.as_mapping() == {"min_words": 50.0, "min_stopword_ratio": 0.2}


def test_from_mapping_rejects_unknown_names_listing_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="min_wrods") as error:
        QualityThresholds.from_mapping({"min_wrods": 50})
    assert "valid thresholds: min_words, min_mean_word_length" in str(error.value)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"min_words": "many"}, "must be a number"),
        ({"min_words": True}, "must be a number"),
        ({"min_words": [50]}, "must be a number"),
        ({"min_words": -1}, ">= 0"),
        ({"max_symbol_word_ratio": math.nan}, "finite"),
        ({"min_words": math.inf}, "finite"),
        ({"min_frac_alpha_words": 80}, "between 0 and 1"),
    ],
)
def test_invalid_threshold_values(mapping: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QualityThresholds.from_mapping(mapping)


def test_constructor_validates_too() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        QualityThresholds(max_repeated_line_frac=30)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from([None, "en", "de", "fr", "zh", "xx", "qq"]))
def test_quality_signals_never_raise_and_stay_in_range(text: str, lang: str | None) -> None:
    result = quality_signals(text, lang)
    assert result.n_words >= 0
    for name in FRACTIONS:
        value = getattr(result, name)
        assert value is None or 0.0 <= value <= 1.0, name
    if result.n_words:
        assert result.mean_word_length is not None and result.mean_word_length >= 1
        assert result.symbol_word_ratio is not None and result.symbol_word_ratio >= 0
    else:
        assert result.mean_word_length is None and result.symbol_word_ratio is None
        assert result.frac_alpha_words is None and result.stopword_ratio is None
