import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docmill.tasks.clean import (
    CLEAN_STEPS,
    DEFAULT_STEPS,
    clean_document,
    clean_text,
    fix_mojibake,
    normalize_unicode,
    normalize_whitespace,
    paragraph_breaks,
    remove_control_chars,
    split_paragraphs,
    unescape_html,
)
from docmill.tasks.records import Document


def make_doc(text: str, title: str | None = None) -> Document:
    return Document(doc_id="d1", source_id="s1", source_uri="file:///s1", text=text, title=title)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cafÃ©", "café"),
        ("The Lyon-based cafÃ© chain", "The Lyon-based café chain"),
        ("â€œquotedâ€\x9d", "“quoted”"),
        ("already fine: café “quoted”", "already fine: café “quoted”"),
        ("&amp; stays for unescape_html", "&amp; stays for unescape_html"),
        ("ﬁne ligature, ＡＢＣ width", "ﬁne ligature, ＡＢＣ width"),
        ("line\r\nbreaks\x00kept", "line\r\nbreaks\x00kept"),
    ],
)
def test_fix_mojibake_repairs_encoding_only(text: str, expected: str) -> None:
    assert fix_mojibake(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Maison Roche &amp; Fils", "Maison Roche & Fils"),
        ("caf&eacute; &#233; &#xE9;", "café é é"),
        ("double &amp;amp; escaped", "double & escaped"),
        ("AT&T and R&D; &copy2020", "AT&T and R&D; &copy2020"),
        ("&unknown; entity", "&unknown; entity"),
        ("no entities", "no entities"),
    ],
)
def test_unescape_html(text: str, expected: str) -> None:
    assert unescape_html(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\x00b\x07c\x1bd\x7fe\x85f\x9fg", "abcdefg"),
        ("keep\ttab\nnewline\rcr", "keep\ttab\nnewline\rcr"),
        ("zero\u200bwidth\u200cjoin\u200dx\u2060y", "zerowidthjoinxy"),
        ("\ufeffbom and soft\u00adhyphen", "bom and softhyphen"),
        ("bidi\u200e marks\u200f \u202aembed\u202c", "bidi marks embed"),
        ("lone \ud800 surrogate", "lone  surrogate"),
    ],
)
def test_remove_control_chars(text: str, expected: str) -> None:
    assert remove_control_chars(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("cafe\u0301", "café"), ("Å", "Å"), ("ﬁ", "ﬁ")],
)
def test_normalize_unicode_is_nfc(text: str, expected: str) -> None:
    assert normalize_unicode(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\r\nb\rc", "a\nb\nc"),
        ("a\tb\u00a0c\u2003d\u3000e", "a b c d e"),
        ("many     spaces", "many spaces"),
        ("  stripped line  \n  next  ", "stripped line\nnext"),
        ("a\n\n\n\nb", "a\n\nb"),
        ("a\n  \n \t \nb", "a\n\nb"),
        ("\n\n  whole text  \n\n", "whole text"),
        ("a\u2028b\u2029c\x0cd", "a\nb\nc\nd"),
    ],
)
def test_normalize_whitespace(text: str, expected: str) -> None:
    assert normalize_whitespace(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("one\ntwo\nthree", ["one", "two", "three"]),
        ("block one\nline two\n\nblock two", ["block one\nline two", "block two"]),
        ("single paragraph", ["single paragraph"]),
        ("", []),
    ],
)
def test_split_paragraphs(text: str, expected: list[str]) -> None:
    assert split_paragraphs(text) == expected


def test_paragraph_breaks_turns_lines_into_paragraphs() -> None:
    assert paragraph_breaks("one\ntwo") == "one\n\ntwo"


def test_clean_document_puts_the_title_first() -> None:
    doc = clean_document(make_doc("First para.\nSecond para.", title="  A  title "))
    assert doc.text == "A title\n\nFirst para.\n\nSecond para."
    assert doc.title == "A title"
    assert doc.title_paragraph is True
    assert [doc.text[s:e] for s, e in doc.paragraphs] == ["A title", "First para.", "Second para."]


def test_clean_document_without_title() -> None:
    doc = clean_document(make_doc("Body only."))
    assert (doc.text, doc.title, doc.title_paragraph) == ("Body only.", None, False)
    assert doc.paragraphs == [(0, 10)]


def test_clean_document_title_with_newlines_stays_one_paragraph() -> None:
    doc = clean_document(make_doc("Body.", title="Two\n\nlines"))
    assert doc.title == "Two lines"
    assert len(doc.paragraphs) == 2


def test_clean_document_lists_changing_steps_once_in_order() -> None:
    doc = clean_document(make_doc("cafÃ© &amp; bar\ncafÃ© again", title="caf&eacute;"))
    assert doc.clean_ops == ["unescape_html", "fix_mojibake", "paragraph_breaks"]


def test_clean_document_records_nothing_for_clean_text() -> None:
    assert clean_document(make_doc("Clean text.", title="Title")).clean_ops == []


def test_clean_document_content_hash_ignores_case_and_spacing() -> None:
    a = clean_document(make_doc("Hello   World.\n\nAgain."))
    b = clean_document(make_doc("hello world.\nagain."))
    assert a.content_hash == b.content_hash
    expected = hashlib.sha256(b"hello world. again.").hexdigest()[:16]
    assert a.content_hash == expected


def test_clean_document_can_empty_a_document() -> None:
    doc = clean_document(make_doc("\u200b\x00 \n"))
    assert (doc.text, doc.paragraphs) == ("", [])


def test_clean_document_custom_steps() -> None:
    doc = clean_document(make_doc("a &amp;  b"), steps=["normalize_whitespace"])
    assert (doc.text, doc.clean_ops) == ("a &amp; b", ["normalize_whitespace"])


def test_unknown_step_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"no_such_step.*valid steps: fix_mojibake"):
        clean_text("x", steps=["no_such_step"])


def test_default_steps_are_registered() -> None:
    assert set(DEFAULT_STEPS) == set(CLEAN_STEPS)


def test_seed_style_one_paragraph_per_line() -> None:
    text = "\nFirst paragraph here.\nSecond paragraph here.\nThird one.\n"
    doc = clean_document(make_doc(text))
    assert len(doc.paragraphs) == 3
    assert "paragraph_breaks" in doc.clean_ops


# Text with the characters cleaning cares about mixed in, as well as arbitrary Unicode.
_noise = st.sampled_from(
    [
        "\r\n",
        "\r",
        "\n",
        "\n\n",
        "\t",
        " ",
        "\u00a0",
        "\u200b",
        "\x00",
        "\x85",
        "\ufeff",
        "&amp;",
        "Ã©",
        "e\u0301",
        "\u2028",
        "\x1c",
        "\ud800",
        "#",
        "<p>",
    ]
)
_texts = st.lists(st.one_of(st.text(max_size=20), _noise), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_texts, title=st.one_of(st.none(), _texts))
def test_clean_document_properties(text: str, title: str | None) -> None:
    doc = clean_document(make_doc(text, title))
    for start, end in doc.paragraphs:
        para = doc.text[start:end]
        assert para and para == para.strip()
        assert "\n\n" not in para
    assert clean_document(doc) == doc
    if doc.title_paragraph:
        assert doc.text[slice(*doc.paragraphs[0])] == doc.title


@settings(max_examples=200, deadline=None)
@given(text=_texts)
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once
