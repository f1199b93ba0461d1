"""The batch attribute ruler and lemmatizer give exactly what spaCy's own components give."""

from __future__ import annotations

import random

import numpy as np
import pytest
import spacy
from conftest import SEEDS
from spacy.attrs import DEP, ENT_IOB, ENT_TYPE, HEAD, LEMMA, MORPH, ORTH, POS, SENT_START, TAG
from spacy.tokens import Doc

from docmill.tasks.nlp import batch_components
from docmill.tasks.nlp.batch_components import BatchAttributeRuler, BatchLemmatizer, Unsupported
from docmill.tasks.nlp.pipeline import load_pipeline
from docmill.tasks.options import DEFAULT_MODEL

COMPARED = [ORTH, LEMMA, POS, TAG, DEP, MORPH, HEAD, ENT_TYPE, ENT_IOB, SENT_START]

# Text that reaches the model's less common rules: contractions and dialect forms (the REGEX
# and two-token rules), expletive "there", get/got, whitespace tokens, quotes and symbols.
TRICKY = [
    "There is no way we ain't going, and there were nothin' left. Y'all know it.",
    "He gets what he got: 3.5% more , and   \"more\" -- said O'Neil's lawyer (Ltd.) in 2024.",
    "It's 5pm; she'd've said yes. Don't! Isn't it?  \n  They're here.",
    "Running quickly, the children's better-known leaders were being photographed.",
]


def _texts() -> list[str]:
    texts = list(TRICKY)
    for path in sorted(SEEDS.iterdir()):
        raw = path.read_text(errors="replace")
        texts += [part.strip() for part in raw.split("\n\n") if part.strip()]
    return texts


def _annotations(nlp, texts):
    rows = []
    for doc in nlp.pipe(texts, batch_size=16):
        morphs = [str(token.morph) for token in doc]
        lemmas = [token.lemma_ for token in doc]
        rows.append((doc.to_array(COMPARED), morphs, lemmas))
    return rows


@pytest.mark.parametrize("profile", ["accurate", "fast"])
def test_pipeline_output_equals_spacy_components(profile):
    stock = load_pipeline(DEFAULT_MODEL, profile, batch_components=False)
    batch = load_pipeline(DEFAULT_MODEL, profile, batch_components=True)
    assert isinstance(batch.get_pipe("attribute_ruler"), BatchAttributeRuler)
    assert isinstance(batch.get_pipe("lemmatizer"), BatchLemmatizer)
    assert not isinstance(stock.get_pipe("attribute_ruler"), BatchAttributeRuler)
    texts = _texts()
    expected, got = _annotations(stock, texts), _annotations(batch, texts)
    assert sum(len(rows[1]) for rows in expected) > 500
    for (e_arr, e_morph, e_lemma), (g_arr, g_morph, g_lemma) in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g_arr, e_arr)
        assert g_morph == e_morph
        assert g_lemma == e_lemma


def test_output_is_the_same_inside_memory_zones():
    nlp = load_pipeline(DEFAULT_MODEL, "accurate", batch_components=True)
    texts = _texts()[:12]
    outside = _annotations(nlp, texts)
    for _ in range(2):
        with nlp.memory_zone():
            inside = _annotations(nlp, texts)
        for (a, am, al), (b, bm, bl) in zip(outside, inside, strict=True):
            np.testing.assert_array_equal(a, b)
            assert (am, al) == (bm, bl)


# Random rules over random tagged Docs, run by spaCy's AttributeRuler and by the batch version.

WORDS = ["the", "The", "is", "was", "n't", "nt", "ai", "nothin'", "y'", "all", "x", "  ", "a1"]
TAGS = ["NN", "VBZ", "VBD", "DT", "RB", "_SP", "JJ"]
DEPS = ["", "nsubj", "expl", "ROOT", "dep"]


def _random_spec(rng: random.Random) -> dict:
    spec: dict = {}
    for key in rng.sample(["TAG", "LOWER", "DEP", "IS_SPACE", "ORTH"], rng.randint(1, 2)):
        if key == "IS_SPACE":
            spec[key] = rng.random() < 0.5
            continue
        pool = {"TAG": TAGS, "DEP": DEPS}.get(
            key, [w.lower() if key == "LOWER" else w for w in WORDS]
        )
        kind = rng.random()
        if kind < 0.5:
            spec[key] = rng.choice(pool)
        elif kind < 0.7:
            spec[key] = {"IN": rng.sample(pool, 3)}
        elif kind < 0.85:
            spec[key] = {"NOT_IN": rng.sample(pool, 2)}
        else:
            spec[key] = {"REGEX": rng.choice(["^n'?t$", "^[a-z]+$", "^t", "s$"])}
    return spec


def _random_rules(rng: random.Random, n: int) -> list[dict]:
    rules = []
    for _ in range(n):
        width = rng.choice([1, 1, 1, 2, 3])
        patterns = [[_random_spec(rng) for _ in range(width)] for _ in range(rng.randint(1, 2))]
        attrs = rng.choice(
            [
                {
                    "POS": rng.choice(["NOUN", "VERB", "X"]),
                    "MORPH": rng.choice(["_", "Number=Sing"]),
                },
                {"LEMMA": rng.choice(["be", "get", "nothing"])},
                {"TAG": rng.choice(TAGS)},
                {"DEP": "dep"},
                {"POS": "PART", "Number": "Plur"},
            ]
        )
        rules.append({"patterns": patterns, "attrs": attrs, "index": rng.randrange(-width, width)})
    return rules


def _random_docs(vocab, rng: random.Random, n: int) -> list[Doc]:
    docs = []
    for _ in range(n):
        length = rng.randint(1, 9)
        words = [rng.choice(WORDS) for _ in range(length)]
        docs.append(
            Doc(
                vocab,
                words=words,
                tags=[rng.choice(TAGS) for _ in words],
                deps=[rng.choice(DEPS[1:]) for _ in words] if rng.random() < 0.7 else None,
            )
        )
    return docs


@pytest.mark.parametrize("seed", range(8))
def test_random_rules_match_spacys_attribute_ruler(seed):
    rng = random.Random(seed)
    nlp = spacy.blank("en")
    stock = nlp.add_pipe("attribute_ruler")
    stock.add_patterns(_random_rules(rng, 40))
    batch = BatchAttributeRuler(stock)
    state = rng.getstate()
    expected = [stock(doc) for doc in _random_docs(nlp.vocab, rng, 60)]
    rng.setstate(state)
    got = list(batch.pipe(_random_docs(nlp.vocab, rng, 60), batch_size=7))
    attrs = [ORTH, TAG, POS, MORPH, LEMMA, DEP, HEAD]
    changed = 0
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g.to_array(attrs), e.to_array(attrs))
        assert [str(t.morph) for t in g] == [str(t.morph) for t in e]
        changed += any(t.pos_ for t in e)
    assert changed > 0, "the random rules should set something"


def test_a_later_rule_overrides_an_earlier_one_and_matches_stay_inside_a_doc():
    nlp = spacy.blank("en")
    stock = nlp.add_pipe("attribute_ruler")
    stock.add_patterns(
        [
            {
                "patterns": [[{"LOWER": "a"}, {"LOWER": "b"}]],
                "attrs": {"TAG": "FIRST"},
                "index": -1,
            },
            {"patterns": [[{"LOWER": "b"}]], "attrs": {"TAG": "SECOND"}},
            {"patterns": [[{"ORTH": "B"}]], "attrs": {"TAG": "THIRD"}},
        ]
    )
    batch = BatchAttributeRuler(stock)
    docs = list(batch.pipe([nlp.make_doc("x a"), nlp.make_doc("B y"), nlp.make_doc("a b")]))
    assert [t.tag_ for t in docs[0]] == ["", ""]  # "a" ends one Doc, "B" starts the next
    assert [t.tag_ for t in docs[1]] == ["THIRD", ""]
    assert [t.tag_ for t in docs[2]] == ["", "SECOND"]


def test_rules_beyond_the_compiled_subset_keep_spacys_component():
    nlp = spacy.blank("en")
    stock = nlp.add_pipe("attribute_ruler")
    stock.add_patterns([{"patterns": [[{"LOWER": "a", "OP": "+"}]], "attrs": {"TAG": "X"}}])
    with pytest.raises(Unsupported):
        BatchAttributeRuler(stock)
    assert batch_components.install(nlp) == []
    assert nlp.get_pipe("attribute_ruler") is stock


def test_lemmatizer_keeps_lemmas_already_set_and_reuses_its_answers():
    nlp = spacy.load(DEFAULT_MODEL, exclude=["ner", "senter"])
    batch_components.install(nlp)
    lemmatizer = nlp.get_pipe("lemmatizer")
    assert isinstance(lemmatizer, BatchLemmatizer)
    docs = list(nlp.pipe(["He gets the books.", "She got more books."]))
    assert [t.lemma_ for t in docs[0]] == ["he", "get", "the", "book", "."]
    assert docs[1][1].lemma_ == "get"  # set by the attribute ruler, kept by the lemmatizer
    seen = len(lemmatizer._lemmas)
    list(nlp.pipe(["He gets the books."]))
    assert len(lemmatizer._lemmas) == seen


def test_stock_components_on_request(monkeypatch):
    from docmill.tasks.nlp.pipeline import batch_components_enabled

    monkeypatch.setenv("DOCMILL_STOCK_SPACY_COMPONENTS", "1")
    assert not batch_components_enabled()
    monkeypatch.delenv("DOCMILL_STOCK_SPACY_COMPONENTS")
    assert batch_components_enabled()


def test_the_loaded_lemmatizer_is_left_as_it_was():
    nlp = spacy.load(DEFAULT_MODEL, exclude=["ner", "senter"])
    stock = nlp.get_pipe("lemmatizer")
    index = stock.lookups.get_table("lemma_index")
    before = {pos: type(words) for pos, words in index.items()}
    cached = dict(stock.cache)
    batch_components.install(nlp)
    list(nlp.pipe(["The children were running to the shops."]))
    assert {pos: type(words) for pos, words in index.items()} == before
    assert all(kind is list for kind in before.values())
    assert stock.cache == cached  # the batch version caches in a copy of its own
    assert nlp.get_pipe("lemmatizer").stock is not stock


def test_another_spacy_release_keeps_the_stock_components(monkeypatch):
    nlp = spacy.load(DEFAULT_MODEL, exclude=["ner", "senter"])
    monkeypatch.setattr(spacy, "__version__", "3.9.0")
    assert batch_components.install(nlp) == []
    assert not isinstance(nlp.get_pipe("lemmatizer"), BatchLemmatizer)
    monkeypatch.setattr(spacy, "__version__", f"{batch_components.CHECKED_SPACY}.99")
    assert batch_components.install(nlp) == ["attribute_ruler", "lemmatizer"]
