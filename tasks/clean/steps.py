"""Text cleaning as small named `str -> str` steps, composed by `clean_document`.

Every step is pure, never raises and is idempotent on its own output; `clean_document` records
which steps changed a document (`Document.clean_ops`) and what each of them did
(`Document.clean_audit`), and lays out the final text as paragraphs separated by exactly one blank
line, with the title (if any) as paragraph 0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

import ftfy

from docmill.tasks.clean.markup import (
    backslash_line_breaks,
    backslash_word_breaks,
    count_entities,
    count_escaped_dollars,
    count_fragments,
    count_markers,
    count_tags,
    count_word_breaks,
    repair_entity_fragments,
    strip_escaped_tags,
    unescape_dollar_signs,
    unescape_html,
)
from docmill.tasks.records import CleanEdit, Document

# Encoding repair only: no HTML unescaping, quote uncurling, ligature or width changes, and no
# normalisation (the steps below own those). No guessing that a space was once a NBSP byte
# either: normalize_whitespace makes such spaces. `explain` so the audit can say what was fixed.
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
    explain=True,
)


# C0/C1 controls except tab and line breaks (CR stays so CR-only files keep their lines), lone
# surrogates (not encodable as UTF-8, e.g. from JSON "\ud800"), zero-width characters, BOM,
# soft hyphen, word joiner and bidi marks.
_CONTROL_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff"
    "\u00ad\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)

_LINE_BREAK_CHARS = "\r\x0b\x0c\x85\u2028\u2029"
_LINE_BREAK_RE = re.compile(f"\r\n|[{_LINE_BREAK_CHARS}]")
# Every other character str.isspace() accepts (tab, NBSP, Unicode spaces, the ASCII separators
# \x1c-\x1f) becomes a plain space.
_HSPACE_RE = re.compile("[\t\x1c-\x1f \xa0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_ODD_SPACE_RE = re.compile("[\t\x1c-\x1f\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_LINE_EDGE_SPACE_RE = re.compile(r" *\n *")
_BLANK_LINES_RE = re.compile(r"\n{2,}")
_PARAGRAPH_BREAK = "\n\n"


def _fix_mojibake_explained(text: str) -> tuple[str, list[str]]:
    """`fix_mojibake` plus ftfy's plan for each line it changed ("encode latin-1, decode utf-8")."""
    if text.isascii():
        return text, []
    # Line by line, each with its "\n", like ftfy.fix_text, but through fix_and_explain: fix_text
    # repairs encodings with ftfy's default options whatever the config says (restore_byte_a0 was
    # on). An ASCII line holds no mojibake; skipping ftfy for it makes the step 4x cheaper on news.
    lines = text.split("\n")
    last = len(lines) - 1
    plans: list[str] = []
    for i, line in enumerate(lines):
        segment = line if i == last else line + "\n"
        if not line.isascii():
            fixed, explanation = ftfy.fix_and_explain(segment, _FTFY_CONFIG)
            if fixed != segment:
                segment = fixed
                plans.append(", ".join(f"{step.action} {step.parameter}" for step in explanation))
        lines[i] = segment
    return "".join(lines), plans


def fix_mojibake(text: str) -> str:
    """Repair text decoded with the wrong codec ("cafÃ©" -> "café"), nothing else."""
    return _fix_mojibake_explained(text)[0]


def remove_control_chars(text: str) -> str:
    """Drop invisible control, zero-width, bidi and soft-hyphen characters."""
    return _CONTROL_RE.sub("", text)


def normalize_unicode(text: str) -> str:
    """Canonical composition (NFC): "e" + combining acute -> "é"."""
    return unicodedata.normalize("NFC", text)


def normalize_whitespace(text: str) -> str:
    """LF line ends, single spaces, stripped lines, at most one blank line, stripped text."""
    # Each substitution runs only where it can change something: news text has a space between
    # most words, and rewriting each " " as " " made this the most expensive step.
    if any(char in text for char in _LINE_BREAK_CHARS):
        text = _LINE_BREAK_RE.sub("\n", text)
    if "  " in text or _ODD_SPACE_RE.search(text):
        text = _HSPACE_RE.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _LINE_EDGE_SPACE_RE.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES_RE.sub(_PARAGRAPH_BREAK, text)
    return text.strip(" \n")


def split_paragraphs(text: str) -> list[str]:
    """Blocks between blank lines; without any blank line, each non-empty line is a paragraph."""
    # Only a blank line between paragraphs counts: "a\nb\n\n" is two lines, or joining its
    # paragraphs would make a blank line that the next call reads as one block "a\nb".
    separator = _PARAGRAPH_BREAK if _PARAGRAPH_BREAK in text.strip() else "\n"
    return [block.strip() for block in text.split(separator) if block.strip()]


def paragraph_breaks(text: str) -> str:
    """Rejoin `split_paragraphs(text)` with exactly one blank line between paragraphs."""
    return _PARAGRAPH_BREAK.join(split_paragraphs(text))


CLEAN_STEPS: dict[str, Callable[[str], str]] = {
    "fix_mojibake": fix_mojibake,
    "unescape_html": unescape_html,
    "repair_entity_fragments": repair_entity_fragments,
    "strip_escaped_tags": strip_escaped_tags,
    "backslash_line_breaks": backslash_line_breaks,
    "unescape_dollar_signs": unescape_dollar_signs,
    "backslash_word_breaks": backslash_word_breaks,
    "remove_control_chars": remove_control_chars,
    "normalize_unicode": normalize_unicode,
    "normalize_whitespace": normalize_whitespace,
    "paragraph_breaks": paragraph_breaks,
}

# Entities first, well-formed before fragments, so that each later step sees plain characters:
# the tag step then meets every spelling of a tag ("&lt;p&gt;", "lt;p gt;") as "<p>", an escaped
# backslash ("&#92;n") is a marker, and escaped mojibake ("&Atilde;&copy;", "#195;#169;") is
# repaired in the same pass. Written-out markers ("\n") and escaped dollars ("\$46\a barrel")
# are read before the bare backslashes between words, and tags and markers become line breaks
# before the whitespace steps lay them out. Controls go after the mojibake repair because
# repaired text can contain zero-width characters.
DEFAULT_STEPS: tuple[str, ...] = (
    "unescape_html",
    "repair_entity_fragments",
    "strip_escaped_tags",
    "backslash_line_breaks",
    "unescape_dollar_signs",
    "backslash_word_breaks",
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


_SAMPLE_CHARS = 80
_SAMPLE_CONTEXT = 20


def _common_prefix_len(a: str, b: str) -> int:
    # Binary search over C-level slice comparisons: no Python loop over characters.
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a.startswith(b[:mid]):
            lo = mid
        else:
            hi = mid - 1
    return lo


def change_samples(before: str, after: str) -> tuple[str, str]:
    """Windows of at most 80 characters of `before` and `after` around their first difference.

    A lone surrogate is shown as its escape ("\\ud800"), six characters for one.
    """
    prefix = _common_prefix_len(before, after)
    suffix = min(
        _common_prefix_len(before[::-1], after[::-1]), min(len(before), len(after)) - prefix
    )
    start = max(0, prefix - _SAMPLE_CONTEXT)
    samples = []
    for text in (before, after):
        end = min(len(text) - suffix + _SAMPLE_CONTEXT, start + _SAMPLE_CHARS)
        # Stored as UTF-8 (Parquet), which cannot hold the lone surrogates of uncleaned text.
        samples.append(text[start:end].encode("utf-8", "backslashreplace").decode("utf-8"))
    return samples[0], samples[1]


def _counted(noun: str, plural: str, count: Callable[[str], int]) -> Callable[[list[str]], str]:
    def detail(texts: list[str]) -> str:
        n = sum(count(text) for text in texts)
        return f"{n} {noun if n == 1 else plural}"

    return detail


def _mojibake_detail(texts: list[str]) -> str | None:
    plans = Counter(plan for text in texts for plan in _fix_mojibake_explained(text)[1])
    return "; ".join(f"{plan} ({n} lines)" if n > 1 else plan for plan, n in plans.items()) or None


def _control_detail(texts: list[str]) -> str:
    chars = Counter(char for text in texts for char in _CONTROL_RE.findall(text))
    codes = ", ".join(f"U+{ord(char):04X}" for char in list(chars)[:5])
    more = ", …" if len(chars) > 5 else ""
    n = sum(chars.values())
    return f"{n} {'character' if n == 1 else 'characters'}: {codes}{more}"


# How the audit describes a step's change, computed from the texts before the step and only for
# documents the step changed, so the common no-change path costs nothing.
_DETAILS: dict[str, Callable[[list[str]], str | None]] = {
    "fix_mojibake": _mojibake_detail,
    "unescape_html": _counted("entity", "entities", count_entities),
    "repair_entity_fragments": _counted("fragment", "fragments", count_fragments),
    "strip_escaped_tags": _counted("tag", "tags", count_tags),
    "backslash_line_breaks": _counted("marker", "markers", count_markers),
    "unescape_dollar_signs": _counted("dollar sign", "dollar signs", count_escaped_dollars),
    "backslash_word_breaks": _counted("break", "breaks", count_word_breaks),
    "remove_control_chars": _control_detail,
}


def _clean_edit(op: str, before: tuple[str, str], after: tuple[str, str]) -> CleanEdit:
    """Audit entry for one step: sizes of title + body, a sample of the first changed field."""
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    before_sample, after_sample = change_samples(*changed[0])
    describe = _DETAILS.get(op)
    return CleanEdit(
        op=op,
        chars_before=sum(map(len, before)),
        chars_after=sum(map(len, after)),
        before_sample=before_sample,
        after_sample=after_sample,
        detail=describe([old for old, _ in changed]) if describe else None,
    )


def clean_document(doc: Document, *, steps: Sequence[str] = DEFAULT_STEPS) -> Document:
    """Clean title and body of `doc`; return a new Document with text, paragraphs and ops set.

    `clean_ops` names the steps that changed the title or body, in step order, and `clean_audit`
    holds one `CleanEdit` per such step, in the same order, describing the step's first effective
    application: sizes are len(title) + len(body) right before and after it, the samples come from
    the title when that changed, else the body. A step that changes the text again in a later pass
    keeps that first entry. Entries of an already cleaned `doc` are kept and come first.

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
    edits: dict[str, CleanEdit] = {}
    for _ in range(_MAX_PASSES):
        before = (title, body)
        for name, step in resolved:
            new_body = step(body)
            new_title = title if name in _TITLE_SKIPS else step(title)
            if name not in edits and (new_body != body or new_title != title):
                edits[name] = _clean_edit(name, (title, body), (new_title, new_body))
            body, title = new_body, new_title
        # A title is one line whatever the steps are; a newline in it would split paragraph 0.
        title = " ".join(title.split())
        if (title, body) == before:
            break
    new_ops = [name for name in dict.fromkeys(name for name, _ in resolved) if name in edits]
    ops = list(dict.fromkeys(doc.clean_ops + new_ops))
    audited = {edit.op for edit in doc.clean_audit}
    audit = doc.clean_audit + [edits[name] for name in new_ops if name not in audited]
    text = f"{title}{_PARAGRAPH_BREAK}{body}" if title and body else title or body
    return dataclasses.replace(
        doc,
        text=text,
        title=title or None,
        title_paragraph=bool(title),
        paragraphs=paragraph_spans(text),
        clean_ops=ops,
        clean_audit=audit,
        content_hash=content_hash(text),
    )
