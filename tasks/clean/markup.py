"""Cleaning steps that undo markup and escaping: HTML entities, entity fragments whose "&" a
feed lost, escaped tags and written-out line breaks. Each is a pure `str -> str` step (see
`clean.py`, which composes them); the `count_*` functions size a change for the audit.
"""

from __future__ import annotations

import html
import re

_PARAGRAPH_BREAK = "\n\n"

# unescape_html, repair_entity_fragments and strip_escaped_tags repeat until their output is
# stable, since a replacement can complete another entity, fragment or tag ("&amp;amp;",
# "<<b>p>"); each round scans the whole text and undoes one level of nesting. Real text nests two
# or three levels (double escaping); deeper nesting is garbage that must not cost minutes, so it
# is left partly undone, and these steps are idempotent up to this depth only.
_MAX_ROUNDS = 10

_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[A-Za-z][A-Za-z0-9]{1,31});")

# An entity that lost its "&" ("it #39;s", "quot;Hi", "#36;5bn"), optionally behind "amp;"s left
# by double escaping ("amp;quot;"). Never right after a letter, digit or "_" ("camp;",
# "aliquot;", "C#39;" are words or code) nor after "&" or "#" (a real entity is unescape_html's).
_FRAGMENT_RE = re.compile(
    r"(?<![\w&#])(?:amp;)*(?P<name>#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|quot|amp|apos|lt|gt|nbsp);"
)
# What every fragment contains: a cheap test before the regexes.
_FRAGMENT_PARTS = ("#", "quot;", "amp;", "apos;", "lt;", "gt;", "nbsp;")
# An apostrophe as feeds escape it: "'", "’", or "‘" (cp1252 feeds and word processors type
# apostrophes as left quotes too), by number or by name.
_APOSTROPHE = r"(?:#0*39|#[xX]0*27|#0*14[56]|#0*821[67]|#[xX]0*201[89]|apos)"
# Feeds that turned "&" into a space leave "Street #39;s": the apostrophe of a contraction joins
# its word again.
_SPACED_CONTRACTION_RE = re.compile(
    rf"(?<=[^\W\d_]) (?P<name>{_APOSTROPHE});(?=(?i:s|t|d|m|ll|re|ve)\b)"
)
# ... and "Bears #39; Urlacher": after a plural it is a possessive ("Bears' Urlacher"), unless the
# word is one that numbers follow ("issues #39; and #40;"), where "#39" is a number.
_SPACED_POSSESSIVE_RE = re.compile(
    rf"(?<=[^\W\d_][sS]) (?P<name>{_APOSTROPHE});(?=[\s.,;:!?)\]]|\Z)"
)
_WORD_BEFORE_RE = re.compile(r"(?<![\w&#])[^\W\d_]+\Z")
_NUMBERING_WORDS = frozenset(
    {"issues", "bugs", "tickets", "prs", "fixes", "closes", "resolves", "refs", "items", "nos"}
)
# A fragment one space after a word, or after punctuation that ends one, may have lost the "&"
# that glued it there: a closing quote standing alone ("Incredibles quot; is") or an ampersand
# glued to the next word ("AT amp;T") joins that word again.
_WORD_END_RE = re.compile(r"[\w.,!?)\]'\"’”%]")
_CLOSING_QUOTES = frozenset("'\"’”")

# Markup in text, raw or escaped ("<p>", "&lt;br/&gt;", "&lt;a href=&quot;x&quot;&gt;"). Only
# these tag names, directly after "<" or "</", with attribute syntax and a closing ">": "a < b > c",
# "x<y", "<bold>" and "<b && c>" are text.
_BLOCK_TAGS = frozenset(
    {"p", "div", "li", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_INLINE_TAGS = frozenset({"b", "i", "u", "em", "strong", "a", "span", "font"})
_TAG_NAMES = "|".join(sorted(_BLOCK_TAGS | _INLINE_TAGS | {"br"}))
_ATTR_VALUE = (
    r"""(?:"[^"<>\n]*"|'[^'<>\n]*'|&quot;(?:(?!&quot;)[^<>\n]){0,200}&quot;|[^\s"'<>&]+)"""
)
_TAG_RE = re.compile(
    rf"(?:<|&lt;)/?(?P<name>{_TAG_NAMES})(?=[\s/>&])"
    rf"(?:\s+[A-Za-z_:][-\w:.]*(?:\s*=\s*{_ATTR_VALUE})?){{0,20}}\s*/?(?:>|&gt;)",
    re.IGNORECASE,
)

# Two-character line-break markers ("\n", "\r\n", "\r" as backslash + letter) from bad exports.
# A run of them is a break unless a lowercase letter follows ("C:\new\notes", "\newline") or the
# backslash is itself escaped ("\\n"); a Windows path token ("C:\...", "\\server\...") is left
# whole. The `path` alternative only exists to be skipped over. A run is only tried from its
# start: retrying inside a refused run made a long one quadratic.
_BACKSLASH_RE = re.compile(
    r"(?P<path>(?<![^\s\"'(\[])(?:[A-Za-z]:\\|\\\\)\S*)"
    r"|(?<!\\)(?<!\\n)(?<!\\r)(?P<marks>(?:\\r\\n|\\r|\\n)++)(?![a-z])"
)
# One marker in a whole text is more likely prose about escapes ("the \n character") than a
# broken export, which has one per line.
_MIN_BACKSLASH_MARKERS = 2

# Feeds that wrote each line break as a bare backslash: "continue, and\bring with it",
# "Yushchenko\predicted", "\\This little" at the start of a text. Inside a token (the text between
# two spaces) a backslash is such a break only between two plain words: before it a word or
# figure of two or more characters with the punctuation that may end it ("and", "Group,",
# "$46"), after it a word ("bring", "U.S.", not the "'t" of "don\'t"). A written-out "\n", "\r"
# or "\t" stays where the letters after it cannot begin an English word ("one\ntwo",
# "name\tvalue"), and so does every other backslash: paths ("C:\Users\x", "\\server\share",
# "docs\readme.txt"), code and regexes ("\d+", "a\tb", "print('a\tb')"), a token with two or
# more backslashes.
_WORD_BREAK_RE = re.compile(
    r"(?<!\S)(?P<before>[(\"'“‘$£€]?[^\W_][\w'’.,-]*[^\W_][.,;:!?)\"'’”%]*)"
    r"\\(?!n(?![aeiouy])|r(?![aeiouyh])|t(?![aeiouyhrw]))"
    r"(?P<after>[^\W\d_][\w'’-]*(?:\.[A-Z])*[.,;:!?)\"'’”]*)(?!\S)"
)
# At the start of a line only a capitalised word follows such a break: "\section" or "\alpha"
# there is TeX.
_LEADING_BREAK_RE = re.compile(r"(?m)^\\+(?=[A-Z][\w'’-]*[.,;:!?)\"'’”]*(?:\s|\Z))")
# "\$" before a figure ("a record \$11.60") is a feed's escaped dollar sign. An escaped backslash
# ("\\$5") stays, and so does "\$" before anything else (regexes: "^\$\d+").
_ESCAPED_DOLLAR_RE = re.compile(r"(?<!\\)\\(?=\$\.?[0-9])")


def unescape_html(text: str) -> str:
    """Replace well-formed HTML entities (`&amp;`, `&#233;`), also double-escaped ones."""
    for _ in range(_MAX_ROUNDS):
        if "&" not in text:
            break
        unescaped = _ENTITY_RE.sub(lambda m: html.unescape(m.group()), text)
        if unescaped == text:
            break
        text = unescaped
    return text


def _fragment_char(name: str) -> str | None:
    """The character a fragment stands for, or None when it is no printable character."""
    char = html.unescape(f"&{name};")
    if len(char) != 1 or char == "\ufffd" or not (char.isprintable() or char == "\xa0"):
        return None
    return char


def _is_ambiguous_fragment(match: re.Match[str]) -> bool:
    """A lone "#36;" or "amp;" between spaces may be text ("issue #36; fixed", "the amp;"), but
    not an "amp;" between two names ("Procter amp; Gamble", "Q amp; A")."""
    name = match["name"]
    if len(match.group()) > len(name) + 1 or not (name[0] == "#" or name == "amp"):
        return False
    text, start, end = match.string, match.start(), match.end()
    before_ok = start == 0 or text[start - 1].isspace()
    if not (before_ok and (end == len(text) or text[end].isspace())):
        return False
    return name != "amp" or not _between_names(text, start, end)


def _between_names(text: str, start: int, end: int) -> bool:
    before, after = text[max(0, start - 64) : start].split(), text[end : end + 64].split()
    return bool(before and after) and all(
        w[0].isupper() or w[0].isdigit() for w in (before[-1], after[0])
    )


def _may_hold_fragments(text: str) -> bool:
    # Substring checks cost far less than the regexes on the many texts that have no fragment.
    return ";" in text and any(part in text for part in _FRAGMENT_PARTS)


def _apostrophe(match: re.Match[str]) -> str:
    return _fragment_char(match["name"]) or "'"


def _is_possessive(match: re.Match[str]) -> bool:
    start = match.start()
    word = _WORD_BEFORE_RE.search(match.string, max(0, start - 64), start)
    return word is not None and word.group().lower() not in _NUMBERING_WORDS


def _replacement_start(match: re.Match[str], char: str) -> int:
    """Where the repaired character goes: over the space before the fragment when that space
    stands for the lost "&" (a closing quote after its word, an ampersand inside a name)."""
    text, start, end = match.string, match.start(), match.end()
    if start < 2 or text[start - 1] != " " or not _WORD_END_RE.match(text, start - 2):
        return start
    glued_right = end < len(text) and (text[end].isalnum() or text[end] == "_")
    joins = (char in _CLOSING_QUOTES and not glued_right) or (char == "&" and glued_right)
    return start - 1 if joins else start


def _repair_fragments(text: str) -> tuple[str, int]:
    """`repair_entity_fragments` and the number of fragments it replaced."""
    total = 0
    for _ in range(_MAX_ROUNDS):
        if not _may_hold_fragments(text):
            break
        joined = 0
        if " #" in text or " apos;" in text:
            text, joined = _SPACED_CONTRACTION_RE.subn(_apostrophe, text)
            possessives = [
                (m, _apostrophe(m))
                for m in _SPACED_POSSESSIVE_RE.finditer(text)
                if _is_possessive(m)
            ]
            if possessives:
                text = _splice(text, possessives)
                joined += len(possessives)
        candidates = [
            (m, char) for m in _FRAGMENT_RE.finditer(text) if (char := _fragment_char(m["name"]))
        ]
        # An ambiguous fragment is repaired only when the same text has a certain one: feeds that
        # lost their "&"s lost all of them.
        evidence = joined > 0 or any(not _is_ambiguous_fragment(m) for m, _ in candidates)
        repairs = [(m, c) for m, c in candidates if evidence or not _is_ambiguous_fragment(m)]
        if repairs:
            text = _splice(text, repairs)
        total += joined + len(repairs)
        if not joined and not repairs:
            break
    return text, total


def _splice(text: str, repairs: list[tuple[re.Match[str], str]]) -> str:
    """`text` with each match replaced by its character (and the space before it, where
    `_replacement_start` says so)."""
    pieces, done = [], 0
    for match, char in repairs:
        pieces += [text[done : _replacement_start(match, char)], char]
        done = match.end()
    pieces.append(text[done:])
    return "".join(pieces)


def repair_entity_fragments(text: str) -> str:
    """Entities whose "&" was lost: "it #39;s" -> "it's", "quot;Hi" -> '"Hi', "#36;5" -> "$5",
    "Bears #39; Urlacher" -> "Bears' Urlacher", "AT amp;T" -> "AT&T"."""
    return _repair_fragments(text)[0]


def _tag_replacement(match: re.Match[str]) -> str:
    name = match["name"].lower()
    if name == "br":
        return "\n"
    return _PARAGRAPH_BREAK if name in _BLOCK_TAGS else ""


def _strip_tags(text: str) -> tuple[str, int]:
    """`strip_escaped_tags` and the number of tags it removed."""
    total = 0
    for _ in range(_MAX_ROUNDS):
        if "<" not in text and "&lt;" not in text:
            break
        text, n = _TAG_RE.subn(_tag_replacement, text)
        total += n
        if not n:
            break
    return text, total


def strip_escaped_tags(text: str) -> str:
    """Markup left in text: block tags (p, div, li, h1-h6, ...) and br break lines, inline go."""
    return _strip_tags(text)[0]


def _line_break_run(match: re.Match[str]) -> str:
    if match["path"] is not None:
        return match.group()
    return "\n" if _marker_count(match["marks"]) == 1 else _PARAGRAPH_BREAK


def _marker_count(run: str) -> int:
    return run.count("\\n") + run.count("\\r") - run.count("\\r\\n")


def _backslash_breaks(text: str) -> tuple[str, int]:
    """`backslash_line_breaks` and the number of markers it replaced."""
    if "\\" not in text:
        return text, 0
    runs = [m["marks"] for m in _BACKSLASH_RE.finditer(text) if m["marks"] is not None]
    markers = sum(_marker_count(run) for run in runs)
    if markers < _MIN_BACKSLASH_MARKERS:
        return text, 0
    return _BACKSLASH_RE.sub(_line_break_run, text), markers


def backslash_line_breaks(text: str) -> str:
    """Literal "\\n", "\\r\\n", "\\r" markers become line breaks; two or more a paragraph break."""
    return _backslash_breaks(text)[0]


def _word_breaks(text: str) -> tuple[str, int]:
    """`backslash_word_breaks` and the number of breaks it replaced."""
    if "\\" not in text:
        return text, 0
    text, inside = _WORD_BREAK_RE.subn(r"\g<before> \g<after>", text)
    text, leading = _LEADING_BREAK_RE.subn("", text)
    return text, inside + leading


def backslash_word_breaks(text: str) -> str:
    """A bare backslash standing for a line break between two words: "and\\bring" -> "and bring"."""
    return _word_breaks(text)[0]


def unescape_dollar_signs(text: str) -> str:
    """Escaped dollar signs before a figure: "\\$11.60" -> "$11.60"."""
    if "\\$" not in text:
        return text
    return _ESCAPED_DOLLAR_RE.sub("", text)


def count_entities(text: str) -> int:
    """Well-formed entities in `text` that unescape_html would replace."""
    return sum(1 for m in _ENTITY_RE.finditer(text) if html.unescape(m.group()) != m.group())


def count_fragments(text: str) -> int:
    return _repair_fragments(text)[1]


def count_tags(text: str) -> int:
    return _strip_tags(text)[1]


def count_markers(text: str) -> int:
    return _backslash_breaks(text)[1]


def count_word_breaks(text: str) -> int:
    return _word_breaks(text)[1]


def count_escaped_dollars(text: str) -> int:
    return len(_ESCAPED_DOLLAR_RE.findall(text))
