"""Bytes to text that never fails: BOM, strict UTF-8, a declared charset, a guess, latin-1.

`decode_bytes` always returns text; what it had to do to get there is in the returned note, so
a document that was not clean UTF-8 can be found later (`documents.decode_note`).
"""

from __future__ import annotations

import codecs

import charset_normalizer

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

_TEXT_CONTROLS = frozenset(b"\t\n\r\x0b\x0c\x1b")
_BINARY_BYTES = frozenset(b for b in range(32) if b not in _TEXT_CONTROLS) | {0x7F}


def bom_encoding(data: bytes) -> str | None:
    """The codec named by a leading byte-order mark, or None."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def looks_binary(data: bytes) -> bool:
    """True for data that is not text: NUL bytes or many control characters in the first 8 KiB."""
    head = data[:BINARY_SNIFF_BYTES]
    if not head:
        return False
    encoding = bom_encoding(head)
    if encoding in ("utf-16", "utf-32"):
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
    for encoding, how in ((_codec_name(declared), "declared charset "), (_guess(data), "")):
        if encoding is None:
            continue
        try:
            return data.decode(encoding), encoding, f"{where}; decoded as {how}{encoding}"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("cp1252"), "cp1252", f"{where}; decoded as cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1", f"{where}; decoded as latin-1"


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
    """charset-normalizer's best legacy encoding, preferring cp1252 when it is as good."""
    matches = charset_normalizer.from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS))
    if not matches:
        return None

    def rank(item: tuple[int, charset_normalizer.CharsetMatch]) -> tuple[float, int, int]:
        position, match = item
        # Low chaos and high language coherence win; for ties (short text gives no evidence)
        # prefer cp1252, the most common legacy encoding of Western news text.
        score = round(match.chaos - 0.5 * match.coherence, 3)
        return score, 0 if match.encoding == "cp1252" else 1, position

    best = min(enumerate(matches), key=rank)[1].encoding
    if best != "cp1252":
        # Same text under cp1252 (common for Western letters): report the familiar name.
        try:
            if data.decode("cp1252") == data.decode(best):
                return "cp1252"
        except UnicodeDecodeError:
            pass
    return best
