"""Entity repairs and canonical names: table-driven over hand-built Docs (no model), plus the
seed-article acceptance checks with the real model."""

from __future__ import annotations

import pytest
from conftest import SEED_ARTICLE
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from docmill.tasks.nlp.entities import (
    EntSpan,
    canonical_name,
    canonicalize,
    cut_at_open_bracket,
    extend_given_name,
    repair_entities,
    resolve_overlaps,
    strip_edges,
    trim_to_unit,
)
from docmill.tasks.records import Document


def _doc(text: str, ents: list[tuple[int, int, str]], sent_starts: list[int] = ()) -> Doc:
    """A Doc of whitespace-separated words; `~` glues a word to the next (no space after);
    sentence starts at the given token positions (plus 0)."""
    words, spaces = [], []
    for piece in text.split(" "):
        parts = piece.split("~")
        words.extend(parts)
        spaces.extend([False] * (len(parts) - 1) + [True])
    spaces[-1] = False
    doc = Doc(Vocab(), words=words, spaces=spaces)
    for i, token in enumerate(doc):
        token.is_sent_start = i == 0 or i in sent_starts
    doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
    return doc


def _inputs(doc: Doc):
    spans = [EntSpan(ent.start, ent.end, ent.label_) for ent in doc.ents]
    words = [t.text for t in doc]
    spaces = [bool(t.whitespace_) for t in doc]
    sents, n = [], -1
    for t in doc:
        n += bool(t.is_sent_start)
        sents.append(n)
    return spans, words, spaces, sents


def _repaired(doc: Doc):
    fixed, repairs = repair_entities(*_inputs(doc))
    return [(doc[s.start : s.end].text, s.label) for s in fixed], dict(repairs)


@pytest.mark.parametrize(
    ("text", "ents", "expected", "repairs"),
    [
        # possessives, straight and curly, glued to the name
        (
            "North Korea~’s nuclear threats",
            [(0, 3, "GPE")],
            [("North Korea", "GPE")],
            {"possessive": 1},
        ),
        ("Moscow~'s invitation", [(0, 2, "GPE")], [("Moscow", "GPE")], {"possessive": 1}),
        ("the Koreas~' talks", [(1, 3, "GPE")], [("Koreas", "GPE")], {"possessive": 1}),
        # a possessive is not stripped from a value: DATE `the 1990~'s`
        ("in the 1990~'s", [(1, 4, "DATE")], [("the 1990's", "DATE")], {}),
        # surrounding punctuation and whitespace tokens, either edge
        ('said " Reuters " today', [(1, 4, "ORG")], [("Reuters", "ORG")], {"punctuation": 2}),
        ("( NATO ) said", [(0, 3, "ORG")], [("NATO", "ORG")], {"punctuation": 2}),
        ("met Paris ,", [(1, 3, "GPE")], [("Paris", "GPE")], {"punctuation": 1}),
        # symbols belonging to a value stay
        (
            "paid $~5 or 5~%",
            [(1, 3, "MONEY"), (4, 6, "PERCENT")],
            [("$5", "MONEY"), ("5%", "PERCENT")],
            {},
        ),
        # a leading "the" is not part of a name (but stays in a value, and alone)
        (
            "at the Federal Reserve",
            [(1, 4, "ORG")],
            [("Federal Reserve", "ORG")],
            {"leading_the": 1},
        ),
        (
            "The Bank of Canada said",
            [(0, 4, "ORG")],
            [("Bank of Canada", "ORG")],
            {"leading_the": 1},
        ),
        ("on the day", [(1, 3, "DATE")], [("the day", "DATE")], {}),
        ("saw the", [(1, 2, "ORG")], [("the", "ORG")], {}),
        # people, places and peoples never end in a number; other labels keep theirs
        ("Somerset 83 all out", [(0, 2, "GPE")], [("Somerset", "GPE")], {"trailing_number": 1}),
        ("H. Morris 4-43 ,", [(0, 3, "PERSON")], [("H. Morris", "PERSON")], {"trailing_number": 1}),
        ("watch Channel 4", [(1, 3, "ORG")], [("Channel 4", "ORG")], {}),
        ("Windows 95 shipped", [(0, 2, "PRODUCT")], [("Windows 95", "PRODUCT")], {}),
        # an entity of punctuation only is dropped
        ("he said -- then", [(2, 3, "ORG")], [], {"punctuation": 1, "dropped_empty": 1}),
    ],
)
def test_strip_possessives_and_punctuation(text, ents, expected, repairs):
    assert _repaired(_doc(text, ents)) == (expected, repairs)


@pytest.mark.parametrize(
    ("text", "ents", "expected", "repairs"),
    [
        (
            "Han Duck~-~soo spoke",
            [(0, 2, "PERSON")],
            [("Han Duck-soo", "PERSON")],
            {"hyphen_given_name": 1},
        ),
        (
            "President Yoon Suk~-~yeol~’s visit",
            [(1, 3, "PERSON")],
            [("Yoon Suk-yeol", "PERSON")],
            {"hyphen_given_name": 1},
        ),
        # the continuation tagged as something else gives way to the grown PERSON
        (
            "Han Duck~-~soo spoke",
            [(0, 2, "PERSON"), (3, 4, "ORG")],
            [("Han Duck-soo", "PERSON")],
            {"hyphen_given_name": 1, "dropped_overlap": 1},
        ),
        # not for other labels, one-token spans, spaced hyphens, capitalised or long tails
        ("Han Duck~-~soo spoke", [(0, 2, "ORG")], [("Han Duck", "ORG")], {}),
        ("Obama~-~era policy", [(0, 1, "PERSON")], [("Obama", "PERSON")], {}),
        ("Han Duck - soo spoke", [(0, 2, "PERSON")], [("Han Duck", "PERSON")], {}),
        ("Mary Smith~-~Jones came", [(0, 2, "PERSON")], [("Mary Smith", "PERSON")], {}),
        ("John Paul~-~style rules", [(0, 2, "PERSON")], [("John Paul", "PERSON")], {}),
        ("Jean Luc~-~haunted house", [(0, 2, "PERSON")], [("Jean Luc", "PERSON")], {}),
        # chains extend as far as the shape holds
        (
            "Kim Jong~-~il~-~sung came",
            [(0, 2, "PERSON")],
            [("Kim Jong-il-sung", "PERSON")],
            {"hyphen_given_name": 1},
        ),
    ],
)
def test_extend_hyphenated_given_name(text, ents, expected, repairs):
    assert _repaired(_doc(text, ents)) == (expected, repairs)


@pytest.mark.parametrize(
    ("text", "ents", "sent_starts", "expected", "repairs"),
    [
        # cut at a sentence start: the part where the entity starts is kept
        (
            "in Paris Texas was hot",
            [(1, 3, "GPE")],
            [2],
            [("Paris", "GPE")],
            {"cut_at_sentence": 1},
        ),
        # cut at a line break token (spaCy makes "\n" a token of its own)
        (
            "LONDON \n 1996-08-30",
            [(0, 3, "GPE")],
            [],
            [("LONDON", "GPE")],
            {"cut_at_line_break": 1},
        ),
        # an entity starting on a line break has nothing left
        ("x \n Reuters", [(1, 3, "ORG")], [], [], {"cut_at_line_break": 1, "dropped_empty": 1}),
        # an opening bracket the entity does not close ends it; a closed pair stays inside
        (
            "Scott Draper ( Australia ) beat",
            [(0, 4, "PERSON")],
            [],
            [("Scott Draper", "PERSON")],
            {"cut_at_bracket": 1},
        ),
        ("Lehman ( UK ) Ltd said", [(0, 5, "ORG")], [], [("Lehman ( UK ) Ltd", "ORG")], {}),
        # a hyphen continuation in the next sentence is not taken
        ("Han Duck~-~soo", [(0, 2, "PERSON")], [3], [("Han Duck", "PERSON")], {}),
    ],
)
def test_entities_stay_in_their_sentence_and_line(text, ents, sent_starts, expected, repairs):
    assert _repaired(_doc(text, ents, sent_starts)) == (expected, repairs)


def test_rules_one_by_one():
    words = ["Han", "Duck", "-", "soo", "’s", "\n", "x"]
    spaces = [True, False, False, False, False, False, False]
    sents = [0, 0, 0, 0, 0, 0, 1]
    assert trim_to_unit(EntSpan(0, 7, "PERSON"), words, sents) == (
        EntSpan(0, 5, "PERSON"),
        "cut_at_line_break",
    )
    assert strip_edges(EntSpan(0, 5, "PERSON"), words) == (EntSpan(0, 4, "PERSON"), ["possessive"])
    assert extend_given_name(EntSpan(0, 2, "PERSON"), words, spaces, sents) == EntSpan(
        0, 4, "PERSON"
    )
    assert cut_at_open_bracket(EntSpan(0, 4, "PERSON"), ["A", "B", "(", "C"]) == EntSpan(
        0, 2, "PERSON"
    )
    spans = [EntSpan(0, 4, "PERSON"), EntSpan(3, 4, "ORG")]
    assert resolve_overlaps(spans, {0}) == ([EntSpan(0, 4, "PERSON")], 1)


def test_unchanged_entities_report_no_repairs():
    doc = _doc("Angela Merkel met Emmanuel Macron", [(0, 2, "PERSON"), (3, 5, "PERSON")])
    assert _repaired(doc) == ([("Angela Merkel", "PERSON"), ("Emmanuel Macron", "PERSON")], {})


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("South Korea’s", "GPE", "South Korea"),
        ("the  United\nNations", "ORG", "United Nations"),
        ("“Reuters”", "ORG", "Reuters"),
        ("Xi's", "PERSON", "Xi"),
        ("the week", "DATE", "the week"),
        ("US", "GPE", "US"),
    ],
)
def test_canonical_name_normalises_one_mention(text, label, expected):
    assert canonical_name(text, label) == expected


@pytest.mark.parametrize(
    ("mentions", "expected", "links"),
    [
        # first-token and surname matches take the full name
        (
            [("Xi Jinping", "PERSON"), ("Xi", "PERSON"), ("Xi’s", "PERSON")],
            ["Xi Jinping"] * 3,
            {"canonical_person": 2},
        ),
        (
            [("Lavrov", "PERSON"), ("Sergey Lavrov", "PERSON")],
            ["Sergey Lavrov", "Sergey Lavrov"],
            {"canonical_person": 1},
        ),
        # nested full names resolve to the longest
        (
            [("Kim", "PERSON"), ("Kim Jong-un", "PERSON"), ("Kim Jong-un", "PERSON")],
            ["Kim Jong-un"] * 3,
            {"canonical_person": 1},
        ),
        # two full names that are not nested are treated as two people
        (
            [("Bush", "PERSON"), ("George Bush", "PERSON"), ("George W. Bush", "PERSON")],
            ["Bush", "George Bush", "George W. Bush"],
            {},
        ),
        # two different people share the word: the short form stays
        (
            [("Kim", "PERSON"), ("Kim Jong-un", "PERSON"), ("Kim Yo-jong", "PERSON")],
            ["Kim", "Kim Jong-un", "Kim Yo-jong"],
            {},
        ),
        # only within PERSON: a GPE "Jordan" is not "Michael Jordan"
        ([("Jordan", "GPE"), ("Michael Jordan", "PERSON")], ["Jordan", "Michael Jordan"], {}),
        # a middle word is not a match
        (
            [("Walker", "PERSON"), ("George Walker Bush", "PERSON")],
            ["Walker", "George Walker Bush"],
            {},
        ),
        # acronyms of exactly one longer ORG name
        (
            [("Korean Central News Agency", "ORG"), ("KCNA", "ORG")],
            ["Korean Central News Agency"] * 2,
            {"canonical_acronym": 1},
        ),
        (
            [("Bank of England", "ORG"), ("B.E.", "ORG")],
            ["Bank of England"] * 2,
            {"canonical_acronym": 1},
        ),
        ([("KCNA", "ORG")], ["KCNA"], {}),
        (
            [
                ("National Basketball Association", "ORG"),
                ("National Bar Association", "ORG"),
                ("NBA", "ORG"),
            ],
            ["National Basketball Association", "National Bar Association", "NBA"],
            {},
        ),
        # case differences within one label: the form that is not all upper-case
        (
            [("SOUTH KOREA", "GPE"), ("South Korea", "GPE")],
            ["South Korea"] * 2,
            {"canonical_case": 1},
        ),
        ([("US", "GPE"), ("us", "ORG")], ["US", "us"], {}),
        # leading "the", possessive and punctuation do not split a group
        ([("the Pentagon", "ORG"), ("Pentagon’s", "ORG")], ["Pentagon"] * 2, {}),
    ],
)
def test_canonicalize_links_mentions_within_a_document(mentions, expected, links):
    names, made = canonicalize(mentions)
    assert (names, dict(made)) == (expected, links)


# --- with the model -----------------------------------------------------------------------------


def _seed_document() -> Document:
    paragraphs = [line for line in SEED_ARTICLE.read_text().splitlines() if line.strip()]
    text = "\n\n".join(paragraphs)
    spans, pos = [], 0
    for p in paragraphs:
        spans.append((pos, pos + len(p)))
        pos += len(p) + 2
    return Document(doc_id="seed", source_id="seed", source_uri="mem:", text=text, paragraphs=spans)


@pytest.fixture(scope="module")
def seed_entities(nlp):
    from docmill.tasks.nlp.annotate import annotate_chunk

    with nlp.memory_zone():
        ann = annotate_chunk(nlp, [_seed_document()])
    return ann


@pytest.mark.model
def test_seed_article_korean_names_are_whole(seed_entities):
    persons = {r["text"] for r in seed_entities.entities.to_pylist() if r["label"] == "PERSON"}
    assert {"Han Duck-soo", "Yoon Suk-yeol"} <= persons
    assert not persons & {"Han Duck", "Yoon Suk"}
    assert seed_entities.repairs["hyphen_given_name"] >= 3


@pytest.mark.model
def test_seed_article_entities_never_end_in_a_possessive(seed_entities):
    texts = seed_entities.entities.column("text").to_pylist()
    assert not [t for t in texts if t.endswith(("’s", "'s", "'", "’"))]
    assert seed_entities.repairs["possessive"] >= 1


@pytest.mark.model
def test_seed_article_xi_is_xi_jinping(seed_entities):
    rows = seed_entities.entities.to_pylist()
    xi = [r for r in rows if r["text"].startswith("Xi")]
    assert len(xi) >= 5
    assert {r["canonical"] for r in xi} == {"Xi Jinping"}


@pytest.mark.model
def test_seed_article_groups_south_korea_once(seed_entities):
    rows = seed_entities.entities.to_pylist()
    groups = {(r["canonical"], r["label"]) for r in rows if "South Korea" in r["text"]}
    assert ("South Korea", "GPE") in groups
    assert not [g for g in groups if g[1] == "GPE" and g[0] != "South Korea"]


@pytest.mark.model
def test_token_columns_agree_with_repaired_entities(seed_entities):
    tokens = seed_entities.tokens.to_pylist()
    for ent in seed_entities.entities.to_pylist():
        inside = [t for t in tokens if ent["start_char"] <= t["start_char"] < ent["end_char"]]
        assert [t["ent_type"] for t in inside] == [ent["label"]] * len(inside)
        assert [t["ent_iob"] for t in inside] == ["B"] + ["I"] * (len(inside) - 1)
    ent_tokens = sum(t["ent_iob"] == "B" for t in tokens)
    assert ent_tokens == seed_entities.entities.num_rows
