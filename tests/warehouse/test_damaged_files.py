"""A damaged data file fails only the queries that need its batch, with a message naming the
batch and the file; superseded versions are never read; other batches go on being queried and
republished."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers.lake_factory import V1, published_files, sample_docs, write_version

from docmill.flows.cli import main
from docmill.tasks.lake import catalog
from docmill.tasks.schemas import BATCH_TABLES
from docmill.warehouse.build import VIEW_NAMES, build_warehouse
from docmill.warehouse.history import snapshots
from docmill.warehouse.query import connect_read_only

V2 = "20260102T000000000000Z-00000002"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """b1 published twice (V1 superseded by V2), b2 once; every table in files."""
    data_dir = tmp_path_factory.mktemp("template") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(catalog.INLINE_ROWS_ENV, "0")
        write_version(data_dir, batch_id="b1", version=V1, docs=sample_docs("b1", 30))
        write_version(data_dir, batch_id="b1", version=V2, docs=sample_docs("b1", 40))
        write_version(data_dir, batch_id="b2", version=V1, docs=sample_docs("b2", 40))
    build_warehouse(data_dir)
    return data_dir


@pytest.fixture
def data_dir(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(catalog.INLINE_ROWS_ENV, "0")
    shutil.copytree(template, tmp_path / "data")
    return tmp_path / "data"


def published(data_dir: Path, table: str, batch: str) -> Path:
    """The file of `table` that the current version of `batch` was published as."""
    [path] = published_files(data_dir, table, batch)
    return path


def sql(data_dir: Path, query: str) -> list[str]:
    return ["sql", query, "--data-dir", str(data_dir), "--format", "csv"]


def test_a_superseded_version_is_never_read(data_dir: Path, capsys) -> None:
    superseded = [
        path
        for table in BATCH_TABLES
        for path in published_files(data_dir, table, "b1", superseded=True)
    ]
    assert len(superseded) >= 5
    for path in superseded:
        path.write_bytes(b"garbage")
    for view in VIEW_NAMES:
        assert main(sql(data_dir, f'select count(*) from "{view}"')) == 0, view
    capsys.readouterr()
    assert main(["check", "--data-dir", str(data_dir)]) == 0
    # Time travel to the superseded version does read them, and says so.
    first = snapshots(data_dir, "b1")[0].snapshot_id
    # (max(text), not count(*): DuckLake counts from the catalog without opening a file)
    assert main([*sql(data_dir, "select max(text) from tokens"), "--snapshot", str(first)]) == 1
    assert "of batch b1" in capsys.readouterr().err


def missing(path: Path) -> None:
    path.unlink()


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def pages_zeroed(path: Path) -> None:
    """The first 200 bytes of the text column's pages zeroed: DuckDB's message
    ("TProtocolException: Invalid data") names no file."""
    chunk = pq.ParquetFile(path).metadata.row_group(0)
    columns = [chunk.column(i) for i in range(chunk.num_columns)]
    [text] = [column for column in columns if column.path_in_schema == "text"]
    start = text.dictionary_page_offset or text.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 200] = bytes(200)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [missing, cut_short, pages_zeroed], ids=lambda d: d.__name__)
def test_only_queries_that_need_the_batch_fail_and_they_name_it(
    data_dir: Path, capsys, damage
) -> None:
    path = published(data_dir, "tokens", "b1")
    damage(path)
    assert main(sql(data_dir, "select max(text) from tokens")) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("docmill: query failed: the tokens file ")
    assert str(path) in line and "of batch b1" in line and "docmill check" in line
    # Files of other batches are skipped by their batch_id (and doc_id) statistics.
    for query, expected in (
        ("select count(*) as n from tokens where batch_id = 'b2'", "n\n840\n"),
        ("select count(*) as n from tokens where doc_id = 'b2-d1'", "n\n21\n"),
        ("select count(*) as n from documents", "n\n80\n"),
        ("select count(*) as n from entities", "n\n80\n"),
    ):
        assert main(sql(data_dir, query)) == 0, capsys.readouterr().err
        assert capsys.readouterr().out == expected


def test_other_batches_publish_while_one_is_damaged_and_it_after_repair(
    data_dir: Path, capsys
) -> None:
    published(data_dir, "tokens", "b1").unlink()
    write_version(data_dir, batch_id="b2", version=V2, docs=sample_docs("b2", 10))
    # Replacing b1 must delete its rows, and DuckLake reads a file to delete from it.
    with pytest.raises(Exception, match="/tokens/ducklake-"):
        write_version(
            data_dir, batch_id="b1", version="20260103T000000000000Z-3", docs=sample_docs("b1")
        )
    assert main(["check", "--repair", "--data-dir", str(data_dir)]) == 0
    write_version(
        data_dir, batch_id="b1", version="20260103T000000000000Z-3", docs=sample_docs("b1")
    )
    with connect_read_only(data_dir) as con:
        counts = con.execute("select batch_id, count(*) from documents group by 1 order by 1")
        assert counts.fetchall() == [("b1", 40), ("b2", 10)]
