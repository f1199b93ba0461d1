"""Document quality signals (Gopher- and C4-style heuristics) and optional thresholds on them.

Signals are measured on every document and stored as columns, so a threshold can be chosen by
querying them afterwards; filtering is off unless a `QualityThresholds` field is set. Every
signal is pure Python over regex matches (~0.1 ms for a 400-word article) and never raises.

Definitions (all over the cleaned text):

- word: a run of letters/digits/underscore, joined through inner `'`, `’`, `-` or `.`
  ("don't", "e-mail", "U.S", "3.5"); punctuation-only tokens ("—", "...", "#") are not words.
- line: a non-empty line after stripping (a paragraph of one line is one line).
- `n_words`; `mean_word_length` (characters per word); `frac_alpha_words` (words with at
  least one letter, so "2004" or "3.5" are not: tables of figures score low).
- `symbol_word_ratio`: occurrences of "#", "..." and "…" per word, as Gopher (not a fraction:
  "# # # tag" has 3).
- `frac_lines_end_punct`: lines ending in terminal punctuation or a closing quote
  (. ! ? … " ' ” “ ’ » « and their CJK forms), as C4 keeps lines.
- `repeated_line_frac`: lines equal to an earlier line (menus, cookie banners, "Share"), as Gopher.
- `bullet_line_frac`: lines starting with a bullet ("•", or "-", "*", "–" followed by a space).
- `ellipsis_line_frac`: lines ending in "..." or "…" (truncated teasers), as Gopher.
- `stopword_ratio`: words that are stop words of `lang`, from spaCy's lists
  (`spacy.lang.<lang>.stop_words`, no model needed); None when `lang` is None, has no list, or
  is written without spaces between words (zh, ja, th, ...), where "words" are not words.

A signal that cannot be measured (no words, no lines) is None, and None never fails a threshold.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_WORD_RE = re.compile(r"\w+(?:['’.\-]\w+)*")
_LETTER_RE = re.compile(r"[^\W\d_]")
_BULLET_RE = re.compile(r"(?:[•●○◦▪▫■□‣⁃∙►▸▶➢➤✓✔]|[-–—*·→](?=\s))")
_TERMINAL_PUNCT = frozenset(".!?…\"'”“’»«。！？")
_ELLIPSES = ("...", "…")

# py3langid says "no" for Norwegian, spaCy calls its Bokmål list "nb".
_SPACY_LANG = {"no": "nb"}
# Scripts written without spaces: a regex "word" is a whole phrase there.
_UNSPACED_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "dz", "yue", "wuu"})
_LANG_CODE_RE = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True, slots=True)
class QualitySignals:
    n_words: int
    mean_word_length: float | None
    symbol_word_ratio: float | None
    frac_lines_end_punct: float | None
    repeated_line_frac: float | None
    stopword_ratio: float | None
    frac_alpha_words: float | None
    bullet_line_frac: float | None
    ellipsis_line_frac: float | None


SIGNAL_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(QualitySignals))


@functools.cache
def stop_words(lang: str) -> frozenset[str] | None:
    """spaCy's stop words for language code `lang` (lower case, ’ as '), or None without a list.

    The list module is executed on its own: importing `spacy.lang.<lang>` would also build that
    language's tokenizer exceptions (1.8 s for French), which stop words do not need.
    """
    lang = lang.lower()
    code = _SPACY_LANG.get(lang, lang)
    if lang in _UNSPACED_LANGS or not _LANG_CODE_RE.fullmatch(code):
        return None
    try:
        spec = importlib.util.find_spec("spacy")
    except (ImportError, ValueError):
        return None
    words: set[str] | None = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations)), "lang", code, "stop_words.py")
        if path.is_file():
            module_spec = importlib.util.spec_from_file_location(f"_stop_words_{code}", path)
            if module_spec is not None and module_spec.loader is not None:
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
                words = getattr(module, "STOP_WORDS", None)
    if words is None:
        try:
            words = importlib.import_module(f"spacy.lang.{code}.stop_words").STOP_WORDS
        except (ImportError, AttributeError):
            return None
    return frozenset(word.lower().replace("’", "'") for word in words)


def _is_stop_word(word: str, stops: frozenset[str]) -> bool:
    word = word.lower()
    if "’" in word:
        word = word.replace("’", "'")
    if word in stops:
        return True
    if "'" in word:
        # Elided or clitic forms the lists hold in part: "l'université" (l'), "it's" (it).
        head = word.split("'", 1)[0]
        return f"{head}'" in stops or head in stops
    return False


def _has_letter(word: str) -> bool:
    return word.isalpha() or _LETTER_RE.search(word) is not None


def _fraction(count: int, total: int) -> float | None:
    return count / total if total else None


def quality_signals(text: str, lang: str | None) -> QualitySignals:
    """Measure `text`; `lang` (a code such as "en", or None) only chooses the stop-word list."""
    words = _WORD_RE.findall(text)
    n_words = len(words)
    lines = [stripped for line in text.splitlines() if (stripped := line.strip())]
    n_lines = len(lines)

    stops = stop_words(lang) if lang else None
    stopword_ratio = None
    if stops is not None and n_words:
        stopword_ratio = sum(_is_stop_word(word, stops) for word in words) / n_words

    seen: set[str] = set()
    repeated = 0
    for line in lines:
        if line in seen:
            repeated += 1
        else:
            seen.add(line)

    n_symbols = text.count("#") + sum(text.count(ellipsis) for ellipsis in _ELLIPSES)
    return QualitySignals(
        n_words=n_words,
        mean_word_length=sum(map(len, words)) / n_words if n_words else None,
        symbol_word_ratio=n_symbols / n_words if n_words else None,
        frac_lines_end_punct=_fraction(sum(line[-1] in _TERMINAL_PUNCT for line in lines), n_lines),
        repeated_line_frac=_fraction(repeated, n_lines),
        stopword_ratio=stopword_ratio,
        frac_alpha_words=_fraction(sum(_has_letter(word) for word in words), n_words),
        bullet_line_frac=_fraction(sum(bool(_BULLET_RE.match(line)) for line in lines), n_lines),
        ellipsis_line_frac=_fraction(sum(line.endswith(_ELLIPSES) for line in lines), n_lines),
    )


def as_columns(signals: QualitySignals, *, prefix: str = "") -> dict[str, int | float | None]:
    """The signals as `{prefix + name: value}`, in field order, for one Parquet row."""
    return {prefix + name: getattr(signals, name) for name in SIGNAL_NAMES}


# threshold field -> (signal, "min" or "max"); a document fails when its signal is below a min
# or above a max.
_CHECKS: dict[str, tuple[str, str]] = {
    "min_words": ("n_words", "min"),
    "min_mean_word_length": ("mean_word_length", "min"),
    "max_mean_word_length": ("mean_word_length", "max"),
    "max_symbol_word_ratio": ("symbol_word_ratio", "max"),
    "min_frac_lines_end_punct": ("frac_lines_end_punct", "min"),
    "max_repeated_line_frac": ("repeated_line_frac", "max"),
    "min_stopword_ratio": ("stopword_ratio", "min"),
    "min_frac_alpha_words": ("frac_alpha_words", "min"),
    "max_bullet_line_frac": ("bullet_line_frac", "max"),
    "max_ellipsis_line_frac": ("ellipsis_line_frac", "max"),
}
_FRACTION_SIGNALS = frozenset(
    {
        "frac_lines_end_punct",
        "repeated_line_frac",
        "stopword_ratio",
        "frac_alpha_words",
        "bullet_line_frac",
        "ellipsis_line_frac",
    }
)


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    """Limits on the signals; a field left None does not filter, so the default filters nothing.

    Fractions take values in [0, 1] (0.8, not 80).
    """

    min_words: float | None = None
    min_mean_word_length: float | None = None
    max_mean_word_length: float | None = None
    max_symbol_word_ratio: float | None = None
    min_frac_lines_end_punct: float | None = None
    max_repeated_line_frac: float | None = None
    min_stopword_ratio: float | None = None
    min_frac_alpha_words: float | None = None
    max_bullet_line_frac: float | None = None
    max_ellipsis_line_frac: float | None = None

    def __post_init__(self) -> None:
        for name in _CHECKS:
            value = getattr(self, name)
            if value is not None:
                _check_threshold(name, value)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, float | str | None]) -> QualityThresholds:
        """Thresholds from `{name: value}` (CLI options, Prefect parameters); numeric strings
        are accepted, None leaves a threshold off, an unknown name raises ValueError."""
        unknown = sorted(set(mapping) - set(_CHECKS))
        if unknown:
            raise ValueError(
                f"unknown quality threshold(s) {', '.join(map(str, unknown))}; "
                f"valid thresholds: {', '.join(_CHECKS)}"
            )
        values = {name: _to_number(name, value) for name, value in mapping.items()}
        return cls(**values)

    def as_mapping(self) -> dict[str, float]:
        """The thresholds that are set, `{name: value}`; empty when nothing is filtered."""
        return {name: value for name in _CHECKS if (value := getattr(self, name)) is not None}


def _to_number(name: str, value: object) -> object:
    # Only strings are converted; every other type is checked by QualityThresholds itself.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"quality threshold {name} must be a number, got {value!r}") from None
    return value


def _check_threshold(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"quality threshold {name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"quality threshold {name} must be a finite number >= 0, got {value!r}")
    if _CHECKS[name][0] in _FRACTION_SIGNALS and value > 1:
        raise ValueError(f"quality threshold {name} is a fraction between 0 and 1, got {value!r}")


def _format(value: float, other: float) -> str:
    """`value` short, but with enough digits to differ from `other` (0.4996 < 0.5, not 0.5)."""
    if float(value).is_integer():
        return str(int(value))
    short = f"{value:.3g}"
    return short if short != f"{other:.3g}" else f"{value:.6g}"


def failed_thresholds(signals: QualitySignals, thresholds: QualityThresholds) -> list[str]:
    """Why `signals` fail `thresholds`, one reason each ("n_words 12 < min_words 50"); empty
    when the document passes. A signal that is None passes."""
    reasons = []
    for name, (signal, kind) in _CHECKS.items():
        limit = getattr(thresholds, name)
        value = getattr(signals, signal)
        if limit is None or value is None:
            continue
        if kind == "min" and value < limit:
            reasons.append(f"{signal} {_format(value, limit)} < {name} {_format(limit, value)}")
        elif kind == "max" and value > limit:
            reasons.append(f"{signal} {_format(value, limit)} > {name} {_format(limit, value)}")
    return reasons
