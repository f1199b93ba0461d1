"""Text cleaning as small named `str -> str` steps, composed by `clean_document`.

Every step is pure, never raises and is idempotent on its own output; `clean_document` records
which steps changed a document (`Document.clean_ops`) and lays out the final text as paragraphs
separated by exactly one blank line, with the title (if any) as paragraph 0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
import unicodedata
from collections.abc import Callable, Sequence

import ftfy

from docmill.tasks.records import Document

# Encoding repair only: no HTML unescaping, quote uncurling, ligature or width changes, and no
# normalisation (the steps below own those). No guessing that a space was once a NBSP byte
# either: normalize_whitespace makes such spaces.
_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    restore_byte_a0=False,
    remove_terminal_escapes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)

_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[A-Za-z][A-Za-z0-9]{1,31});")

# C0/C1 controls except tab and line breaks (CR stays so CR-only files keep their lines), lone
# surrogates (not encodable as UTF-8, e.g. from JSON "\ud800"), zero-width characters, BOM,
# soft hyphen, word joiner and bidi marks.
_CONTROL_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff"
    "\u00ad\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)

_LINE_BREAK_RE = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
# Every other character str.isspace() accepts (tab, NBSP, Unicode spaces, the ASCII separators
# \x1c-\x1f) becomes a plain space.
_HSPACE_RE = re.compile("[\t\x1c-\x1f \xa0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_LINE_EDGE_SPACE_RE = re.compile(r" *\n *")
_BLANK_LINES_RE = re.compile(r"\n{2,}")
_PARAGRAPH_BREAK = "\n\n"


def fix_mojibake(text: str) -> str:
    """Repair text decoded with the wrong codec ("cafÃ©" -> "café"), nothing else."""
    return ftfy.fix_text(text, _FTFY_CONFIG)


def unescape_html(text: str) -> str:
    """Replace well-formed HTML entities (`&amp;`, `&#233;`), also double-escaped ones."""
    while "&" in text and _ENTITY_RE.search(text):
        # Repeating until stable makes the step idempotent on "&amp;amp;"; each pass shrinks text.
        unescaped = _ENTITY_RE.sub(lambda m: html.unescape(m.group()), text)
        if unescaped == text:
            break
        text = unescaped
    return text


def remove_control_chars(text: str) -> str:
    """Drop invisible control, zero-width, bidi and soft-hyphen characters."""
    return _CONTROL_RE.sub("", text)


def normalize_unicode(text: str) -> str:
    """Canonical composition (NFC): "e" + combining acute -> "é"."""
    return unicodedata.normalize("NFC", text)


def normalize_whitespace(text: str) -> str:
    """LF line ends, single spaces, stripped lines, at most one blank line, stripped text."""
    text = _LINE_BREAK_RE.sub("\n", text)
    text = _HSPACE_RE.sub(" ", text)
    text = _LINE_EDGE_SPACE_RE.sub("\n", text)
    text = _BLANK_LINES_RE.sub(_PARAGRAPH_BREAK, text)
    return text.strip(" \n")


def split_paragraphs(text: str) -> list[str]:
    """Blocks between blank lines; without any blank line, each non-empty line is a paragraph."""
    separator = _PARAGRAPH_BREAK if _PARAGRAPH_BREAK in text else "\n"
    return [block.strip() for block in text.split(separator) if block.strip()]


def paragraph_breaks(text: str) -> str:
    """Rejoin `split_paragraphs(text)` with exactly one blank line between paragraphs."""
    return _PARAGRAPH_BREAK.join(split_paragraphs(text))


CLEAN_STEPS: dict[str, Callable[[str], str]] = {
    "fix_mojibake": fix_mojibake,
    "unescape_html": unescape_html,
    "remove_control_chars": remove_control_chars,
    "normalize_unicode": normalize_unicode,
    "normalize_whitespace": normalize_whitespace,
    "paragraph_breaks": paragraph_breaks,
}

# Unescape before the mojibake repair so escaped mojibake ("&Atilde;&copy;") is repaired in the
# same pass; remove controls after it because repaired text can contain zero-width characters.
DEFAULT_STEPS: tuple[str, ...] = (
    "unescape_html",
    "fix_mojibake",
    "remove_control_chars",
    "normalize_unicode",
    "normalize_whitespace",
    "paragraph_breaks",
)

_TITLE_SKIPS = frozenset({"paragraph_breaks"})
# Steps can feed each other (removing a control character can expose mojibake to the next pass),
# so cleaning repeats until a pass changes nothing; real text needs one or two passes.
_MAX_PASSES = 4


def resolve_steps(steps: Sequence[str]) -> list[tuple[str, Callable[[str], str]]]:
    """Look up step names; an unknown name raises ValueError listing the valid ones."""
    unknown = [name for name in steps if name not in CLEAN_STEPS]
    if unknown:
        valid = ", ".join(CLEAN_STEPS)
        raise ValueError(f"unknown cleaning step(s) {', '.join(unknown)}; valid steps: {valid}")
    return [(name, CLEAN_STEPS[name]) for name in steps]


def clean_text(text: str, *, steps: Sequence[str] = DEFAULT_STEPS) -> str:
    """Apply the named steps to one string until it no longer changes."""
    resolved = resolve_steps(steps)
    for _ in range(_MAX_PASSES):
        before = text
        for _, step in resolved:
            text = step(text)
        if text == before:
            break
    return text


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph of `text`: non-empty, stripped, no blank line inside."""
    spans: list[tuple[int, int]] = []
    start = 0
    for block in text.split(_PARAGRAPH_BREAK):
        stripped = block.strip()
        if stripped:
            offset = start + len(block) - len(block.lstrip())
            spans.append((offset, offset + len(stripped)))
        start += len(block) + len(_PARAGRAPH_BREAK)
    return spans


def content_hash(text: str) -> str:
    """Key for exact duplicates: lower-cased text with whitespace collapsed, hashed."""
    key = " ".join(text.lower().split())
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]


def clean_document(doc: Document, *, steps: Sequence[str] = DEFAULT_STEPS) -> Document:
    """Clean title and body of `doc`; return a new Document with text, paragraphs and ops set.

    A document whose text ends up empty is returned with `text == ""`; rejecting it is the
    caller's decision.
    """
    resolved = resolve_steps(steps)
    title, body = doc.title or "", doc.text
    if doc.title_paragraph and title:
        # Already cleaned once: the text starts with the title paragraph.
        head = title + _PARAGRAPH_BREAK
        if body.startswith(head):
            body = body[len(head) :]
        elif body == title:
            body = ""
    changed: set[str] = set()
    for _ in range(_MAX_PASSES):
        before = (title, body)
        for name, step in resolved:
            new_body = step(body)
            new_title = title if name in _TITLE_SKIPS else step(title)
            if new_body != body or new_title != title:
                changed.add(name)
            body, title = new_body, new_title
        # A title is one line whatever the steps are; a newline in it would split paragraph 0.
        title = " ".join(title.split())
        if (title, body) == before:
            break
    ops = list(dict.fromkeys(doc.clean_ops + [name for name, _ in resolved if name in changed]))
    text = f"{title}{_PARAGRAPH_BREAK}{body}" if title and body else title or body
    return dataclasses.replace(
        doc,
        text=text,
        title=title or None,
        title_paragraph=bool(title),
        paragraphs=paragraph_spans(text),
        clean_ops=ops,
        content_hash=content_hash(text),
    )
