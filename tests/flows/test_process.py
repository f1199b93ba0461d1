"""End to end through the real flow: seeds and bad input -> Parquet -> DuckDB views."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import SEED_ARTICLE, SEEDS

from docmill.flows.process import process_documents
from docmill.tasks.nlp.entities import VALUE_LABELS
from docmill.warehouse.query import connect_read_only

pytestmark = [pytest.mark.prefect, pytest.mark.model]

SPAN_TABLES = ("paragraphs", "sentences", "tokens", "entities")
ALL_VIEWS = ("documents", *SPAN_TABLES, "rejects", "runs", "entity_counts", "entity_cooccurrence")


def _run(sources, data_dir: Path, **kwargs) -> dict:
    return process_documents(sources=[str(s) for s in sources], data_dir=str(data_dir), **kwargs)


def _query(data_dir: Path, sql: str, params=()):
    con = connect_read_only(data_dir)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _snapshot(data_dir: Path) -> dict[str, list]:
    """Every view's rows, minus what legitimately changes between runs."""
    volatile = {"processed_at", "run_id", "batch_snapshot", "rejected_at"}
    snap = {}
    con = connect_read_only(data_dir)
    for view in (*SPAN_TABLES, "documents", "rejects", "entity_counts", "doc_stats"):
        cols = [d[0] for d in con.execute(f"select * from {view} limit 0").description]
        keep = ", ".join(c for c in cols if c not in volatile)
        snap[view] = sorted(map(repr, con.execute(f"select {keep} from {view}").fetchall()))
    con.close()
    return snap


@pytest.fixture(scope="module")
def seeds_run(prefect_server, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("seeds-data")
    summary = _run([SEEDS], data_dir, batch_id="seeds")
    return data_dir, summary


def test_seed_article_has_17_sentences_and_6_paragraphs(seeds_run):
    data_dir, _ = seeds_run
    [(doc_id, n_sent, n_para)] = _query(
        data_dir,
        "select doc_id, n_sentences, n_paragraphs from documents where source_uri like ?",
        [f"%{SEED_ARTICLE.name}"],
    )
    assert (n_sent, n_para) == (17, 6)
    assert _query(data_dir, "select count(*) from sentences where doc_id = ?", [doc_id]) == [(17,)]
    assert _query(data_dir, "select count(*) from paragraphs where doc_id = ?", [doc_id]) == [(6,)]
    found = set(_query(data_dir, "select text, label from entities where doc_id = ?", [doc_id]))
    for expected in [
        ("Xi Jinping", "PERSON"),
        ("Kim Jong-un", "PERSON"),
        ("Seoul", "GPE"),
        ("Korean Central News Agency", "ORG"),
    ]:
        assert expected in found


def test_every_view_answers(seeds_run):
    data_dir, _ = seeds_run
    for view in ALL_VIEWS:
        _query(data_dir, f"select * from {view} limit 1")
    assert _query(data_dir, "select count(*) from runs where status = 'completed'")[0][0] >= 1


def test_offsets_of_every_span_index_the_cleaned_text(seeds_run):
    """Invariant 1."""
    data_dir, _ = seeds_run
    con = connect_read_only(data_dir)
    texts = dict(con.execute("select doc_id, text from documents").fetchall())
    checked = 0
    for view in SPAN_TABLES:
        has_text = view != "paragraphs"
        cols = "doc_id, start_char, end_char" + (", text" if has_text else "")
        for row in con.execute(f"select {cols} from {view}").fetchall():
            span = texts[row[0]][row[1] : row[2]]
            assert span if not has_text else span == row[3], (view, row)
            checked += 1
    con.close()
    assert checked > 500


def test_accounting_every_input_is_a_document_or_a_reject(seeds_run):
    """Invariant 2."""
    data_dir, summary = seeds_run
    [(n_input, n_docs, n_rej)] = _query(
        data_dir, "select n_input, n_documents, n_rejected from runs where batch_id = 'seeds'"
    )
    assert n_input == n_docs + n_rej == summary["n_input"]
    [(docs,)] = _query(data_dir, "select count(*) from documents where batch_id = 'seeds'")
    [(rejs,)] = _query(data_dir, "select count(*) from rejects where batch_id = 'seeds'")
    assert (docs, rejs) == (n_docs, n_rej)


def test_rerunning_a_batch_changes_nothing(prefect_server, tmp_path):
    """Invariants 3 and 6: same view contents, unique doc_ids, equal doc_ids."""
    _run([SEEDS], tmp_path, batch_id="again")
    first = _snapshot(tmp_path)
    _run([SEEDS], tmp_path, batch_id="again", force=True)
    _run([SEEDS], tmp_path, batch_id="again")
    assert _snapshot(tmp_path) == first
    [(n, distinct)] = _query(tmp_path, "select count(*), count(distinct doc_id) from documents")
    assert n == distinct > 0


def test_a_document_in_two_batches_appears_once(prefect_server, tmp_path):
    _run([SEED_ARTICLE], tmp_path, batch_id="one")
    _run([SEEDS], tmp_path, batch_id="two")
    [(n, distinct)] = _query(tmp_path, "select count(*), count(distinct doc_id) from documents")
    assert n == distinct
    [(batch,)] = _query(
        tmp_path,
        "select batch_id from documents where source_uri like ?",
        [f"%{SEED_ARTICLE.name}"],
    )
    assert batch == "two"
    [(sentences,)] = _query(
        tmp_path,
        "select count(*) from sentences s join documents d using (doc_id) "
        "where d.source_uri like ?",
        [f"%{SEED_ARTICLE.name}"],
    )
    assert sentences == 17


def _bad_inputs(folder: Path) -> dict[str, str]:
    folder.mkdir()
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02ELF\x00" * 200)
    (folder / "latin1.txt").write_bytes(
        "Caf\xe9 prices rose to \xa3300 in M\xfcnchen.".encode("latin-1")
    )
    lines = [
        json.dumps({"id": "ok-1", "text": "Reuters reported on Tuesday that Acme Corp grew."}),
        '{"id": "broken", "text": ',
        json.dumps({"id": "ok-2", "text": "Berlin and Paris signed a treaty."}),
    ]
    (folder / "feed.jsonl").write_text("\n".join(lines) + "\n")
    # Long tokens keep the tagging time of a 2 MB document to seconds.
    paragraph = " ".join(f"Springfield{n:04d}{'x' * 28}" for n in range(50)) + "."
    big = "\n\n".join([paragraph] * 1000)
    (folder / "big.txt").write_text(big)
    assert len(big) > 2_000_000
    shutil.copy(SEED_ARTICLE, folder / "good.txt")
    return {"empty.txt": "empty", "binary.txt": "binary", "feed.jsonl#L2": "malformed_json"}


def test_bad_input_is_rejected_with_reasons_and_the_rest_published(prefect_server, tmp_path):
    expected_rejects = _bad_inputs(tmp_path / "in")
    summary = _run([tmp_path / "in"], tmp_path / "data", batch_id="bad", workers=2)
    data_dir = tmp_path / "data"
    rejects = _query(data_dir, "select source_uri, reason, detail from rejects")
    got = {uri.rsplit("/", 1)[-1]: reason for uri, reason, _ in rejects}
    assert got == expected_rejects
    assert all(detail for _, _, detail in rejects)
    docs = dict(
        _query(data_dir, "select regexp_extract(source_uri, '[^/]+$'), text from documents")
    )
    assert "£300" in docs["latin1.txt"] and "Café" in docs["latin1.txt"]
    [(note,)] = _query(
        data_dir, "select decode_note from documents where source_uri like '%latin1.txt'"
    )
    assert note
    assert len(docs["big.txt"]) > 2_000_000
    [(n_para, n_sent, tagged)] = _query(
        data_dir,
        "select n_paragraphs, n_sentences, tagged from documents where source_uri like '%big.txt'",
    )
    assert tagged and n_para == 1000 and n_sent >= 1000
    assert summary["n_input"] == summary["n_documents"] + summary["n_rejected"] == 8


def test_seed_entities_are_repaired_and_canonical(seeds_run):
    """Issue 6 on the seed: whole hyphenated names, no possessives, one row per thing."""
    data_dir, _ = seeds_run
    doc_filter = "doc_id in (select doc_id from documents where source_uri like ?)"
    uri = [f"%{SEED_ARTICLE.name}"]
    mentions = _query(
        data_dir, f"select text, label, canonical from entities where {doc_filter}", uri
    )
    people = {text for text, label, _ in mentions if label == "PERSON"}
    assert {"Han Duck-soo", "Yoon Suk-yeol"} <= people
    assert not any(text.endswith(("’s", "'s")) for text, _, _ in mentions)
    assert {c for text, _, c in mentions if text == "Xi"} == {"Xi Jinping"}
    rows = _query(data_dir, "select count(*) from entity_counts where canonical = 'South Korea'")
    assert rows == [(1,)]
    [(chunks,)] = _query(data_dir, f"select count(*) from noun_chunks where {doc_filter}", uri)
    assert chunks > 50


def test_cli_rerun_of_a_batch_without_sources_uses_its_manifest(prefect_server, tmp_path, capsys):
    from docmill.flows.cli import main

    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SEED_ARTICLE, inputs / "a.txt")
    args = ["--batch-id", "cli", "--data-dir", str(tmp_path / "data")]
    assert main(["run", str(inputs), *args]) == 0
    (inputs / "b.txt").write_text("A later file that batch cli never held.")
    assert main(["run", *args]) == 0
    assert "batch cli published" in capsys.readouterr().out
    data_dir = tmp_path / "data"
    assert _query(data_dir, "select count(*) from documents where batch_id = 'cli'") == [(1,)]
    assert _query(data_dir, "select count(*) from runs where status = 'completed'") == [(2,)]


def test_summary_top_entities_equal_the_published_counts_of_names(seeds_run):
    """Names only: "two" (CARDINAL) and "Friday" (DATE) would crowd them out."""
    data_dir, summary = seeds_run
    values = ", ".join(f"'{label}'" for label in sorted(VALUE_LABELS))
    expected = _query(
        data_dir,
        f"select canonical, label, count(*) as n from entities where label not in ({values}) "
        "group by 1, 2 order by n desc, canonical, label limit 10",
    )
    assert summary["top_entities"]
    assert [tuple(row) for row in summary["top_entities"]] == expected
