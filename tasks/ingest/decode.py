"""Bytes to text that never fails: BOM, UTF-16 by its NUL bytes, strict UTF-8, UTF-8 and legacy
lines mixed, a declared charset, a guess that prefers cp1252, latin-1.

`decode_bytes` always returns text; what it had to do to get there is in the returned note, so
a document that was not clean UTF-8 can be found later (`documents.decode_note`).
"""

from __future__ import annotations

import codecs

import charset_normalizer

from docmill.tasks.ingest.western import is_sparse, reads_as_western

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Candidates for text that is not UTF-8. Restricting charset-normalizer to these keeps it from
# picking exotic code pages (cp1006, ...) for short Western text.
LEGACY_ENCODINGS: tuple[str, ...] = (
    "cp1252",
    "cp1250",
    "cp1251",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp1258",
    "iso8859_15",
    "iso8859_2",
    "koi8_r",
    "cp874",
    "cp932",
    "euc_jp",
    "gb18030",
    "big5",
    "euc_kr",
)

BINARY_SNIFF_BYTES = 8192
# Share of control characters (other than tab, newlines, form feed, escape) above which data
# is treated as binary; text with a few stray controls stays text and gets cleaned.
BINARY_CONTROL_RATIO = 0.10

# A share of NUL bytes in one byte position of each pair that only UTF-16 text shows (Latin
# characters have a zero high byte), and at most this share in the other position.
UTF16_MIN_NUL_SHARE = 0.3
UTF16_MAX_OTHER_NUL_SHARE = 0.02
UTF16_MIN_NULS = 4
# A rival code page beats cp1252 for Western-looking text only when its language model fits
# clearly better (charset-normalizer's coherence, 0..1): short text never gives that evidence.
STRONG_COHERENCE_GAIN = 0.1

_TEXT_CONTROLS = frozenset(b"\t\n\r\x0b\x0c\x1b")
_BINARY_BYTES = frozenset(b for b in range(32) if b not in _TEXT_CONTROLS) | {0x7F}


def bom_encoding(data: bytes) -> str | None:
    """The codec named by a leading byte-order mark, or None."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def utf16_without_bom(data: bytes) -> str | None:
    """ "utf-16-le" or "utf-16-be" for BOM-less UTF-16 with many Latin characters: one byte of
    each pair mostly NUL, the other almost never. None otherwise (CJK text is not recognised)."""
    head = data[:BINARY_SNIFF_BYTES]
    pairs = len(head) // 2
    if pairs < 2:
        return None
    even, odd = head[0 : 2 * pairs : 2].count(0), head[1 : 2 * pairs : 2].count(0)
    for codec, nul, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        enough = nul >= max(UTF16_MIN_NULS, UTF16_MIN_NUL_SHARE * pairs)
        if enough and other <= UTF16_MAX_OTHER_NUL_SHARE * pairs:
            return codec
    return None


def looks_binary(data: bytes) -> bool:
    """True for data that is not text: NUL bytes or many control characters in the first 8 KiB."""
    head = data[:BINARY_SNIFF_BYTES]
    if not head:
        return False
    encoding = bom_encoding(head) or utf16_without_bom(head)
    if encoding in ("utf-16", "utf-32", "utf-16-le", "utf-16-be"):
        # NUL bytes are normal in UTF-16/32; judge the decoded characters instead.
        text = head.decode(encoding, errors="ignore")
        n_controls = sum(1 for ch in text if ord(ch) < 128 and ord(ch) in _BINARY_BYTES)
        return n_controls > BINARY_CONTROL_RATIO * max(len(text), 1)
    if b"\x00" in head:
        return True
    n_controls = sum(1 for byte in head if byte in _BINARY_BYTES)
    return n_controls > BINARY_CONTROL_RATIO * len(head)


def decode_bytes(data: bytes, *, declared: str | None = None) -> tuple[str, str, str | None]:
    """Decode `data`; return (text, encoding, note). `note` is None for clean UTF-8 or BOM text.

    `declared` is a charset the container claims (an HTML <meta charset>); it is used only
    when the bytes are not valid UTF-8 and decode strictly under it.
    """
    encoding = bom_encoding(data)
    if encoding is not None:
        try:
            return data.decode(encoding), encoding, None
        except UnicodeDecodeError as exc:
            text = data.decode(encoding, errors="replace")
            return text, encoding, f"invalid {encoding} at byte {exc.start}; replaced with U+FFFD"
    if (encoding := utf16_without_bom(data)) is not None:
        note = f"no byte-order mark; {encoding.upper()} recognised by its NUL bytes"
        try:
            return data.decode(encoding), encoding, note
        except UnicodeDecodeError as exc:
            text = data.decode(encoding, errors="replace")
            return text, encoding, f"{note}; invalid at byte {exc.start}, replaced with U+FFFD"
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as exc:
        error = exc
    where = f"invalid UTF-8 at byte {error.start}"
    truncated = error.end == len(data) and error.reason == "unexpected end of data"
    if truncated and not data[: error.start].isascii():
        # A UTF-8 file cut off mid-character (a pure-ASCII prefix is no evidence of UTF-8).
        text = data.decode("utf-8", errors="replace")
        return text, "utf-8", f"truncated UTF-8 at byte {error.start}; replaced with U+FFFD"
    if (mixed := _decode_mixed(data, declared)) is not None:
        return mixed
    text, encoding, how = _decode_legacy(data, declared)
    return text, encoding, f"{where}; decoded as {how}{encoding}"


def _decode_legacy(data: bytes, declared: str | None) -> tuple[str, str, str]:
    """(text, encoding, how) for bytes that are not UTF-8: the declared charset, else the guess,
    else cp1252, else latin-1 (which decodes anything)."""
    for encoding, how in ((_codec_name(declared), "declared charset "), (_guess(data), "")):
        if encoding is None:
            continue
        try:
            return data.decode(encoding), encoding, how
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("cp1252"), "cp1252", ""
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1", ""


def _decode_mixed(data: bytes, declared: str | None) -> tuple[str, str, str] | None:
    """Line by line, for a file that joins UTF-8 lines with lines in a legacy encoding (feeds
    concatenated from several exporters): each valid UTF-8 line as UTF-8, the others in the one
    encoding that fits them all. None unless both kinds hold non-ASCII text."""
    lines = data.splitlines(keepends=True)
    utf8 = []  # per line: True for valid UTF-8 (ASCII included), False for the legacy lines
    for line in lines:
        try:
            line.decode("utf-8")
            utf8.append(True)
        except UnicodeDecodeError:
            utf8.append(False)
    legacy = [line for line, ok in zip(lines, utf8, strict=True) if not ok]
    n_utf8 = sum(ok and not line.isascii() for line, ok in zip(lines, utf8, strict=True))
    if not legacy or not n_utf8:
        return None
    _, encoding, how = _decode_legacy(b"".join(legacy), declared)
    text = "".join(
        line.decode("utf-8") if ok else line.decode(encoding, errors="replace")
        for line, ok in zip(lines, utf8, strict=True)
    )
    first = utf8.index(False) + 1
    note = (
        f"mixed encodings: {_lines(n_utf8)} UTF-8, {_lines(len(legacy))} {how}{encoding} "
        f"(first at line {first})"
    )
    return text, f"utf-8+{encoding}", note


def _lines(n: int) -> str:
    return f"{n} line" if n == 1 else f"{n} lines"


def _codec_name(name: str | None) -> str | None:
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip()).name
    except LookupError:
        return None
    # As browsers do (WHATWG): a page labelled latin-1 or ASCII is read as windows-1252.
    return "cp1252" if codec in ("iso8859-1", "ascii") else codec


def _guess(data: bytes) -> str | None:
    """The legacy encoding of `data`: cp1252 when it reads as Western text and no other code page
    fits clearly better, else charset-normalizer's best (cp1252 on ties)."""
    matches = charset_normalizer.from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS))
    try:
        as_cp1252 = data.decode("cp1252")
    except UnicodeDecodeError:
        as_cp1252 = None
    if as_cp1252 is not None and reads_as_western(as_cp1252):
        if is_sparse(as_cp1252):
            return "cp1252"  # a few accented letters are no evidence for any other code page
        # charset-normalizer folds code pages that decode alike into one match.
        own = next((m for m in matches if "cp1252" in m.could_be_from_charset), None)
        own_coherence = own.coherence if own else 0.0
        rival = max(matches, key=lambda m: m.coherence, default=None)
        if rival is None or rival.coherence < own_coherence + STRONG_COHERENCE_GAIN:
            return "cp1252"
    if not matches:
        return None

    def rank(item: tuple[int, charset_normalizer.CharsetMatch]) -> tuple[float, int, int]:
        position, match = item
        # Low chaos and high language coherence win; for ties prefer cp1252, the most common
        # legacy encoding of Western news text.
        score = round(match.chaos - 0.5 * match.coherence, 3)
        return score, 0 if "cp1252" in match.could_be_from_charset else 1, position

    best = min(enumerate(matches), key=rank)[1].encoding
    if best != "cp1252":
        # Same text under cp1252 (common for Western letters): report the familiar name.
        try:
            if data.decode("cp1252") == data.decode(best):
                return "cp1252"
        except UnicodeDecodeError:
            pass
    return best
