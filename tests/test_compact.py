"""Compaction: few large files instead of many small ones, and not a row of any view changes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from lake_factory import Doc, Mention, write_run, write_version

from docmill.tasks import store
from docmill.tasks.schemas import SCHEMA_VERSION
from docmill.warehouse import compact, lake_scan
from docmill.warehouse.build import VIEW_NAMES, build_warehouse
from docmill.warehouse.query import connect_read_only

XI = Mention(0, "Xi Jinping", "PERSON")
LAVROV = Mention(0, "Sergey Lavrov", "PERSON", canonical="Lavrov")
SEOUL = Mention(1, "Seoul", "GPE")


def version(n: int) -> str:
    return f"202601{n:02d}T000000000000Z-{n:08d}"


def build_lake(data_dir: Path, n_batches: int = 6) -> None:
    """Several batches, each with a reject; b0 published twice; d-shared in b0 and again in
    the last batch, which `documents` shows."""
    for b in range(n_batches):
        docs = [
            Doc(
                f"d{b}-{i}", ["Xi Jinping met Sergey Lavrov .", "Then Seoul ."], [XI, LAVROV, SEOUL]
            )
            for i in range(3)
        ]
        if b in (0, n_batches - 1):
            docs.append(Doc("d-shared", [f"Lavrov in Seoul for batch {b} ."], []))
        write_version(
            data_dir,
            batch_id=f"b{b}",
            version=version(b + 2),
            docs=docs,
            rejects=[{"source_uri": f"file:///in/{b}.bin", "reason": "binary", "detail": "NUL"}],
        )
        write_run(data_dir, run_id=f"run-{b}", batch_id=f"b{b}", status="completed")
    write_version(data_dir, batch_id="b0", version=version(1), docs=[Doc("d-old", ["Old ."])])
    build_warehouse(data_dir)


def view_contents(data_dir: Path) -> dict[str, list[tuple]]:
    with connect_read_only(data_dir) as con:
        return {
            view: sorted(con.execute(f'select * from "{view}"').fetchall(), key=repr)
            for view in VIEW_NAMES
        }


def loose_files(data_dir: Path) -> list[Path]:
    """Loose files of current batch versions (superseded ones are the batch GC's business)."""
    current = store.current_version_dirs(store.Layout(data_dir)).values()
    return [
        path
        for version_dir in current
        for table in lake_scan.VIEW_TABLES
        for path in (version_dir / table).glob("*.parquet")
    ]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    return data_dir


def test_compaction_changes_no_view_and_leaves_few_files(data_dir: Path) -> None:
    before = view_contents(data_dir)
    assert len(before["documents"]) == 19  # 6 x 3 + d-shared once
    result = compact.compact(data_dir, grace_seconds=0, row_group_rows=8)

    assert view_contents(data_dir) == before
    assert loose_files(data_dir) == []
    generation = lake_scan.generation_dir(store.Layout(data_dir), result.generation)
    assert result.batches == 6
    # b0's superseded version is not carried over; b0's copy of d-shared is (see below)
    assert result.tables["documents"].rows == 20
    assert result.tables["rejects"].rows == len(before["rejects"]) == 6
    for table in lake_scan.VIEW_TABLES:
        files = sorted((generation / table).glob("*.parquet"))
        assert [f.name for f in files] == [f"v{SCHEMA_VERSION}-part-00000.parquet"]
        sizes = [rg.num_rows for rg in _row_groups(files[0])]
        # every row group is full except the last
        assert all(size == 8 for size in sizes[:-1]), (table, sizes)
    # manifests' neighbours: the near-duplicate index stays with each batch
    assert list((data_dir / "lake").glob("batch=b1/version=*/signatures/*.parquet"))


def _row_groups(path: Path) -> list:
    metadata = pq.ParquetFile(path).metadata
    return [metadata.row_group(i) for i in range(metadata.num_row_groups)]


def test_compacted_rows_keep_documents_another_batch_shows(data_dir: Path) -> None:
    """Each batch's current version is kept whole: b5's copy of d-shared is what `documents`
    shows, but b0's copy stays stored, and reappears when b5 is published without it."""
    compact.compact(data_dir, grace_seconds=0)
    query = "select batch_id, text from documents where doc_id = 'd-shared'"
    with connect_read_only(data_dir) as con:
        assert con.execute(query).fetchall() == [("b5", "Lavrov in Seoul for batch 5 .")]
    write_version(data_dir, batch_id="b5", version=version(20), docs=[Doc("d-new", ["New ."])])
    with connect_read_only(data_dir) as con:
        assert con.execute(query).fetchall() == [("b0", "Lavrov in Seoul for batch 0 .")]
        spans = con.execute("select count(*) from tokens where doc_id = 'd-shared'").fetchone()
    assert spans == (7,)


def test_a_batch_published_after_compaction_replaces_its_compacted_version(
    data_dir: Path,
) -> None:
    compact.compact(data_dir, grace_seconds=0)
    write_version(
        data_dir, batch_id="b1", version=version(21), docs=[Doc("d1-new", ["Xi Jinping ."], [XI])]
    )
    expected = view_contents(data_dir)
    docs = [row[0] for row in expected["documents"] if row[0].startswith("d1")]
    assert docs == ["d1-new"]
    second = compact.compact(data_dir, grace_seconds=0)
    assert view_contents(data_dir) == expected
    assert lake_scan.generations(store.Layout(data_dir)) == [second.generation]


def test_within_the_grace_period_both_copies_exist_and_rows_count_once(data_dir: Path) -> None:
    before = view_contents(data_dir)
    result = compact.compact(data_dir, grace_seconds=3600)
    assert result.removed == []
    assert loose_files(data_dir)  # readers that listed them may still be reading
    assert view_contents(data_dir) == before
    removed = compact.collect_compaction_garbage(store.Layout(data_dir), grace_seconds=0)
    assert removed and loose_files(data_dir) == []
    assert view_contents(data_dir) == before


def test_readers_see_the_same_rows_throughout_a_compaction(data_dir: Path) -> None:
    """An analyst's process keeps querying while three compactions run: every answer is the
    one from before (no row missing or counted twice while generations appear)."""
    query = (
        "select (select count(*) from tokens), (select count(distinct doc_id) from documents), "
        "(select sum(mentions) from entity_counts), (select count(*) from rejects)"
    )
    with connect_read_only(data_dir) as con:
        expected = list(con.execute(query).fetchone())
    # The readers start on compacted data (loose copies gone), so new generations appear
    # beside one they are reading.
    compact.compact(data_dir, grace_seconds=0)
    stop = data_dir.parent / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(data_dir), query, str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(3):  # each keeps the files it replaces for running readers
            compact.compact(data_dir, grace_seconds=3600)
        time.sleep(0.5)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) > 3
    assert all(answer == expected for answer in answers), answers


def test_a_copy_that_appears_mid_query_is_not_the_one_read(data_dir: Path) -> None:
    """One query lists `batches.parquet` and the table files separately. A reader whose first
    listing already sees a new generation but whose second does not yet must still get every
    row: the views read the oldest copy of a version, which was in both listings."""
    before = view_contents(data_dir)
    compact.compact(data_dir, grace_seconds=3600)  # loose copies stay
    newest = lake_scan.generations(store.Layout(data_dir))[-1]
    seen_half = data_dir / "compacted" / "generation=29991231T000000000000Z-half"
    seen_half.mkdir()
    shutil.copy(
        lake_scan.generation_dir(store.Layout(data_dir), newest) / "batches.parquet", seen_half
    )
    assert view_contents(data_dir) == before


READER = """
import json, sys
from pathlib import Path
from docmill.warehouse.query import connect_read_only
data_dir, query, stop = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
while not stop.exists():
    with connect_read_only(data_dir) as con:
        print(json.dumps(list(con.execute(query).fetchone())), flush=True)
"""


def test_an_interrupted_compaction_changes_nothing_and_is_cleaned_up(data_dir: Path) -> None:
    before = view_contents(data_dir)
    stale = data_dir / "compacted" / ".tmp-20260101T000000000000Z-dead"
    (stale / "tokens").mkdir(parents=True)
    (stale / "tokens" / f"v{SCHEMA_VERSION}-part-00000.parquet").write_bytes(b"half a file")
    assert view_contents(data_dir) == before
    compact.compact(data_dir, grace_seconds=0)
    assert not stale.exists()
    assert view_contents(data_dir) == before


def test_a_second_compaction_at_the_same_time_is_refused(data_dir: Path) -> None:
    layout = store.Layout(data_dir)
    with (
        store.batch_lock(layout, "_compaction"),
        pytest.raises(compact.CompactionError, match="another compaction"),
    ):
        compact.compact(data_dir, grace_seconds=0)


def test_files_of_a_newer_schema_version_are_not_compacted(data_dir: Path) -> None:
    newer = next((data_dir / "lake" / "batch=b2").glob("version=*/documents"))
    for path in newer.glob("*.parquet"):
        path.rename(newer / f"v{SCHEMA_VERSION + 1}-part-00000.parquet")
    with pytest.raises(compact.CompactionError, match="newer than"):
        compact.compact(data_dir, grace_seconds=0)
    assert lake_scan.generations(store.Layout(data_dir)) == []


def test_files_from_before_versioned_names_are_rewritten(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    version_dir = write_version(
        data_dir, batch_id="old", version=version(1), docs=[Doc("d1", ["Xi Jinping ."], [XI])]
    )
    for path in version_dir.glob("*/*.parquet"):
        path.rename(path.with_name("part-00000.parquet"))
    build_warehouse(data_dir)
    before = view_contents(data_dir)
    compact.compact(data_dir, grace_seconds=0)
    assert list(version_dir.glob("*/part-*.parquet")) == list(
        version_dir.glob("signatures/part-*.parquet")
    )
    assert view_contents(data_dir) == before


def test_cli_compact(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from docmill.flows.cli import main

    before = view_contents(data_dir)
    assert main(["compact", "--data-dir", str(data_dir), "--grace-seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert "6 batches" in out and "tokens" in out and "replaced paths removed" in out
    assert view_contents(data_dir) == before
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from documents").fetchone() == (19,)


def test_cli_compact_without_a_lake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from docmill.flows.cli import main

    assert main(["compact", "--data-dir", str(tmp_path / "nothing")]) == 1
    assert "nothing to compact" in capsys.readouterr().err


@pytest.mark.prefect
@pytest.mark.model
def test_pipeline_batches_survive_compaction_and_a_rerun(prefect_server, tmp_path: Path) -> None:
    """Through the flows: process the seeds, compact (as the deployment does), rerun the batch
    with every shard recomputed: no duplicates, the views as before."""
    from conftest import SEEDS

    from docmill.flows.maintenance import compact_warehouse, rebuild_warehouse
    from docmill.flows.process import process_documents

    data_dir = str(tmp_path / "data")
    process_documents(sources=[str(SEEDS)], batch_id="seeds", data_dir=data_dir)
    before = view_contents(Path(data_dir))
    summary = compact_warehouse(data_dir=data_dir, grace_seconds=0)
    assert summary["batches"] == 1 and summary["tables"]["tokens"]["rows"] > 0
    assert view_contents(Path(data_dir)) == before
    process_documents(sources=[str(SEEDS)], batch_id="seeds", data_dir=data_dir, force=True)
    rebuild_warehouse(data_dir=data_dir)
    with connect_read_only(Path(data_dir)) as con:
        counts = con.execute("select count(*), count(distinct doc_id) from documents").fetchone()
        tokens = con.execute(
            "select count(*), count(distinct (doc_id, tok_idx)) from tokens"
        ).fetchone()
    assert counts[0] == counts[1] == len(before["documents"])
    assert tokens[0] == tokens[1] == len(before["tokens"])
