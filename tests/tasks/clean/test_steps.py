import hashlib
import re

import pytest

from docmill.tasks.clean.steps import (
    CLEAN_STEPS,
    DEFAULT_STEPS,
    backslash_line_breaks,
    backslash_word_breaks,
    change_samples,
    clean_document,
    clean_text,
    fix_mojibake,
    normalize_unicode,
    normalize_whitespace,
    paragraph_breaks,
    remove_control_chars,
    repair_entity_fragments,
    split_paragraphs,
    strip_escaped_tags,
    unescape_dollar_signs,
    unescape_html,
)
from docmill.tasks.records import CleanEdit, Document


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
        ("cafÃ©\nplain line\ncafÃ©", "café\nplain line\ncafé"),
        ("voilÃ le travail", "voilà le travail"),
        # restore_byte_a0 is off: a space is not taken for a lost NBSP byte.
        ("Ã ", "Ã "),
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
        ("a\nb\n\n", ["a", "b"]),
        ("\n\na\nb", ["a", "b"]),
    ],
)
def test_split_paragraphs(text: str, expected: list[str]) -> None:
    assert split_paragraphs(text) == expected


def test_paragraph_breaks_turns_lines_into_paragraphs() -> None:
    assert paragraph_breaks("one\ntwo") == "one\n\ntwo"


def test_paragraph_breaks_is_idempotent_with_a_trailing_blank_line() -> None:
    once = paragraph_breaks("0\n0\n\n")
    assert once == "0\n\n0"
    assert paragraph_breaks(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # feeds that turned "&" into a space: contractions join their word again
        ("Wall Street #39;s shares", "Wall Street's shares"),
        ("don #39;t", "don't"),
        ("Reuters #8217;s view", "Reuters’s view"),
        ("quot;Hi,quot; he said", '"Hi," he said'),
        ("up #36;5bn to #163;2m", "up $5bn to £2m"),
        ("x lt; y gt; z", "x < y > z"),
        # hexadecimal; the closing one is glued to its word and stays
        ("#x27;quoted#x27;", "'quoted#x27;"),
        # the space a feed put for the "&" of a name
        ("AT amp;T", "AT&T"),
        ("R amp;D and Q amp; A", "R&D and Q & A"),
        ("Procter amp; Gamble", "Procter & Gamble"),
        # double escaping that lost its first "&"
        ("amp;quot;x", '"x'),
        ("amp;amp; x", "& x"),
        # a standalone "#36;" or "amp;" is repaired when the text has a certain fragment
        ("issue #36; shares up #36;5bn", "issue $ shares up $5bn"),
        # after a space, standalone: a possessive apostrophe joins its plural, a closing quote
        # the word it closes, whether the feed wrote "'", "’" or "‘"
        ("Bears #39; Urlacher to miss 4-6 weeks", "Bears' Urlacher to miss 4-6 weeks"),
        ("allow other companies #39; products", "allow other companies' products"),
        ("the Yankees #146; loss", "the Yankees’ loss"),
        ("Bears #145; Urlacher", "Bears‘ Urlacher"),
        ("Bush #145;s plan", "Bush‘s plan"),
        ("quot;The Incredibles quot; is", '"The Incredibles" is'),
        ("he said quot;Hi, quot; and left", 'he said "Hi," and left'),
        ("the #145;Big Three #146; carmakers", "the ‘Big Three’ carmakers"),
        ("it was #39;crazy #39; and", "it was 'crazy' and"),
        # an opening sign keeps its spaces
        ("fell by  #36;1.17 billion", "fell by  $1.17 billion"),
        ("Bears #39; deal: #36; 5m", "Bears' deal: $ 5m"),
        # left alone: glued to a word, no semicolon, standalone, real entities, not printable
        ("it#39;s", "it#39;s"),
        ("C#39;", "C#39;"),
        ("#39 hashtag", "#39 hashtag"),
        ("see issue #36; it is fixed", "see issue #36; it is fixed"),
        ("merged as PR #39; CI is green", "merged as PR #39; CI is green"),
        ("Fixes #39; and #40;", "Fixes #39; and #40;"),
        ("closed issues #39; and #41;", "closed issues #39; and #41;"),
        ("plug the guitar amp; then play", "plug the guitar amp; then play"),
        ("body { color: #333; }", "body { color: #333; }"),
        ("AT&T; R&D; Q&A", "AT&T; R&D; Q&A"),
        ("http://x.com/?a=1&b=2;c=3", "http://x.com/?a=1&b=2;c=3"),
        ("aliquot; camp; lamp;", "aliquot; camp; lamp;"),
        ("&#39; &quot; &amp;", "&#39; &quot; &amp;"),
        ("#0; and #10;x", "#0; and #10;x"),
        ("no fragments", "no fragments"),
    ],
)
def test_repair_entity_fragments(text: str, expected: str) -> None:
    assert repair_entity_fragments(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("&lt;p&gt;Hello&lt;/p&gt;", "\n\nHello\n\n"),
        ("<p>a</p><p>b</p>", "\n\na\n\n\n\nb\n\n"),
        ("line<br/>next<br />x<BR>y&lt;br /&gt;z", "line\nnext\nx\ny\nz"),
        ("<b>bold</b> and <em>it</em>", "bold and it"),
        ('<a href="http://x.com/?a=1&b=2">link</a>', "link"),
        ("&lt;a href=&quot;http://x&quot;&gt;link&lt;/a&gt;", "link"),
        ("<h2 class='t'>T</h2>body", "\n\nT\n\nbody"),
        ("<div><span style=x>s</span></div>", "\n\ns\n\n"),
        ("<font color='red'>x</font>", "x"),
        # removing a tag that splits another one removes both
        ("<<b>p>x", "\n\nx"),
        ("<<<b>b>b>x", "x"),
        # text, not tags
        ("a < b > c", "a < b > c"),
        ("x<y", "x<y"),
        ("x &lt; y &gt; z", "x &lt; y &gt; z"),
        ("<bold>", "<bold>"),
        ("<b && c>d", "<b && c>d"),
        ("<pre>x</pre>", "<pre>x</pre>"),
        ("I <3 you", "I <3 you"),
        ("<p unclosed", "<p unclosed"),
    ],
)
def test_strip_escaped_tags(text: str, expected: str) -> None:
    assert strip_escaped_tags(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Para one.\\n\\nPara two.\\nLine", "Para one.\n\nPara two.\nLine"),
        ("One.\\r\\nTwo.\\r\\n\\r\\nThree", "One.\nTwo.\n\nThree"),
        ("One.\\rTwo.\\rThree", "One.\nTwo.\nThree"),
        ("a \\n B \\n C", "a \n B \n C"),
        # an escaped backslash stays; the other markers still count
        ("x\\\\nA\\nB\\nC", "x\\\\nA\nB\nC"),
        # left alone: paths, a single marker, lowercase continuation, escaped backslashes
        ("C:\\new\\notes", "C:\\new\\notes"),
        ("In C:\\temp\\r2 now.\\nNext.\\nEnd", "In C:\\temp\\r2 now.\nNext.\nEnd"),
        ("At \\\\srv\\share\\nY now.\\nA\\nB", "At \\\\srv\\share\\nY now.\nA\nB"),
        ("the \\n character", "the \\n character"),
        ("one\\ntwo\\nthree", "one\\ntwo\\nthree"),
        ("\\\\n and \\\\nB", "\\\\n and \\\\nB"),
    ],
)
def test_backslash_line_breaks(text: str, expected: str) -> None:
    assert backslash_line_breaks(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("continue, and\\bring with it", "continue, and bring with it"),
        ("Yushchenko\\predicted on Friday", "Yushchenko predicted on Friday"),
        ("are expected\\to fall", "are expected to fall"),
        ("\\\\This little OQO machine", "This little OQO machine"),
        ("First line.\n\\Second line", "First line.\nSecond line"),
        ("Carlyle Group,\\which has", "Carlyle Group, which has"),
        ("oil at $46\\a barrel", "oil at $46 a barrel"),
        ("(Reuters)\\The firm", "(Reuters) The firm"),
        ("the\\U.S. economy", "the U.S. economy"),
        ("U.S.\\officials said", "U.S. officials said"),
        # a written-out escape letter that begins a word is the word's
        ("the\\nation", "the nation"),
        ("hoping to\\reach", "hoping to reach"),
        ("a\\lot", "a\\lot"),
        # left alone: paths, code, regexes, TeX, escapes, two backslashes in a token
        ("C:\\Users\\bob\\notes.txt", "C:\\Users\\bob\\notes.txt"),
        ("C:\\Temp", "C:\\Temp"),
        ("\\\\server\\share", "\\\\server\\share"),
        ("see docs\\readme.txt", "see docs\\readme.txt"),
        ("matches \\d+ digits", "matches \\d+ digits"),
        ("use \\bword\\b here", "use \\bword\\b here"),
        ("[a-z]\\w+", "[a-z]\\w+"),
        ('print("a\\tb")', 'print("a\\tb")'),
        ("split on name\\tvalue", "split on name\\tvalue"),
        ("one\\ntwo", "one\\ntwo"),
        ("Para one.\\nPara two.", "Para one.\\nPara two."),
        ("the \\n character", "the \\n character"),
        ("\\section{Intro}", "\\section{Intro}"),
        ("\\alpha is small", "\\alpha is small"),
        ("a word\\ then", "a word\\ then"),
        ("from 10\\20", "from 10\\20"),
        ("don\\'t", "don\\'t"),
    ],
)
def test_backslash_word_breaks(text: str, expected: str) -> None:
    assert backslash_word_breaks(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a record \\$11.60 a month", "a record $11.60 a month"),
        ("a \\$7.35B Boeing order", "a $7.35B Boeing order"),
        ("(\\$5) and US\\$.50", "($5) and US$.50"),
        # left alone: an escaped backslash, a "$" that is no amount (regexes, shell)
        ("\\\\$5", "\\\\$5"),
        ("^\\$\\d+", "^\\$\\d+"),
        ("echo \\$HOME", "echo \\$HOME"),
        ("costs \\$ more", "costs \\$ more"),
    ],
)
def test_unescape_dollar_signs(text: str, expected: str) -> None:
    assert unescape_dollar_signs(text) == expected


# Short stories in the style of a news feed that lost its "&"s, escaped its dollars and wrote
# its line breaks as backslashes: title and description, as a JSONL record would carry them.
FEED_STORIES = [
    (
        "Bears #39; Urlacher to miss 4-6 weeks",
        "Chicago Bears #39; linebacker will miss\\four to six weeks, the team said.",
        "Bears' Urlacher to miss 4-6 weeks\n\n"
        "Chicago Bears' linebacker will miss four to six weeks, the team said.",
    ),
    (
        "Rival files suit",
        "The suit would allow other companies #39; products on the\\network, quot;at no "
        "cost quot;, a lawyer said.",
        "Rival files suit\n\n"
        'The suit would allow other companies\' products on the network, "at no cost", '
        "a lawyer said.",
    ),
    (
        "Airline orders jets",
        "The carrier placed a \\$7.35B Boeing order,\\its largest, with a record \\$11.60 a "
        "share payout.",
        "Airline orders jets\n\nThe carrier placed a $7.35B Boeing order, its largest, with a "
        "record $11.60 a share payout.",
    ),
    (
        "OQO shows handheld PC",
        "\\\\This little OQO machine runs Windows XP and costs  #36;1,900, Procter amp; "
        "Gamble #145;s chief said.",
        "OQO shows handheld PC\n\n"
        "This little OQO machine runs Windows XP and costs $1,900, Procter & Gamble‘s chief "
        "said.",
    ),
    (
        "Acme shares rise",
        'Shares of Acme Corp. ( lt;A HREF="http://www.example.com/q?t=ACME.N"gt;ACME.N lt;/A '
        "gt;) rose  #36;1.20\\after the firm #39;s report.",
        "Acme shares rise\n\nShares of Acme Corp. ( ACME.N ) rose $1.20 after the firm's report.",
    ),
]

_ARTIFACT_RE = re.compile(r"#[0-9]+;|#[xX][0-9a-fA-F]+;|&[A-Za-z]+;|(?<!\w)(?:quot|amp);|\\")


@pytest.mark.parametrize(("title", "text", "expected"), FEED_STORIES)
def test_feed_stories_come_out_clean(title: str, text: str, expected: str) -> None:
    doc = clean_document(make_doc(text, title=title))
    assert doc.text == expected
    assert _ARTIFACT_RE.search(doc.text) is None


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


def test_audit_has_one_entry_per_changing_step_in_step_order() -> None:
    text = "Caf&eacute; quot;deals quot; up #36;5bn\\nLine <b>two</b>.\\nLine three\u200b cafÃ©"
    doc = clean_document(make_doc(text, title="Title"))
    assert doc.text == 'Title\n\nCafé "deals" up $5bn\n\nLine two.\n\nLine three café'
    assert doc.clean_ops == [
        "unescape_html",
        "repair_entity_fragments",
        "strip_escaped_tags",
        "backslash_line_breaks",
        "fix_mojibake",
        "remove_control_chars",
        "paragraph_breaks",
    ]
    assert [edit.op for edit in doc.clean_audit] == doc.clean_ops
    # In one pass each step starts from the text the step before it left.
    sizes = [(edit.chars_before, edit.chars_after) for edit in doc.clean_audit]
    assert sizes == [(81, 74), (74, 62), (62, 55), (55, 53), (53, 52), (52, 51), (51, 53)]


def test_audit_entry_sizes_samples_and_detail() -> None:
    doc = clean_document(make_doc("Prices rose &amp; fell"))
    assert doc.clean_audit == [
        CleanEdit(
            op="unescape_html",
            chars_before=22,
            chars_after=18,
            before_sample="Prices rose &amp; fell",
            after_sample="Prices rose & fell",
            detail="1 entity",
        )
    ]


def test_audit_samples_a_short_window_around_the_change() -> None:
    text = "word " * 100 + "Smith &amp; Sons " + "word " * 100
    edit = clean_document(make_doc(text)).clean_audit[0]
    assert edit.op == "unescape_html"
    assert len(edit.before_sample) <= 80 and len(edit.after_sample) <= 80
    assert "Smith &amp; Sons" in edit.before_sample
    assert "Smith & Sons" in edit.after_sample


def test_audit_samples_the_title_when_it_changed() -> None:
    doc = clean_document(make_doc("Body.", title="caf&eacute;"))
    edit = doc.clean_audit[0]
    assert (edit.op, edit.before_sample, edit.after_sample) == (
        "unescape_html",
        "caf&eacute;",
        "café",
    )
    assert (edit.chars_before, edit.chars_after) == (16, 9)


@pytest.mark.parametrize(
    ("text", "op", "detail"),
    [
        ("cafÃ©", "fix_mojibake", "encode latin-1, decode utf-8"),
        ("cafÃ©\ncafÃ©", "fix_mojibake", "encode latin-1, decode utf-8 (2 lines)"),
        ("â€œquotedâ€\x9d", "fix_mojibake", "encode sloppy-windows-1252, decode utf-8"),
        ("a &amp; b &lt; c &unknown;", "unescape_html", "2 entities"),
        ("quot;Hi,quot; he said #36;5", "repair_entity_fragments", "3 fragments"),
        ("<p>a</p><br>", "strip_escaped_tags", "3 tags"),
        ("A.\\nB.\\n\\nC", "backslash_line_breaks", "3 markers"),
        ("Bears #39; Urlacher, Bears #39;s coach", "repair_entity_fragments", "2 fragments"),
        ("a \\$5 and a \\$6 bill", "unescape_dollar_signs", "2 dollar signs"),
        ("and\\bring it\\home", "backslash_word_breaks", "2 breaks"),
        ("a\u200bb\u00adc\u200b", "remove_control_chars", "3 characters: U+200B, U+00AD"),
        ("cafe\u0301", "normalize_unicode", None),
    ],
)
def test_audit_detail(text: str, op: str, detail: str | None) -> None:
    edits = {edit.op: edit for edit in clean_document(make_doc(text)).clean_audit}
    assert edits[op].detail == detail


def test_step_that_changes_again_in_a_later_pass_is_audited_once() -> None:
    # Pass 1 unescapes "&amp;" and removes the NUL, which makes "&amp;" again for pass 2.
    doc = clean_document(
        make_doc("&amp; &am\x00p;"), steps=["unescape_html", "remove_control_chars"]
    )
    assert doc.text == "& &"
    assert doc.clean_ops == ["unescape_html", "remove_control_chars"]
    assert doc.clean_audit[0] == CleanEdit(
        "unescape_html", 12, 8, "&amp; &am\x00p;", "& &am\x00p;", "1 entity"
    )
    assert [edit.op for edit in doc.clean_audit] == doc.clean_ops


def test_audit_keeps_step_order_when_a_step_first_changes_in_pass_two() -> None:
    doc = clean_document(make_doc("&am\x00p;"), steps=["unescape_html", "remove_control_chars"])
    assert [edit.op for edit in doc.clean_audit] == ["unescape_html", "remove_control_chars"]
    assert (doc.clean_audit[0].chars_before, doc.clean_audit[0].chars_after) == (5, 1)


def test_recleaning_keeps_the_first_audit() -> None:
    once = clean_document(make_doc("a &amp; b\nc", title="T&amp;C"))
    twice = clean_document(once)
    assert twice.clean_audit == once.clean_audit
    assert twice.clean_ops == once.clean_ops == ["unescape_html", "paragraph_breaks"]


def test_recleaning_with_more_steps_appends_their_entries() -> None:
    first = clean_document(make_doc("a  &amp; b"), steps=["normalize_whitespace"])
    second = clean_document(first)
    assert second.clean_ops == ["normalize_whitespace", "unescape_html"]
    assert [edit.op for edit in second.clean_audit] == second.clean_ops
    assert second.clean_audit[0] == first.clean_audit[0]


def test_audit_samples_are_valid_utf8() -> None:
    doc = clean_document(make_doc("a\ud800 &amp; b"))
    assert [(e.op, e.before_sample, e.after_sample) for e in doc.clean_audit] == [
        ("unescape_html", "a\\ud800 &amp; b", "a\\ud800 & b"),
        ("fix_mojibake", "a\\ud800 & b", "a\ufffd & b"),
    ]


def test_no_audit_for_clean_text() -> None:
    assert clean_document(make_doc("Clean text.", title="Title")).clean_audit == []


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("abc", "abd", ("abc", "abd")),
        ("ab", "aXb", ("ab", "aXb")),
        (
            "x" * 100 + "A" + "y" * 100,
            "x" * 100 + "B" + "y" * 100,
            ("x" * 20 + "A" + "y" * 20, "x" * 20 + "B" + "y" * 20),
        ),
        ("x" * 100 + "A" * 200, "x" * 100, ("x" * 20 + "A" * 60, "x" * 20)),
    ],
)
def test_change_samples(before: str, after: str, expected: tuple[str, str]) -> None:
    assert change_samples(before, after) == expected
