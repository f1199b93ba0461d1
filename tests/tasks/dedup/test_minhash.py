"""Exact and near-duplicate detection: the decision function, then through the real flow."""

from pathlib import Path

import pytest

from docmill.tasks.dedup.minhash import (
    DEFAULT_THRESHOLD,
    Fingerprint,
    find_duplicates,
    minhash_signature,
    shingles,
    similarity,
)

ARTICLE = (
    "The central bank raised its main interest rate by a quarter of a point on Thursday, "
    "the third increase this year, saying that inflation was still running well above its "
    "target and that wages were rising faster than productivity in most sectors. Officials "
    "said further increases could follow if prices kept climbing through the winter months, "
    "while several economists warned that households with large mortgages would feel the "
    "squeeze first and that retail spending had already started to slow in the autumn."
)
# The same story with one sentence changed at the end: a typical updated wire copy.
UPDATED = ARTICLE.replace(
    "retail spending had already started to slow in the autumn.",
    "retail spending had already begun to slow down in the autumn.",
)
OTHER = (
    "The national football team named a new captain on Monday after the veteran defender "
    "announced his retirement from international matches, ending a career of more than a "
    "hundred caps that began with a debut against Brazil twelve years ago in a friendly."
)

WEATHER = (
    "Forecasters issued a storm warning for the northern coast, where gusts of up to ninety "
    "kilometres an hour are expected overnight and ferries have been cancelled until Sunday."
)


def _fp(doc_id: str, text: str, content_hash: str | None = None) -> Fingerprint:
    return Fingerprint(doc_id, content_hash or f"hash-of-{text}", minhash_signature(text))


def test_shingles_are_word_five_grams_of_lowercased_text():
    assert shingles("A b c d e f") == {b"a b c d e", b"b c d e f"}
    assert shingles("Too short") == {b"too short"}
    assert shingles(" ... ") == set()


def test_signature_is_deterministic_and_none_without_words():
    assert (minhash_signature(ARTICLE) == minhash_signature(ARTICLE)).all()
    assert minhash_signature(ARTICLE).dtype.name == "uint32"
    assert minhash_signature("!!! ...") is None


def test_similarity_estimates_jaccard():
    assert similarity(minhash_signature(ARTICLE), minhash_signature(ARTICLE)) == 1.0
    assert similarity(minhash_signature(ARTICLE), minhash_signature(UPDATED)) >= 0.8
    assert similarity(minhash_signature(ARTICLE), minhash_signature(OTHER)) < 0.2


@pytest.mark.parametrize(
    ("batch", "threshold", "expected"),
    [
        # same content hash: exact, the first in plan order is kept
        (
            [("a", ARTICLE, "h1"), ("b", OTHER, "h2"), ("c", ARTICLE, "h1")],
            0.8,
            {"c": ("a", "exact")},
        ),
        # a near copy is found with LSH and points at the kept document
        ([("a", ARTICLE, None), ("b", UPDATED, None)], 0.8, {"b": ("a", "near")}),
        # exact only: the near copy stays
        ([("a", ARTICLE, None), ("b", UPDATED, None)], None, {}),
        # unrelated documents are both kept
        ([("a", ARTICLE, None), ("b", OTHER, None)], 0.8, {}),
        # a stricter threshold than the pair's similarity keeps both
        ([("a", ARTICLE, None), ("b", UPDATED, None)], 0.98, {}),
    ],
)
def test_find_duplicates_within_a_batch(batch, threshold, expected):
    found = find_duplicates([_fp(*row) for row in batch], threshold=threshold)
    assert {k: (d.duplicate_of, d.kind) for k, d in found.items()} == expected


def _jaccard(a: str, b: str) -> float:
    return len(shingles(a) & shingles(b)) / len(shingles(a) | shingles(b))


def test_default_threshold_flags_a_republished_story_but_not_a_follow_up():
    # The story republished with a paragraph added, and a new story that reuses the first
    # sentence of the old one as background.
    extended = f"{ARTICLE} {WEATHER}"
    follow_up = f"{OTHER} {ARTICLE.split('. ')[0]}."
    assert DEFAULT_THRESHOLD < _jaccard(ARTICLE, extended) < 0.8
    assert _jaccard(ARTICLE, follow_up) < DEFAULT_THRESHOLD - 0.15
    found = find_duplicates([_fp("a", ARTICLE), _fp("b", extended), _fp("c", follow_up)])
    assert {k: (d.duplicate_of, d.kind) for k, d in found.items()} == {"b": ("a", "near")}


def test_earlier_batches_win_and_a_document_is_never_its_own_duplicate():
    index = [_fp("old", ARTICLE, "h1"), _fp("again", OTHER, "h2")]
    batch = [_fp("new", UPDATED), _fp("copy", ARTICLE, "h1"), _fp("again", OTHER, "h2")]
    found = find_duplicates(batch, index)
    assert found["new"].duplicate_of == "old" and found["new"].kind == "near"
    assert found["copy"].duplicate_of == "old" and found["copy"].kind == "exact"
    # the same doc_id reprocessed is a new version of itself, not a duplicate
    assert "again" not in found


def test_a_duplicate_never_points_at_another_duplicate():
    batch = [_fp("a", ARTICLE), _fp("b", UPDATED), _fp("c", UPDATED.replace("Thursday", "Friday"))]
    found = find_duplicates(batch)
    assert {d.duplicate_of for d in found.values()} == {"a"}


# --- through the flow -------------------------------------------------------------------


@pytest.mark.prefect
@pytest.mark.model
def test_a_document_seen_in_batch_1_is_flagged_in_batch_2(prefect_server, tmp_path: Path):
    from docmill.flows.process import process_documents
    from docmill.warehouse.query import connect_read_only

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "rates.txt").write_text("Rates rise again\n\n" + ARTICLE + "\n")
    (first / "football.txt").write_text("New captain\n\n" + OTHER + "\n")
    (second / "rates-copy.txt").write_text("Rates rise again\n\n" + ARTICLE + "\n")
    (second / "rates-update.txt").write_text("Rates rise again\n\n" + UPDATED + "\n")
    (second / "weather.txt").write_text("Storm warning\n\n" + WEATHER + "\n")
    data_dir = str(tmp_path / "data")
    process_documents(sources=[str(first)], batch_id="one", data_dir=data_dir)
    for _ in range(2):  # a rerun of batch 2 gives the same answers
        summary = process_documents(sources=[str(second)], batch_id="two", data_dir=data_dir)
        assert summary["n_duplicates"] == 2
        con = connect_read_only(Path(data_dir))
        rows = con.execute(
            """
            select split_part(d.source_uri, '/', -1), split_part(k.source_uri, '/', -1),
                   d.duplicate_kind, d.tagged, d.not_tagged_reason, d.n_tokens
            from documents d left join documents k on k.doc_id = d.duplicate_of
            where d.batch_id = 'two' order by 1
            """
        ).fetchall()
        clusters = con.execute("select cluster_size, kind from duplicates order by kind").fetchall()
        spans = con.execute(
            "select count(*) from tokens where doc_id in "
            "(select doc_id from documents where duplicate_of is not null)"
        ).fetchone()
        con.close()
        assert rows == [
            ("rates-copy.txt", "rates.txt", "exact", False, "duplicate", 0),
            ("rates-update.txt", "rates.txt", "near", False, "duplicate", 0),
            ("weather.txt", None, None, True, None, rows[2][5]),
        ]
        assert rows[2][5] > 0
        assert clusters == [(3, "exact"), (3, "kept"), (3, "near")]
        assert spans == (0,)


def test_band_layout_favours_recall_at_the_threshold():
    from docmill.tasks.dedup.minhash import band_layout

    bands, rows = band_layout(0.8)
    assert bands * rows <= 128
    assert 1 - (1 - 0.85**rows) ** bands > 0.95  # a pair at 0.85 is almost always a candidate
    with pytest.raises(ValueError):
        band_layout(1.0)


def test_every_lightly_edited_copy_is_found():
    long_article = " ".join([ARTICLE, OTHER, WEATHER])
    words = long_article.split()
    copies = []
    for n in range(40):
        edited = list(words)
        edited[(7 * n + 3) % len(words)] = f"changed{n}"
        copies.append(_fp(f"copy{n}", " ".join(edited)))
    found = find_duplicates([_fp("original", long_article), *copies])
    assert sorted(found) == sorted(f"copy{n}" for n in range(40))
    assert {d.duplicate_of for d in found.values()} == {"original"}
