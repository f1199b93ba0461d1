"""The warehouse views as a data contract, over a tiny lake built by hand and published through
the catalog as the flow publishes."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from helpers.lake_factory import Doc, Mention, catalog_held_open, write_run, write_version

from docmill.tasks.lake import catalog
from docmill.tasks.lake.layout import Layout
from docmill.warehouse.build import META_VIEW, VIEW_NAMES, build_warehouse, views_up_to_date
from docmill.warehouse.query import WarehouseMissing, connect_read_only, run_query

V1 = "20260101T000000000000Z-00000001"
V2 = "20260102T000000000000Z-00000002"
V3 = "20260103T000000000000Z-00000003"
V4 = "20260104T000000000000Z-00000004"
V5 = "20260105T000000000000Z-00000005"

XI = Mention(0, "Xi Jinping", "PERSON")
LAVROV = Mention(0, "Sergey Lavrov", "PERSON")
SPAN_VIEWS = ("paragraphs", "sentences", "tokens", "entities")


def build_sample_lake(data_dir: Path) -> dict[str, int]:
    """b1 published twice (V1, V2); b2 (V3) reprocesses d2; b3's V5 drops V4's entities.
    Returns the snapshot that published each version."""
    published = []

    def publish(*args, **kwargs) -> None:
        published.append(write_version(*args, **kwargs))

    publish(
        data_dir,
        batch_id="b1",
        version=V1,
        docs=[
            Doc("d1", ["Old text of d1 ."], [Mention(0, "d1", "ORG")], title="d1 v1"),
            Doc("d2", ["Old d2 ."], title="d2 v1"),
            Doc("d9", ["Dropped in V2 ."], title="d9 v1"),
        ],
        rejects=[{"source_uri": "file:///inbox/old.bin", "reason": "decode", "detail": "x"}],
    )
    publish(
        data_dir,
        batch_id="b1",
        version=V2,
        docs=[
            Doc(
                "d1",
                ["Xi Jinping met Han Duck-soo in Korea .", "Mr. Xi praised Korea and Xi Jinping ."],
                [
                    XI,
                    Mention(0, "Han Duck-soo", "PERSON"),
                    Mention(0, "Korea", "GPE"),
                    Mention(1, "Mr. Xi", "PERSON", "Xi Jinping"),
                    Mention(1, "Korea", "GPE"),
                    Mention(1, "Xi Jinping", "PERSON"),
                ],
                title="d1 v2",
            ),
            Doc("d2", ["Xi Jinping went to Korea ."], [XI, Mention(0, "Korea", "GPE")]),
        ],
        rejects=[{"source_uri": "file:///inbox/bad.bin", "reason": "empty", "detail": None}],
    )
    publish(
        data_dir,
        batch_id="b2",
        version=V3,
        docs=[
            Doc(
                "d2",
                ["Sergey Lavrov spoke .", "Then left ."],
                [Mention(0, "Sergey Lavrov", "PERSON")],
            ),
            Doc(
                "d3",
                ["Xi Jinping and Sergey Lavrov ."],
                [XI, Mention(0, "Sergey Lavrov", "PERSON")],
            ),
        ],
    )
    publish(
        data_dir,
        batch_id="b3",
        version=V4,
        docs=[Doc("d4", ["Kim Jong-un ."], [Mention(0, "Kim Jong-un", "PERSON")])],
    )
    publish(data_dir, batch_id="b3", version=V5, docs=[Doc("d4", ["Kim Jong-un ."])])
    for run_id, batch_id in (("r1", "b1"), ("r2", "b2")):
        write_run(data_dir, run_id=run_id, batch_id=batch_id, status="completed", n_input=2)
    return {p.version: p.snapshot_id for p in published}


SNAPSHOTS: dict[str, int] = {}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    SNAPSHOTS.update(build_sample_lake(data_dir))
    build_warehouse(data_dir)
    return data_dir


@pytest.fixture
def con(data_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect_read_only(data_dir)
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_build_returns_every_view_and_they_live_in_the_catalog(data_dir: Path) -> None:
    assert build_warehouse(data_dir) == list(VIEW_NAMES)
    with connect_read_only(data_dir) as con:
        views = {
            name
            for (name,) in rows(
                con, "select view_name from duckdb_views() where database_name = 'docmill'"
            )
        }
    assert set(VIEW_NAMES) | {META_VIEW} <= views


def test_documents_show_each_doc_once_from_latest_version(con: duckdb.DuckDBPyConnection) -> None:
    shown = rows(con, "select doc_id, batch_id, batch_snapshot from documents order by doc_id")
    at = SNAPSHOTS
    assert shown == [
        ("d1", "b1", at[V2]),
        ("d2", "b2", at[V3]),
        ("d3", "b2", at[V3]),
        ("d4", "b3", at[V5]),
    ]
    assert rows(con, "select title from documents where doc_id = 'd1'") == [("d1 v2",)]
    columns = [column[0] for column in con.execute("from documents limit 0").description]
    assert "batch" not in columns and "version" not in columns
    # The stored table keeps every batch's rows; the view picks one per document.
    assert rows(con, "select count(*) from stored.documents where doc_id = 'd2'") == [(2,)]


def test_documents_doc_id_unique(con: duckdb.DuckDBPyConnection) -> None:
    assert rows(con, "select count(*) = count(distinct doc_id) from documents") == [(True,)]


@pytest.mark.parametrize("view", SPAN_VIEWS)
def test_span_views_hold_only_versions_documents_shows(
    con: duckdb.DuckDBPyConnection, view: str
) -> None:
    orphans = rows(
        con,
        f"select * from {view} anti join documents using (doc_id, batch_id, batch_snapshot)",
    )
    assert orphans == []
    stale = rows(
        con,
        f"select count(*) from {view} where batch_snapshot in ({SNAPSHOTS[V1]}, {SNAPSHOTS[V4]})",
    )
    assert stale == [(0,)]


def test_reprocessed_document_spans_follow_later_batch(con: duckdb.DuckDBPyConnection) -> None:
    sentences = rows(con, "select text from sentences where doc_id = 'd2' order by sent_idx")
    assert sentences == [("Sergey Lavrov spoke .",), ("Then left .",)]
    assert rows(con, "select distinct batch_id from tokens where doc_id = 'd2'") == [("b2",)]


def test_superseding_version_without_entities_hides_old_entities(
    con: duckdb.DuckDBPyConnection,
) -> None:
    assert rows(con, "select count(*) from entities where batch_id = 'b3'") == [(0,)]
    assert rows(con, "select count(*) from documents where doc_id = 'd4'") == [(1,)]


def test_sentences_key_unique(con: duckdb.DuckDBPyConnection) -> None:
    duplicates = rows(
        con, "select doc_id, sent_idx from sentences group by all having count(*) > 1"
    )
    assert duplicates == []
    assert rows(con, "select count(*) from sentences") == [(6,)]


def test_entities_belong_to_shown_documents(con: duckdb.DuckDBPyConnection) -> None:
    assert rows(con, "select count(*) from entities anti join documents using (doc_id)") == [(0,)]


@pytest.mark.parametrize("view", SPAN_VIEWS)
def test_span_offsets_index_document_text(con: duckdb.DuckDBPyConnection, view: str) -> None:
    text_expr = "s.text" if view != "paragraphs" else "null"
    mismatches = rows(
        con,
        f"""
        select s.doc_id, s.start_char, s.end_char
        from {view} s join documents d using (doc_id)
        where s.end_char > d.n_chars
           or ({text_expr} is not null
               and substring(d.text, s.start_char + 1, s.end_char - s.start_char) != {text_expr})
        """,
    )
    assert mismatches == []


def test_entity_counts(con: duckdb.DuckDBPyConnection) -> None:
    assert rows(con, "select * from entity_counts order by canonical, label") == [
        ("Han Duck-soo", "PERSON", 1, 1),
        ("Korea", "GPE", 2, 1),
        ("Sergey Lavrov", "PERSON", 2, 2),
        ("Xi Jinping", "PERSON", 4, 2),
    ]


def test_entity_cooccurrence(con: duckdb.DuckDBPyConnection) -> None:
    assert rows(con, "select * from entity_cooccurrence order by a, b") == [
        ("Han Duck-soo", "PERSON", "Korea", "GPE", 1, 1),
        ("Han Duck-soo", "PERSON", "Xi Jinping", "PERSON", 1, 1),
        ("Korea", "GPE", "Xi Jinping", "PERSON", 2, 1),
        ("Sergey Lavrov", "PERSON", "Xi Jinping", "PERSON", 1, 1),
    ]


def test_doc_stats(con: duckdb.DuckDBPyConnection) -> None:
    stats = rows(
        con,
        """
        select doc_id, batch_id, n_paragraphs, n_sentences, n_tokens, n_entities,
               tokens_per_sentence, entity_density, stop_word_share, punct_share
        from doc_stats where doc_id in ('d1', 'd4') order by doc_id
        """,
    )
    # d1: 8 + 8 tokens, stop words "in" and "and", one "." per sentence.
    assert stats == [
        ("d1", "b1", 2, 2, 16, 6, 8.0, 100.0 * 6 / 16, 2 / 16, 2 / 16),
        ("d4", "b3", 1, 1, 3, 0, 3.0, 0.0, 0.0, 1 / 3),
    ]
    assert rows(con, "select count(*) from doc_stats") == [(4,)]


def test_rejects_from_current_version_only(con: duckdb.DuckDBPyConnection) -> None:
    assert rows(con, "select batch_id, source_uri, reason, batch_snapshot from rejects") == [
        ("b1", "file:///inbox/bad.bin", "empty", SNAPSHOTS[V2])
    ]


def test_runs_show_every_run(con: duckdb.DuckDBPyConnection) -> None:
    assert rows(con, "select run_id, batch_id from runs order by run_id") == [
        ("r1", "b1"),
        ("r2", "b2"),
    ]


def test_new_version_is_visible_without_rebuild(tmp_path: Path) -> None:
    build_sample_lake(tmp_path)
    build_warehouse(tmp_path)
    write_version(tmp_path, batch_id="b3", version=V5 + "1", docs=[Doc("d5", ["New ."])])
    with connect_read_only(tmp_path) as con:
        assert rows(con, "select doc_id from documents where batch_id = 'b3'") == [("d5",)]


def test_empty_lake_views_have_no_rows(tmp_path: Path) -> None:
    build_warehouse(tmp_path)
    with connect_read_only(tmp_path) as con:
        for view in VIEW_NAMES:
            assert rows(con, f"select count(*) from {view}") == [(0,)], view


def test_views_up_to_date(tmp_path: Path) -> None:
    assert not views_up_to_date(tmp_path)
    build_warehouse(tmp_path)
    assert views_up_to_date(tmp_path)
    con = catalog.connect(Layout(tmp_path).catalog)
    con.execute(f"create or replace view {META_VIEW} as select 'x' as views_hash, 1 as x")
    con.close()
    assert not views_up_to_date(tmp_path)
    build_warehouse(tmp_path)
    assert views_up_to_date(tmp_path)


def test_a_retired_view_is_dropped(tmp_path: Path) -> None:
    build_warehouse(tmp_path)
    con = catalog.connect(Layout(tmp_path).catalog)
    con.execute("create view retired_view as select 1 as x")
    con.close()
    build_warehouse(tmp_path)
    with connect_read_only(tmp_path) as con, pytest.raises(duckdb.CatalogException):
        con.execute("select * from retired_view")


def test_a_data_directory_with_quotes_in_its_path(tmp_path: Path) -> None:
    data_dir = tmp_path / "it's here"
    build_sample_lake(data_dir)
    assert build_warehouse(data_dir) == list(VIEW_NAMES)
    with connect_read_only(data_dir) as con:
        assert rows(con, "select count(*) from documents") == [(4,)]


def test_connect_read_only_without_catalog(tmp_path: Path) -> None:
    with pytest.raises(WarehouseMissing, match="docmill run"):
        connect_read_only(tmp_path)
    assert not (tmp_path / "catalog.sqlite").exists()


@pytest.fixture
def writer_mid_commit(data_dir: Path) -> Iterator[None]:
    with catalog_held_open(data_dir):
        yield


@pytest.mark.usefixtures("writer_mid_commit")
def test_read_only_query_while_a_writer_holds_the_catalog(data_dir: Path) -> None:
    with connect_read_only(data_dir) as con:
        assert rows(con, "select count(*) from documents") == [(4,)]
        assert rows(con, "select count(*) from entity_counts") == [(4,)]
        assert rows(con, "select count(*) from runs where run_id = 'held-open'") == [(0,)]


def test_query_from_another_working_directory(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with connect_read_only(data_dir) as con:
        assert rows(con, "select count(*) from tokens") == [(32,)]
    assert json.loads(run_query(data_dir, "select count(*) as n from documents", fmt="json")) == [
        {"n": 4}
    ]


def test_relative_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    build_sample_lake(Path("rel"))
    build_warehouse(Path("rel"))
    monkeypatch.chdir(tmp_path / "rel" / "tables")
    with connect_read_only(tmp_path / "rel") as con:
        assert rows(con, "select count(*) from documents") == [(4,)]


def test_run_query_table_format(data_dir: Path) -> None:
    out = run_query(
        data_dir,
        "select doc_id, n_chars, text from documents order by doc_id",
        fmt="table",
        max_width=34,
    )
    lines = out.splitlines()
    assert lines[0].split(" | ") == ["doc_id", "n_chars", "text"]
    assert set(lines[1]) <= {"-", "+"}
    assert "| Xi Jinping met…" in lines[2] and all(len(line) <= 34 for line in lines[:-2])
    assert lines[-2] == "(4 rows)" and "--max-width 0" in lines[-1]
    assert len({line.index(" | ") for line in [lines[0], *lines[2:-2]]}) == 1
    one_line = run_query(data_dir, "select 'a' || chr(10) || 'b' as t", fmt="table")
    assert one_line.splitlines() == ["t", "----", "a\\nb", "(1 row)"]


def test_run_query_csv_format(data_dir: Path) -> None:
    out = run_query(data_dir, "select doc_id, title from documents order by doc_id", fmt="csv")
    parsed = list(csv.reader(io.StringIO(out)))
    assert parsed[0] == ["doc_id", "title"]
    assert parsed[1] == ["d1", "d1 v2"]
    assert parsed[2] == ["d2", ""]


def test_run_query_json_format_is_json_safe(data_dir: Path) -> None:
    out = run_query(
        data_dir,
        "select doc_id, processed_at, 1.50::decimal(4, 2) as price, 'nan'::double as ratio "
        "from documents where doc_id = 'd1'",
        fmt="json",
    )
    assert json.loads(out) == [
        {"doc_id": "d1", "processed_at": "2026-01-01T00:00:00+00:00", "price": 1.5, "ratio": None}
    ]


def test_run_query_propagates_duckdb_errors(data_dir: Path) -> None:
    with pytest.raises(duckdb.Error):
        run_query(data_dir, "select * from no_such_view", fmt="table")


def test_version_without_rows_replaces_documents_and_rejects(tmp_path: Path) -> None:
    """A rerun whose new version has no documents (or no rejects) must hide the old rows."""
    write_version(
        tmp_path,
        batch_id="b1",
        version=V1,
        docs=[Doc("d1", ["Text ."])],
        rejects=[{"source_uri": "file:///in/x.txt", "reason": "empty", "detail": "no text"}],
    )
    write_version(tmp_path, batch_id="b1", version=V2, docs=[])
    build_warehouse(tmp_path)
    with connect_read_only(tmp_path) as con:
        assert rows(con, "select count(*) from documents") == [(0,)]
        assert rows(con, "select count(*) from rejects") == [(0,)]
        assert rows(con, "select count(*) from sentences") == [(0,)]


def test_rows_stored_before_a_column_was_added_read_null_in_it(tmp_path: Path) -> None:
    """Schema evolution: a column the code's schema gains is added to the stored table on the
    next connection of a writer; rows stored before read NULL in it, new rows carry it."""
    import pyarrow as pa

    from docmill.tasks import schemas

    data_dir = tmp_path / "data"
    write_version(data_dir, batch_id="now", version=V1, docs=[Doc("d1", ["Xi Jinping ."], [XI])])
    build_warehouse(data_dir)
    wider = schemas.DOCUMENTS.append(pa.field("sentiment", pa.float32()))
    original = dict(schemas.STORED_TABLES)
    schemas.STORED_TABLES["documents"] = wider
    catalog.column_types.cache_clear()
    try:
        catalog.connect(Layout(data_dir).catalog).close()
        with connect_read_only(data_dir) as con:
            assert rows(con, "select doc_id, sentiment from stored.documents") == [("d1", None)]
            for view in VIEW_NAMES:
                con.execute(f'select * from "{view}"').fetchall()
    finally:
        schemas.STORED_TABLES.clear()
        schemas.STORED_TABLES.update(original)
        catalog.column_types.cache_clear()


def _duckdb_cli() -> str:
    cli = Path(sys.executable).with_name("duckdb")
    if not cli.exists():
        if os.environ.get("CI"):
            pytest.fail("the DuckDB CLI (pip package duckdb-cli, a dev dependency) is missing")
        pytest.skip("the DuckDB CLI (pip package duckdb-cli) is not installed")
    return str(cli)


def _counts_in_cli(cli: str, data_dir: Path, cwd: Path) -> dict[str, int]:
    from docmill.warehouse.shell import shell_statements

    attach = " ".join(f"{statement};" for statement in shell_statements(data_dir))
    sql = " union all ".join(f"select '{view}', count(*) from \"{view}\"" for view in VIEW_NAMES)
    done = subprocess.run(
        [cli, "-csv", "-noheader", "-cmd", attach, "-c", sql],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return {name: int(count) for name, count in csv.reader(io.StringIO(done.stdout))}


def test_every_view_works_in_the_duckdb_cli_from_any_directory(
    data_dir: Path, tmp_path: Path
) -> None:
    """The DuckDB CLI of the pinned release, started elsewhere, attaches the lake read-only with
    the statements `docmill shell` uses and runs every view, with docmill's counts."""
    cli = _duckdb_cli()
    with connect_read_only(data_dir) as con:
        expected = {view: rows(con, f'select count(*) from "{view}"')[0][0] for view in VIEW_NAMES}
    assert _counts_in_cli(cli, data_dir, cwd=tmp_path) == expected
    assert expected["documents"] == 4 and expected["entities"] > 0


def test_a_moved_data_directory_still_reads(tmp_path: Path) -> None:
    """The catalog records the data path, but docmill always names the current one."""
    old = tmp_path / "old"
    build_sample_lake(old)
    build_warehouse(old)
    with connect_read_only(old) as con:
        expected = rows(con, "select doc_id, batch_id, n_entities from documents order by 1")
        tokens = rows(con, "select count(*) from tokens")
    new = tmp_path / "moved" / "data"
    new.parent.mkdir()
    shutil.move(old, new)
    with connect_read_only(new) as con:
        assert rows(con, "select doc_id, batch_id, n_entities from documents order by 1") == (
            expected
        )
        assert rows(con, "select count(*) from tokens") == tokens
