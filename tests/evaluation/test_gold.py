"""Gold readers on tiny inline CoNLL-U and CoNLL-2003 snippets (never the shared corpus)."""

from __future__ import annotations

import pytest
from helpers.gold_samples import CONLL, CONLLU

from docmill.evaluation.gold import (
    GoldFormatError,
    iob1_spans,
    load_gold,
    read_conll2003,
    read_conllu,
)


def test_conllu_rebuilds_paragraphs_and_documents():
    d1, d2 = read_conllu(CONLLU.splitlines(keepends=True))
    assert (d1.doc_id, d2.doc_id) == ("d1", "d2")
    assert d1.text == "Hello world! I don't.\n\nGonna go."
    assert [d1.text[s:e] for s, e in d1.sentences] == ["Hello world!", "I don't.", "Gonna go."]
    assert d2.text == "Bye." and d2.sentences == [(0, 4)]


def test_conllu_tokens_and_upos_with_multiword_tokens():
    d1, _ = read_conllu(CONLLU.splitlines())
    tokens = [d1.text[s:e] for s, e in d1.tokens]
    # "don't" = "do" + "n't" exactly: two tokens; "Gonna" != "Gon" + "ta": one, tag unknown;
    # the empty node 3.1 has no surface form.
    assert tokens == ["Hello", "world", "!", "I", "do", "n't", ".", "Gonna", "go", "."]
    expected = ["INTJ", "NOUN", "PUNCT", "PRON", "AUX", "PART", "PUNCT", None, "VERB", "PUNCT"]
    assert d1.upos == expected


def test_conllu_without_newpar_is_one_paragraph():
    text = "# text = A b.\n1\tA\ta\tDET\t_\t_\t0\troot\t_\t_\n2\tb.\tb\tNOUN\t_\t_\t1\tx\t_\t_\n\n"
    [doc] = read_conllu((text * 2).splitlines())
    assert doc.text == "A b. A b."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\tA\ta\tDET\t_\t_\t0\troot\t_\t_\n\n", "without a '# text' line"),
        ("# text = A\n1\tB\tb\tDET\t_\t_\t0\troot\t_\t_\n\n", "not found"),
        ("# text = A\n1\tA\ta\n\n", "10 tab-separated columns"),
    ],
)
def test_conllu_errors_name_the_line(text, message):
    with pytest.raises(GoldFormatError, match=message):
        read_conllu(text.splitlines(), source="x.conllu")


def test_conll2003_documents_sentences_and_entities():
    d1, d2 = read_conll2003(CONLL.splitlines())
    assert d1.text == "EU rejects German call .\nPeter Blackburn"
    assert [(d1.text[s:e], label) for s, e, label in d1.entities] == [
        ("EU", "ORG"),
        ("German", "MISC"),
        ("Peter Blackburn", "PER"),
    ]
    assert [d1.text[s:e] for s, e in d1.sentences] == [
        "EU rejects German call .",
        "Peter Blackburn",
    ]
    assert [(d2.text[s:e], label) for s, e, label in d2.entities] == [
        ("New York", "LOC"),
        ("B-Side", "LOC"),
        ("Paris", "ORG"),
    ]


def test_conll2003_docstart_anywhere_and_empty_documents_skipped():
    docs = read_conll2003(["-DOCSTART- -X- O O", "", "A DT O O", "", "-DOCSTART- -X- O O"])
    assert [d.text for d in docs] == ["A"]
    assert docs[0].doc_id == "conll-0001"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["I-PER", "I-PER", "O"], [(0, 2, "PER")]),
        (["I-PER", "B-PER"], [(0, 1, "PER"), (1, 2, "PER")]),
        (["I-PER", "I-ORG"], [(0, 1, "PER"), (1, 2, "ORG")]),
        (["O", "I-LOC", "O", "I-LOC"], [(1, 2, "LOC"), (3, 4, "LOC")]),
        (["B-MISC", "I-MISC"], [(0, 2, "MISC")]),  # IOB2 reads the same
    ],
)
def test_iob1_spans(tags, expected):
    spans = [(i, i + 1) for i in range(len(tags))]
    assert iob1_spans(spans, tags) == expected


def test_load_gold_checks_kind_and_file(tmp_path):
    with pytest.raises(ValueError, match="unknown gold format"):
        load_gold("xml", tmp_path / "x")
    with pytest.raises(FileNotFoundError):
        load_gold("ud", tmp_path / "missing.conllu")
    empty = tmp_path / "empty.conllu"
    empty.write_text("\n")
    with pytest.raises(GoldFormatError, match="no documents"):
        load_gold("ud", empty)
    good = tmp_path / "g.conll"
    good.write_text(CONLL)
    gold = load_gold("conll", good)
    assert len(gold.documents) == 2 and gold.layers == {"entities"}
