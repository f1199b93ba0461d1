"""Does cp1252-decoded text read like a Western European language?

Bytes in another single-byte code page also decode under cp1252, into Latin letters and symbols,
so "it decodes" proves nothing. What gives another alphabet away: symbols inside words (Polish
`Za¿ó³æ`), words made of accented letters only (Russian `Ïðèâåò`), and accents that no one
Western language uses together (Czech `støedu dùchodech`). Text with only a few accented letters
gives no evidence either way and counts as Western: most news written in a legacy code page is.
"""

from __future__ import annotations

# Accented letters of Western European languages written in cp1252 (lower case).
WESTERN_ALPHABETS: tuple[frozenset[str], ...] = tuple(
    frozenset(letters)
    for letters in (
        "àâæçéèêëîïôœùûüÿ",  # French
        "äöüß",  # German
        "áéíñóúü",  # Spanish, Galician, Basque
        "áâãàçéêíóôõú",  # Portuguese
        "àèéìíîòóùú",  # Italian
        "àçèéíïòóúü",  # Catalan
        "áéíóúàèëïöü",  # Dutch
        "æøåéóô",  # Danish, Norwegian
        "åäöé",  # Swedish
        "äöåšž",  # Finnish
        "áðéíóúýþæö",  # Icelandic
        "áéíóú",  # Irish
    )
)
# Up to this many non-ASCII characters, or this share of the letters, text gives no evidence
# against cp1252 (an English article with a few "café" and "naïve").
SPARSE_CHARS = 8
SPARSE_SHARE = 0.05
# Non-ASCII punctuation that belongs inside a word.
_WORD_INNER = frozenset("’‘·")
# Ordinal indicators follow a digit or a period ("1º", "2.ª"), never a letter: touching one, they
# are another alphabet's letter (Romanian ş is cp1252's º).
_ORDINALS = frozenset("ªº")


def is_sparse(text: str) -> bool:
    """Too few non-ASCII characters to be evidence for any code page."""
    n_other = sum(not ch.isascii() for ch in text)
    n_letters = sum(ch.isalpha() for ch in text)
    return n_other <= SPARSE_CHARS or n_other <= SPARSE_SHARE * n_letters


def reads_as_western(text: str) -> bool:
    """True when `text` (decoded as cp1252) looks like a Western European language."""
    n_other = sum(not ch.isascii() for ch in text)
    if not n_other:
        return True
    padded = f" {text} "
    for i, ch in enumerate(text, start=1):
        if ch.isascii() or (ch.isalpha() and ch not in _ORDINALS):
            continue
        before, after = padded[i - 1].isalpha(), padded[i + 1].isalpha()
        if (before and after and ch not in _WORD_INNER) or (ch in _ORDINALS and (before or after)):
            return False
    letters = [ch for ch in text if ch.isalpha() and ch not in _ORDINALS]
    accented = [ch.lower() for ch in letters if not ch.isascii()]
    if len(accented) >= 4 and 2 * len(accented) > len(letters):
        return False
    if is_sparse(text):
        return True
    used = set(accented)
    return any(used <= alphabet for alphabet in WESTERN_ALPHABETS)
