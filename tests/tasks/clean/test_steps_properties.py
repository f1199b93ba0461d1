"""Properties of cleaning over arbitrary text and text full of what cleaning repairs."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from docmill.tasks.clean.steps import CLEAN_STEPS, clean_document, clean_text
from docmill.tasks.records import Document

# Pieces of the damage cleaning repairs, and of text that resembles it but must stay.
_noise = st.sampled_from(
    [
        # whitespace and line ends
        "\r\n",
        "\r",
        "\n",
        "\n\n",
        "\t",
        " ",
        "\u00a0",
        "\u2028",
        "\x1c",
        # control and invisible characters
        "\u200b",
        "\x00",
        "\x85",
        "\x9d",
        "\ufeff",
        "\ud800",
        "e\u0301",
        # mojibake
        "Ã©",
        "Ã ",
        "â€œ",
        "â€™",
        "Â£",
        # entities, double escaped, and fragments that lost their "&"
        "&amp;",
        "&amp;amp;",
        "&#39;",
        "&lt;",
        "&gt;",
        "&",
        "#39;",
        " #39;s",
        "#36;",
        "#35;",
        "#145;",
        "s #39; ",
        " quot; ",
        " amp;T",
        "P amp; G",
        "quot;",
        "amp;",
        "lt;",
        "gt;",
        "#",
        ";",
        # markup, raw and escaped, and things that only look like it
        "<p>",
        "</p>",
        "<br/>",
        "<b>",
        "<",
        ">",
        "&lt;p&gt;",
        "&lt;br /&gt;",
        '<a href="x">',
        # backslash line-break markers and paths
        "\\n",
        "\\n\\n",
        "\\r\\n",
        "\\r",
        "\\",
        "C:\\",
        # bare backslash breaks between words and escaped dollars
        "and\\bring",
        "\\\\This",
        "\\$",
        "\\$5",
        "a\\",
    ]
)
_texts = st.lists(st.one_of(st.text(max_size=12), _noise), max_size=30).map("".join)


def make_doc(text: str, title: str | None = None) -> Document:
    return Document(doc_id="d1", source_id="s1", source_uri="file:///s1", text=text, title=title)


def assert_valid_spans(doc: Document) -> None:
    previous_end = 0
    for start, end in doc.paragraphs:
        assert previous_end <= start < end <= len(doc.text)
        para = doc.text[start:end]
        assert para == para.strip()
        assert "\n\n" not in para
        previous_end = end


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(), _texts), title=st.one_of(st.none(), _texts))
def test_clean_document_is_stable_with_valid_spans(text: str, title: str | None) -> None:
    doc = clean_document(make_doc(text, title))
    assert_valid_spans(doc)
    assert clean_document(doc) == doc
    if doc.title_paragraph:
        assert doc.text[slice(*doc.paragraphs[0])] == doc.title


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(), _texts))
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once


@settings(max_examples=500, deadline=None)
@given(name=st.sampled_from(sorted(CLEAN_STEPS)), text=st.one_of(st.text(), _texts))
def test_each_step_is_idempotent(name: str, text: str) -> None:
    step = CLEAN_STEPS[name]
    once = step(text)
    assert step(once) == once


@settings(max_examples=200, deadline=None)
@given(text=_texts, title=st.one_of(st.none(), _texts))
def test_audit_matches_ops_and_shows_the_change(text: str, title: str | None) -> None:
    doc = clean_document(make_doc(text, title))
    assert [edit.op for edit in doc.clean_audit] == doc.clean_ops
    for edit in doc.clean_audit:
        assert edit.chars_before >= 0 and edit.chars_after >= 0
        for sample in (edit.before_sample, edit.after_sample):
            # at most 80 characters; a lone surrogate is shown as its 6-character escape
            assert len(sample) - 5 * sample.count("\\u") <= 80
        assert edit.before_sample != edit.after_sample
        edit.before_sample.encode("utf-8") + edit.after_sample.encode("utf-8")


# Feed damage in the forms cleaning must always undo, between plain words.
_plurals = st.sampled_from(["Bears", "companies", "investors", "Jones"])
_words = st.sampled_from(["oil", "Friday", "shares", "expected", "bring", "the", "said", "U.S."])
_figures = st.sampled_from(["11.60", "7.35B", "46", "1,900"])
_feed_damage = st.one_of(
    _words,
    st.tuples(_plurals, st.sampled_from(["#39;", "#146;", "#145;"]), _words).map(" ".join),
    _words.map(lambda w: f"{w} #39;s"),
    st.tuples(_words, _words).map(lambda ws: f"quot;{ws[0]} {ws[1]} quot;"),
    _figures.map(lambda f: f"#36;{f}"),
    _figures.map(lambda f: f"\\${f}"),
    st.tuples(_words, _words).map("\\".join),
    st.just("AT amp;T"),
)
_FEED_ARTIFACT_RE = re.compile(r"#[0-9]+;|&[A-Za-z]+;|(?<!\w)(?:quot|amp);|\\")


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(_feed_damage, min_size=1, max_size=12), opening=st.booleans())
def test_feed_damage_never_survives_cleaning(pieces: list[str], opening: bool) -> None:
    text = ("\\\\This " if opening else "") + " ".join(pieces)
    assert _FEED_ARTIFACT_RE.search(clean_text(text)) is None
