"""The warehouse views as a data contract, over a tiny lake built by hand."""

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
from lake_factory import Doc, Mention, warehouse_held_open, write_run, write_version

from docmill.tasks.schemas import SCHEMA_VERSION
from docmill.warehouse.build import (
    META_VIEW,
    VIEW_NAMES,
    WarehouseBusy,
    build_warehouse,
    views_up_to_date,
    warehouse_ddl,
    warehouse_path,
)
from docmill.warehouse.query import WarehouseMissing, connect_read_only, run_query

V1 = "20260101T000000000000Z-00000001"
V2 = "20260102T000000000000Z-00000002"
V3 = "20260103T000000000000Z-00000003"
V4 = "20260104T000000000000Z-00000004"
V5 = "20260105T000000000000Z-00000005"

XI = Mention(0, "Xi Jinping", "PERSON")
LAVROV = Mention(0, "Sergey Lavrov", "PERSON")
SPAN_VIEWS = ("paragraphs", "sentences", "tokens", "entities")


def build_sample_lake(data_dir: Path) -> None:
    """b1 published twice (V1, V2); b2 (V3) reprocesses d2; b3's V5 drops V4's entities."""
    write_version(
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
    write_version(
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
    write_version(
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
    write_version(
        data_dir,
        batch_id="b3",
        version=V4,
        docs=[Doc("d4", ["Kim Jong-un ."], [Mention(0, "Kim Jong-un", "PERSON")])],
    )
    write_version(data_dir, batch_id="b3", version=V5, docs=[Doc("d4", ["Kim Jong-un ."])])
    for run_id, batch_id in (("r1", "b1"), ("r2", "b2")):
        write_run(data_dir, run_id=run_id, batch_id=batch_id, status="completed", n_input=2)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    build_sample_lake(data_dir)
    build_warehouse(data_dir)
    return data_dir


@pytest.fixture
def con(data_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(warehouse_path(data_dir)), read_only=True)
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_build_returns_every_view_and_file_opens_read_only(data_dir: Path) -> None:
    assert build_warehouse(data_dir) == list(VIEW_NAMES)
    with duckdb.connect(str(warehouse_path(data_dir)), read_only=True) as con:
        views = {name for (name,) in rows(con, "select view_name from duckdb_views()")}
    assert set(VIEW_NAMES) | {META_VIEW} <= views


def test_documents_show_each_doc_once_from_latest_version(con: duckdb.DuckDBPyConnection) -> None:
    shown = rows(con, "select doc_id, batch_id, batch_version from documents order by doc_id")
    assert shown == [("d1", "b1", V2), ("d2", "b2", V3), ("d3", "b2", V3), ("d4", "b3", V5)]
    assert rows(con, "select title from documents where doc_id = 'd1'") == [("d1 v2",)]
    columns = [column[0] for column in con.execute("from documents limit 0").description]
    assert "batch" not in columns and "version" not in columns


def test_documents_doc_id_unique(con: duckdb.DuckDBPyConnection) -> None:
    assert rows(con, "select count(*) = count(distinct doc_id) from documents") == [(True,)]


@pytest.mark.parametrize("view", SPAN_VIEWS)
def test_span_views_hold_only_versions_documents_shows(
    con: duckdb.DuckDBPyConnection, view: str
) -> None:
    orphans = rows(
        con,
        f"select * from {view} anti join documents using (doc_id, batch_id, batch_version)",
    )
    assert orphans == []
    stale = rows(con, f"select count(*) from {view} where batch_version in ('{V1}', '{V4}')")
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
    assert rows(con, "select batch_id, source_uri, reason, batch_version from rejects") == [
        ("b1", "file:///inbox/bad.bin", "empty", V2)
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
    with duckdb.connect(str(warehouse_path(tmp_path))) as con:
        con.execute(f"create or replace view {META_VIEW} as select 'x' as views_hash, 1 as x")
    assert not views_up_to_date(tmp_path)
    build_warehouse(tmp_path)
    assert views_up_to_date(tmp_path)
    (tmp_path / "runs" / f"v{SCHEMA_VERSION}" / "_placeholder.parquet").unlink()
    assert not views_up_to_date(tmp_path)


def test_render_views_quotes_paths(tmp_path: Path) -> None:
    data_dir = tmp_path / "it's here"
    ddl = "\n".join(warehouse_ddl(data_dir))
    assert "it''s here/lake/batch=*/version=*/documents/*.parquet" in ddl
    assert build_warehouse(data_dir) == list(VIEW_NAMES)


def test_file_is_readable_by_older_duckdb(tmp_path: Path) -> None:
    # A file created with 2.0's default storage format is recreated in the compatible one.
    duckdb.connect(str(warehouse_path(tmp_path))).close()
    build_warehouse(tmp_path)
    with duckdb.connect(str(warehouse_path(tmp_path)), read_only=True) as con:
        tags = rows(
            con,
            "select tags['storage_version'] from duckdb_databases() "
            "where database_name = current_database()",
        )
    assert tags == [("v1.0.0+",)]


def test_connect_read_only_without_warehouse(tmp_path: Path) -> None:
    with pytest.raises(WarehouseMissing, match="docmill views"):
        connect_read_only(tmp_path)


@pytest.fixture
def writer_holding_lock(data_dir: Path) -> Iterator[None]:
    with warehouse_held_open(warehouse_path(data_dir)):
        yield


@pytest.mark.usefixtures("writer_holding_lock")
def test_read_only_query_while_writer_holds_file(data_dir: Path) -> None:
    with connect_read_only(data_dir) as con:
        assert rows(con, "select count(*) from documents") == [(4,)]
        assert rows(con, "select count(*) from entity_counts") == [(4,)]


@pytest.mark.usefixtures("writer_holding_lock")
def test_build_gives_up_with_warehouse_busy(data_dir: Path) -> None:
    with pytest.raises(WarehouseBusy, match="locked by another process"):
        build_warehouse(data_dir, lock_timeout_s=0.3)


def test_query_from_another_working_directory(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with duckdb.connect(str(warehouse_path(data_dir)), read_only=True) as con:
        assert rows(con, "select count(*) from tokens") == [(32,)]
    assert json.loads(run_query(data_dir, "select count(*) as n from documents", fmt="json")) == [
        {"n": 4}
    ]


def test_relative_data_dir_builds_absolute_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    build_sample_lake(Path("rel"))
    build_warehouse(Path("rel"))
    monkeypatch.chdir(tmp_path / "rel" / "lake")
    with duckdb.connect(str(tmp_path / "rel" / "warehouse.duckdb"), read_only=True) as con:
        assert rows(con, "select count(*) from documents") == [(4,)]


def test_run_query_table_format(data_dir: Path) -> None:
    out = run_query(
        data_dir,
        "select doc_id, n_chars, text from documents order by doc_id",
        fmt="table",
        max_cell_width=12,
    )
    lines = out.splitlines()
    assert lines[0].split(" | ") == ["doc_id", "n_chars", "text"]
    assert set(lines[1]) <= {"-", "+"}
    assert "Xi Jinping …" in lines[2]
    assert lines[-1] == "(4 rows)"
    assert len({line.index(" | ") for line in [lines[0], *lines[2:-1]]}) == 1
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


def test_a_batch_written_before_schema_2_still_reads_through_every_view(tmp_path: Path) -> None:
    """A version 1 batch has no cleaning or signatures tables and none of the columns version 2
    added (language score, duplicates, quality); the views must bind and show NULLs."""
    import pyarrow.parquet as pq

    from docmill.tasks import schemas

    data_dir = tmp_path / "data"
    version_dir = write_version(
        data_dir, batch_id="old", version=V1, docs=[Doc("d1", ["Xi Jinping spoke ."], [XI])]
    )
    for table in ("cleaning", "signatures"):
        for path in (version_dir / table).glob("*.parquet"):
            path.unlink()
        (version_dir / table).rmdir()
    documents_v2 = {"lang_score", "duplicate_kind", "duplicate_similarity", "not_tagged_reason"}
    documents_v2 |= {name for name, _ in schemas.QUALITY_FIELDS} | {"extraction"}
    v2_columns = {"documents": documents_v2, "paragraphs": {"lang", "lang_score"}}
    # Version 1 named its files part-<n>.parquet, without the schema version.
    for table_dir in version_dir.iterdir():
        for path in table_dir.glob("*.parquet"):
            old = pq.read_table(path)
            v2_only = [c for c in old.column_names if c in v2_columns.get(table_dir.name, ())]
            pq.write_table(old.drop_columns(v2_only), table_dir / "part-00000.parquet")
            path.unlink()
    build_warehouse(data_dir)
    con = connect_read_only(data_dir)
    try:
        for view in VIEW_NAMES:
            con.execute(f'select * from "{view}"').fetchall()
        assert con.execute("select doc_id, duplicate_kind, n_words from documents").fetchall() == [
            ("d1", None, None)
        ]
        assert con.execute("select count(*) from duplicates").fetchone() == (0,)
        assert con.execute("select count(*) from entities").fetchone() == (1,)
    finally:
        con.close()


def test_batches_of_two_schema_versions_read_through_every_view(tmp_path: Path) -> None:
    """A batch written by the next schema version (an added column, files named v<N+1>-…)
    and one of the current version: both read, the older one with NULL in the new column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data_dir = tmp_path / "data"
    write_version(
        data_dir, batch_id="now", version=V1, docs=[Doc("d1", ["Xi Jinping spoke ."], [XI])]
    )
    newer = write_version(
        data_dir, batch_id="next", version=V2, docs=[Doc("d2", ["Sergey Lavrov spoke ."], [LAVROV])]
    )
    for table_dir in newer.iterdir():
        for path in table_dir.glob("*.parquet"):
            table = pq.read_table(path)
            if table_dir.name == "documents":
                table = table.append_column("sentiment", pa.array([0.25], pa.float32()))
            pq.write_table(table, table_dir / f"v{SCHEMA_VERSION + 1}-part-00000.parquet")
            path.unlink()
    build_warehouse(data_dir)
    with connect_read_only(data_dir) as con:
        for view in VIEW_NAMES:
            con.execute(f'select * from "{view}"').fetchall()
        assert rows(con, "select doc_id, sentiment from documents order by doc_id") == [
            ("d1", None),
            ("d2", 0.25),
        ]
        assert rows(con, "select doc_id, text from entities order by doc_id") == [
            ("d1", "Xi Jinping"),
            ("d2", "Sergey Lavrov"),
        ]


def test_views_bind_without_opening_every_file(tmp_path: Path) -> None:
    """Binding a view reads one footer per schema version, not one per file: a damaged file in
    another batch does not stop an analyst from describing the views."""
    data_dir = tmp_path / "data"
    write_version(
        data_dir, batch_id="good", version=V1, docs=[Doc("d1", ["Xi Jinping spoke ."], [XI])]
    )
    damaged = write_version(
        data_dir, batch_id="zz-damaged", version=V2, docs=[Doc("d2", ["Lavrov spoke ."])]
    )
    build_warehouse(data_dir)
    for path in (damaged / "documents").glob("*.parquet"):
        path.write_bytes(b"not parquet" * 10)
    with connect_read_only(data_dir) as con:
        columns = [row[0] for row in rows(con, "describe documents")]
        assert {"doc_id", "text", "lang_score"} <= set(columns)
        with pytest.raises(duckdb.Error):
            con.execute("select count(*) from documents").fetchall()


def _duckdb_cli() -> str:
    cli = Path(sys.executable).with_name("duckdb")
    if not cli.exists():
        if os.environ.get("CI"):
            pytest.fail("the DuckDB CLI (pip package duckdb-cli, a dev dependency) is missing")
        pytest.skip("the DuckDB CLI (pip package duckdb-cli) is not installed")
    return str(cli)


def _counts_in_cli(cli: str, warehouse: Path, cwd: Path) -> dict[str, int]:
    sql = " union all ".join(f"select '{view}', count(*) from \"{view}\"" for view in VIEW_NAMES)
    done = subprocess.run(
        [cli, "-readonly", "-csv", "-noheader", str(warehouse), "-c", sql],
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
    """The plain DuckDB CLI (1.5.x), started elsewhere, opens the file and runs every view."""
    cli = _duckdb_cli()
    with duckdb.connect(str(warehouse_path(data_dir)), read_only=True) as con:
        expected = {view: rows(con, f'select count(*) from "{view}"')[0][0] for view in VIEW_NAMES}
    assert _counts_in_cli(cli, warehouse_path(data_dir), cwd=tmp_path) == expected
    assert expected["documents"] == 4 and expected["entities"] > 0


def test_a_moved_data_directory_is_repaired_by_docmill_views(tmp_path: Path) -> None:
    from docmill.flows.cli import main

    old = tmp_path / "old"
    build_sample_lake(old)
    build_warehouse(old)
    with connect_read_only(old) as con:
        expected = rows(con, "select doc_id, batch_id, n_entities from documents order by 1")
    new = tmp_path / "moved" / "data"
    new.parent.mkdir()
    shutil.move(old, new)
    with (
        duckdb.connect(str(warehouse_path(new)), read_only=True) as con,
        pytest.raises(duckdb.Error, match="No files found"),
    ):
        con.execute("select * from documents").fetchall()
    assert main(["views", "--data-dir", str(new)]) == 0
    with duckdb.connect(str(warehouse_path(new)), read_only=True) as con:
        assert rows(con, "select doc_id, batch_id, n_entities from documents order by 1") == (
            expected
        )
