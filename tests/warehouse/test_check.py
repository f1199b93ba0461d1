"""`docmill check`: a published file that is missing, cut short or has a flipped byte is found
and named with its batch; `--repair` takes the batch out of every table at once and stages its
items for a rerun; the maintenance flow fails loudly on damage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.lake_factory import (
    SAMPLE_LONG,
    V1,
    published_files,
    sample_docs,
    write_version,
)

from docmill.flows.cli import main
from docmill.tasks.lake import catalog, file_sums
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.staging import ShardWriter
from docmill.tasks.schemas import SENTENCES, unbatched
from docmill.warehouse.build import VIEW_NAMES, build_warehouse
from docmill.warehouse.check import check_lake, lake_files
from docmill.warehouse.query import connect_read_only
from docmill.warehouse.upkeep import upkeep


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("template") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(catalog.INLINE_ROWS_ENV, "0")
        for batch in ("b1", "b2"):
            write_version(data_dir, batch_id=batch, version=V1, docs=sample_docs(batch))
    build_warehouse(data_dir)
    return data_dir


@pytest.fixture
def data_dir(template: Path, tmp_path: Path) -> Path:
    shutil.copytree(template, tmp_path / "data")
    return tmp_path / "data"


def published(data_dir: Path, table: str, batch: str) -> Path:
    [path] = published_files(data_dir, table, batch)
    return path


def documents_text(data_dir: Path) -> list[tuple]:
    with connect_read_only(data_dir) as con:
        return con.execute("select doc_id, text from documents order by doc_id").fetchall()


def flip_a_byte_that_still_decodes(path: Path, column: str, read) -> None:
    """Flip one bit inside `column`'s pages such that `read()` still succeeds but returns other
    values: the corruption a reader without page checksums serves silently."""
    original = path.read_bytes()
    expected = read()
    chunk = pq.ParquetFile(path).metadata.row_group(0)
    [meta] = [
        chunk.column(i)
        for i in range(chunk.num_columns)
        if chunk.column(i).path_in_schema == column
    ]
    start = meta.dictionary_page_offset or meta.data_page_offset
    for position in range(start + meta.total_compressed_size - 1, start, -7):
        damaged = bytearray(original)
        damaged[position] ^= 0x04
        path.write_bytes(bytes(damaged))
        try:
            if read() != expected:
                return
        except duckdb.Error:
            pass
    path.write_bytes(original)
    raise AssertionError(f"no single flipped bit in {column} of {path} decodes to other values")


def test_shard_files_carry_page_checksums(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path / "shard", batch_id="b")
    rows = [
        {
            "doc_id": "d",
            "sent_idx": n,
            "para_idx": n,
            "start_char": 0,
            "end_char": 1,
            "n_tokens": 1,
            "text": f"{SAMPLE_LONG} {n}",
        }
        for n in range(200)
    ]
    writer.write("sentences", pa.Table.from_pylist(rows, schema=unbatched(SENTENCES)))
    writer.commit({})
    path = tmp_path / "shard" / "sentences.parquet"

    def read() -> list:
        return pq.read_table(path, columns=["text"]).column("text").to_pylist()

    flip_a_byte_that_still_decodes(path, "text", read)
    with pytest.raises(OSError, match="CRC"):
        pq.read_table(path, page_checksum_verification=True)


def test_duckdb_does_not_verify_page_checksums(data_dir: Path) -> None:
    """The measurement behind the docs: DuckDB 1.5.5 serves a flipped byte as other text."""
    before = documents_text(data_dir)
    flip_a_byte_that_still_decodes(
        published(data_dir, "documents", "b1"), "text", lambda: documents_text(data_dir)
    )
    after = documents_text(data_dir)
    assert len(after) == len(before) and after != before


def flipped(data_dir: Path) -> None:
    flip_a_byte_that_still_decodes(
        published(data_dir, "documents", "b1"), "text", lambda: documents_text(data_dir)
    )


def removed(data_dir: Path) -> None:
    published(data_dir, "entities", "b1").unlink()


def cut_short(data_dir: Path) -> None:
    path = published(data_dir, "tokens", "b1")
    path.write_bytes(path.read_bytes()[:-100])


def folder_removed(data_dir: Path) -> None:
    shutil.rmtree(data_dir / "tables" / "stored" / "entities")


DAMAGES = [
    (flipped, "documents", ["differ from the checksum recorded"], ["b1"]),
    (removed, "entities", ["missing"], ["b1"]),
    (cut_short, "tokens", ["bytes, the catalog recorded"], ["b1"]),
    (folder_removed, "entities", ["missing"], ["b1", "b2"]),
]


@pytest.mark.parametrize(
    ("damage", "table", "words", "batches"), DAMAGES, ids=[d[0].__name__ for d in DAMAGES]
)
def test_check_names_each_damaged_file_and_its_batch(
    data_dir: Path, capsys, damage, table: str, words: list[str], batches: list[str]
) -> None:
    damage(data_dir)
    assert main(["check", "--data-dir", str(data_dir)]) == 1
    out = capsys.readouterr().out
    damaged = [line for line in out.splitlines() if line.startswith(f"  {table} ")]
    assert len(damaged) == len(batches)
    for line, batch in zip(damaged, batches, strict=True):
        assert f"/{table}/ducklake-" in line and line.endswith(f"(batch {batch})")
        for word in words:
            assert word in line
    assert f"damaged: {len(batches)} file" in out and "--repair" in out


def test_check_of_a_sound_lake(data_dir: Path, capsys) -> None:
    assert main(["check", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "no damage found" in out
    report = check_lake(data_dir)
    # every stored table of both batches, plus the runs, batches and last_publish rows
    assert report.ok and report.rows >= 2 * 40 * 3


def view_rows(data_dir: Path) -> dict[str, list[tuple]]:
    with connect_read_only(data_dir) as con:
        return {
            view: sorted(con.execute(f'select * from "{view}"').fetchall(), key=repr)
            for view in VIEW_NAMES
        }


@pytest.mark.parametrize("damage", [flipped, removed, cut_short], ids=lambda d: d.__name__)
def test_repair_takes_the_batch_out_of_every_table_and_stages_its_items(
    data_dir: Path, capsys, damage
) -> None:
    damage(data_dir)
    assert main(["check", "--repair", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "removed batch b1" in out and f"docmill run --batch-id b1 --data-dir {data_dir}" in out
    with connect_read_only(data_dir) as con:
        for table in ("documents", "paragraphs", "sentences", "tokens", "entities", "batches"):
            [(left,)] = con.execute(
                f"select count(*) from stored.{table} where batch_id = 'b1'"
            ).fetchall()
            assert left == 0, table
        assert con.execute("select count(*) from documents").fetchall() == [(40,)]
        message = con.execute(
            "select commit_message from docmill.snapshots() order by snapshot_id desc limit 1"
        ).fetchall()
        assert message == [("repair: remove b1",)]
    view_rows(data_dir)  # every view answers
    plan = json.loads((data_dir / "_staging" / "b1" / "plan.json").read_text())
    assert plan["batch_id"] == "b1"
    assert check_lake(data_dir).ok
    assert len(list((data_dir / "_damaged").rglob("*.parquet"))) == (damage is not removed)
    upkeep(data_dir, merge=True, retention_days=0, grace_seconds=0)
    assert check_lake(data_dir).ok


def merged_file(data_dir: Path, table: str) -> Path:
    """The one file compaction merged `table`'s two batches into."""
    with connect_read_only(data_dir) as con:
        [merged] = [f for f in lake_files(con) if f.table == table and f.kind == "data"]
    assert merged.batch_range == ("b1", "b2")
    return Path(merged.path)


def test_a_flipped_byte_in_a_merged_file_is_found(data_dir: Path, capsys) -> None:
    """Compaction's files are DuckDB's, with no page checksums: their digests are recorded."""
    result = upkeep(data_dir, merge=True, retention_days=30, grace_seconds=3600)
    assert result.files_summed >= len(result.files_written)
    flip_a_byte_that_still_decodes(
        merged_file(data_dir, "documents"), "text", lambda: documents_text(data_dir)
    )
    assert main(["check", "--data-dir", str(data_dir)]) == 1
    [line] = [line for line in capsys.readouterr().out.splitlines() if "  documents " in line]
    assert "differ from the checksum recorded" in line and line.endswith("(batch b1, b2)")


def test_repair_of_a_merged_file_takes_out_every_batch_it_held(data_dir: Path, capsys) -> None:
    upkeep(data_dir, merge=True, retention_days=30, grace_seconds=3600)
    merged_file(data_dir, "entities").unlink()
    assert main(["check", "--data-dir", str(data_dir)]) == 1
    assert "(batch b1, b2)" in capsys.readouterr().out
    assert main(["check", "--repair", "--data-dir", str(data_dir)]) == 0
    assert "removed batches b1, b2" in capsys.readouterr().out
    rows = view_rows(data_dir)
    assert rows["documents"] == [] and rows["entities"] == [] and rows["tokens"] == []


def test_repair_refuses_what_it_cannot_mend(data_dir: Path, capsys) -> None:
    """A lost file of the runs table holds no batch: restoring a backup is the way."""
    upkeep(data_dir, merge=True, retention_days=30, grace_seconds=3600)
    for path in (data_dir / "tables" / "stored" / "batches").glob("*.parquet"):
        path.unlink()
    before = files_under(data_dir)
    assert main(["check", "--repair", "--data-dir", str(data_dir)]) == 1
    assert "backup" in capsys.readouterr().err.splitlines()[-1]
    assert files_under(data_dir) == before


def files_under(data_dir: Path) -> dict[str, bytes]:
    """Every file but the catalog's own (a reader may fold its write-ahead log in)."""
    return {
        str(path.relative_to(data_dir)): path.read_bytes()
        for path in sorted(data_dir.rglob("*"))
        if path.is_file() and not path.name.startswith(catalog.CATALOG_FILE)
    }


@pytest.mark.prefect
def test_the_maintenance_flow_fails_naming_the_damaged_batch(prefect_server, data_dir: Path):
    from docmill.flows.maintenance import rebuild_warehouse

    removed(data_dir)
    with pytest.raises(Exception, match=r"b1.*docmill check --repair"):
        rebuild_warehouse(data_dir=str(data_dir))


CONTENT = {
    "documents": "select doc_id, text from documents",
    "sentences": "select doc_id, sent_idx, text from sentences",
    "tokens": "select doc_id, tok_idx, text, lemma, pos from tokens",
    "entity_counts": "select canonical, label, mentions from entity_counts",
}


def content(data_dir: Path) -> dict[str, list[tuple]]:
    with connect_read_only(data_dir) as con:
        return {name: sorted(con.execute(sql).fetchall()) for name, sql in CONTENT.items()}


@pytest.mark.prefect
@pytest.mark.model
def test_a_repaired_batch_is_published_again_by_its_rerun(prefect_server, tmp_path: Path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for n in range(3):
        (inputs / f"{n}.txt").write_text(f"Xi Jinping met Han Duck-soo in Seoul, report {n}.\n")
    data_dir = tmp_path / "data"
    args = ["--batch-id", "news", "--data-dir", str(data_dir)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(catalog.INLINE_ROWS_ENV, "0")
        assert main(["run", str(inputs), *args]) == 0
        before = content(data_dir)
        published(data_dir, "tokens", "news").unlink()
        assert main(["check", "--repair", "--data-dir", str(data_dir)]) == 0
        assert content(data_dir)["documents"] == []
        assert main(["run", *args]) == 0
    assert main(["check", "--data-dir", str(data_dir)]) == 0
    assert content(data_dir) == before
    assert not Layout.at(data_dir).staging("news").exists()


def test_upkeep_folds_the_checksum_records_into_one_of_the_files_listed(data_dir: Path) -> None:
    assert len(list((data_dir / file_sums.FOLDER).glob("*.json"))) >= 2  # one per publish
    upkeep(data_dir, merge=True, retention_days=0, grace_seconds=0)
    assert len(list((data_dir / file_sums.FOLDER).glob("*.json"))) == 1
    with connect_read_only(data_dir) as con:
        current = {Path(f.path).name for f in lake_files(con)}
    recorded = file_sums.recorded(data_dir)
    assert current and set(recorded) == current
    assert check_lake(data_dir).ok
