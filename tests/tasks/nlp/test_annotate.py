import pytest

from docmill.tasks.nlp.annotate import annotate_chunk, segment_paragraphs, tag_in_chunks
from docmill.tasks.records import Document


def _doc(paragraphs: list[str], doc_id: str = "d1") -> Document:
    text = "\n\n".join(paragraphs)
    spans, pos = [], 0
    for p in paragraphs:
        spans.append((pos, pos + len(p)))
        pos += len(p) + 2
    return Document(doc_id=doc_id, source_id=doc_id, source_uri="mem:", text=text, paragraphs=spans)


@pytest.mark.parametrize(
    ("paragraph", "limit", "pieces"),
    [
        ("short", 100, ["short"]),
        ("one. two. three.", 10, ["one. two.", "three."]),
        ("line one\nline two", 12, ["line one", "line two"]),
        ("abcdefghij" * 3, 10, ["abcdefghij"] * 3),
    ],
)
def test_long_paragraphs_are_cut_at_natural_breaks(paragraph, limit, pieces):
    doc = _doc(["head", paragraph])
    segments = [s for s in segment_paragraphs([doc], max_segment_chars=limit) if s.para_idx == 1]
    assert [s.text for s in segments] == pieces
    for s in segments:
        assert doc.text[s.offset : s.offset + len(s.text)] == s.text


@pytest.mark.model
def test_offsets_index_the_document_text(nlp):
    doc = _doc(["Apple hired Tim Cook in Cupertino.", "He met  Angela Merkel.\nShe smiled."])
    ann = annotate_chunk(nlp, [doc])
    for table in (ann.tokens, ann.sentences, ann.entities):
        for row in table.select(["start_char", "end_char", "text"]).to_pylist():
            assert doc.text[row["start_char"] : row["end_char"]] == row["text"]
    assert "\n" not in ann.tokens.column("text").to_pylist()


@pytest.mark.model
def test_sentences_never_cross_paragraphs(nlp):
    doc = _doc(["No full stop here", "And a second paragraph follows"])
    ann = annotate_chunk(nlp, [doc])
    assert ann.sentences.column("para_idx").to_pylist() == [0, 1]
    assert ann.sentences.column("text").to_pylist() == [
        "No full stop here",
        "And a second paragraph follows",
    ]


@pytest.mark.model
def test_token_indices_and_heads_are_document_wide(nlp):
    doc = _doc(["Dogs bark.", "Cats sleep all day."])
    ann = annotate_chunk(nlp, [doc])
    tok_idx = ann.tokens.column("tok_idx").to_pylist()
    assert tok_idx == list(range(len(tok_idx)))
    heads = ann.tokens.column("head_idx").to_pylist()
    assert all(0 <= h < len(tok_idx) for h in heads)
    second_para = [t for t in ann.tokens.to_pylist() if t["sent_idx"] == 1]
    assert all(t["head_idx"] >= second_para[0]["tok_idx"] for t in second_para)
    assert ann.counts[0].n_tokens == len(tok_idx)


@pytest.mark.model
def test_chunks_keep_documents_apart(nlp):
    docs = [_doc([f"Paris is in France number {n}."], doc_id=f"d{n}") for n in range(5)]
    seen = []
    for chunk, ann in tag_in_chunks(nlp, docs, chunk_docs=2):
        seen.append(len(chunk))
        assert set(ann.tokens.column("doc_id").to_pylist()) == {d.doc_id for d in chunk}
    assert seen == [2, 2, 1]


@pytest.mark.model
def test_very_long_document_is_tagged_in_segments(nlp):
    sentence = "The committee met in Geneva on Monday and agreed a plan. "
    doc = _doc([sentence * 400])
    ann = annotate_chunk(nlp, [doc], max_segment_chars=2_000)
    assert ann.sentences.num_rows >= 390
    for row in ann.sentences.select(["start_char", "end_char", "text"]).to_pylist():
        assert doc.text[row["start_char"] : row["end_char"]] == row["text"]


@pytest.mark.model
def test_noun_chunks_index_the_document_text(nlp):
    doc = _doc(["The old man saw a big dog.", "Cats sleep."])
    ann = annotate_chunk(nlp, [doc])
    rows = ann.noun_chunks.to_pylist()
    assert [r["text"] for r in rows] == ["The old man", "a big dog", "Cats"]
    assert [r["chunk_idx"] for r in rows] == [0, 1, 2]
    assert [r["sent_idx"] for r in rows] == [0, 0, 1]
    assert [r["root_lemma"] for r in rows] == ["man", "dog", "cat"]
    for r in rows:
        assert doc.text[r["start_char"] : r["end_char"]] == r["text"]


@pytest.mark.model
def test_entity_repairs_are_counted_and_applied_to_tokens(nlp):
    doc = _doc(["North Korea’s leader met Prime Minister Han Duck-soo in Seoul."])
    ann = annotate_chunk(nlp, [doc])
    texts = ann.entities.column("text").to_pylist()
    assert "North Korea" in texts and "Han Duck-soo" in texts
    assert ann.repairs.get("possessive", 0) >= 1
    assert ann.repairs.get("hyphen_given_name", 0) >= 1
    tokens = {t["text"]: t for t in ann.tokens.to_pylist()}
    assert tokens["’s"]["ent_iob"] == "O" and tokens["soo"]["ent_type"] == "PERSON"


@pytest.mark.model
def test_fast_profile_runs_without_noun_chunks():
    from docmill.tasks.nlp.pipeline import load_pipeline
    from docmill.tasks.options import DEFAULT_MODEL

    fast = load_pipeline(DEFAULT_MODEL, "fast")
    assert "parser" not in fast.pipe_names
    doc = _doc(["Apple hired Tim Cook in Cupertino. He started on Monday.", "Second one."])
    ann = annotate_chunk(fast, [doc])
    assert ann.sentences.num_rows >= 2
    assert ann.tokens.num_rows > 0 and ann.entities.num_rows > 0
    assert ann.noun_chunks.num_rows == 0


@pytest.mark.parametrize(
    ("n_docs", "limit", "size"), [(70, 64, 35), (200, 64, 50), (64, 64, 64), (5, 64, 5), (0, 64, 1)]
)
def test_chunks_spread_a_shard_evenly_within_the_limit(n_docs, limit, size):
    from docmill.tasks.passes.tag import even_chunk_size

    assert even_chunk_size(n_docs, limit) == size
