"""Upkeep of the lake (DuckLake's own): compaction gives few files and changes no view and no
answer of time travel; expiry and clean-up delete only what no kept snapshot needs; readers
see the same rows throughout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.lake_factory import LAVROV, XI, Doc, build_lake, version, write_version
from helpers.views import view_contents

from docmill.tasks import schemas
from docmill.tasks.lake import catalog, inlined
from docmill.tasks.lake.layout import Layout
from docmill.warehouse.build import VIEW_NAMES
from docmill.warehouse.query import connect_read_only, read_consistently
from docmill.warehouse.upkeep import ORPHAN_AGE, upkeep


def data_files(data_dir: Path) -> int:
    """Data files the current snapshot reads, over every stored table."""
    with connect_read_only(data_dir) as con:
        return sum(
            con.execute(
                "select count(*) from ducklake_list_files('docmill', ?, schema => 'stored')",
                [table],
            ).fetchone()[0]
            for table in schemas.STORED_TABLES
        )


def inlined_rows(data_dir: Path) -> int:
    with connect_read_only(data_dir) as con:
        return inlined.inlined_rows(con)


@pytest.fixture
def file_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every publish registers files (no inlining): the many-small-files lake."""
    monkeypatch.setenv(catalog.INLINE_ROWS_ENV, "0")
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    return data_dir


@pytest.fixture
def inlined_lake(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    return data_dir


def test_small_publishes_are_kept_in_the_catalog_until_compaction(inlined_lake: Path) -> None:
    assert inlined_rows(inlined_lake) > 0
    assert not list((inlined_lake / "tables").rglob("*.parquet"))
    before = view_contents(inlined_lake)
    result = upkeep(inlined_lake, merge=True, retention_days=30, grace_seconds=0)
    assert result.rows_flushed > 0
    assert inlined_rows(inlined_lake) == 0
    assert view_contents(inlined_lake) == before


def test_compaction_changes_no_view_and_leaves_few_files(file_lake: Path) -> None:
    before = view_contents(file_lake)
    files_before = data_files(file_lake)
    result = upkeep(file_lake, merge=True, retention_days=30, grace_seconds=0)
    assert sum(result.files_merged.values()) >= files_before - len(schemas.STORED_TABLES)
    assert data_files(file_lake) <= len(schemas.STORED_TABLES)
    assert view_contents(file_lake) == before


def test_time_travel_answers_as_before_after_compaction(file_lake: Path) -> None:
    """The first version of b0 is still readable at its snapshot after the merge."""
    with connect_read_only(file_lake) as con:
        [(first,)] = con.execute(
            "select min(snapshot_id) from docmill.snapshots() where commit_message like 'publish%'"
        ).fetchall()
    then = view_contents(file_lake, snapshot_version=first)
    assert [row[0] for row in then["documents"]] == ["d-old"]
    upkeep(file_lake, merge=True, retention_days=30, grace_seconds=0)
    assert view_contents(file_lake, snapshot_version=first) == then


def test_expiry_forgets_old_versions_and_cleanup_deletes_their_files(file_lake: Path) -> None:
    before = view_contents(file_lake)
    on_disk = len(list((file_lake / "tables").rglob("*.parquet")))
    result = upkeep(file_lake, merge=False, retention_days=0, grace_seconds=0)
    assert result.snapshots_expired > 0
    # b0's first version (d-old) was replaced: its files go, nothing current does.
    assert result.files_deleted > 0
    assert len(list((file_lake / "tables").rglob("*.parquet"))) == on_disk - result.files_deleted
    assert view_contents(file_lake) == before
    with connect_read_only(file_lake) as con:
        assert con.execute("select count(*) from docmill.snapshots()").fetchone() == (1,)


def test_cleanup_keeps_files_within_the_grace_period(file_lake: Path) -> None:
    result = upkeep(file_lake, merge=True, retention_days=0, grace_seconds=3600)
    assert result.files_deleted == 0
    assert view_contents(file_lake)["documents"]


def test_orphans_of_a_killed_publish_go_once_a_day_old(file_lake: Path) -> None:
    folder = file_lake / "tables" / "stored" / "tokens"
    old, fresh = folder / "docmill-dead-1.parquet", folder / "docmill-dead-2.parquet"
    for orphan in (old, fresh):
        orphan.write_bytes(next(folder.glob("*.parquet")).read_bytes())
    day_ago = time.time() - ORPHAN_AGE.total_seconds() - 60
    os.utime(old, (day_ago, day_ago))
    before = view_contents(file_lake)
    result = upkeep(file_lake, merge=False, retention_days=30, grace_seconds=0)
    assert result.orphans_deleted == 1
    assert not old.exists() and fresh.exists()
    assert view_contents(file_lake) == before


# What `docmill sql --format json` runs, in a loop.
READER = """
import json, sys
from pathlib import Path
from docmill.warehouse.query import run_query
data_dir, query, stop = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
failures = 0
while not stop.exists():
    try:
        print(json.dumps(list(json.loads(run_query(data_dir, query, fmt="json"))[0].values())),
              flush=True)
    except Exception as err:
        failures += 1
        print("failed read:", err, file=sys.stderr, flush=True)
sys.exit(1 if failures else 0)
"""


def test_readers_see_the_same_rows_throughout_compaction_and_clean_up(file_lake: Path) -> None:
    """An analyst's process keeps querying while the lake is compacted, expired and cleaned:
    every answer is the one from before, and no read fails."""
    query = (
        "select (select count(*) from tokens), (select count(distinct doc_id) from documents), "
        "(select sum(mentions) from entity_counts), (select count(*) from rejects)"
    )
    with connect_read_only(file_lake) as con:
        expected = list(con.execute(query).fetchone())
    stop = file_lake.parent / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(file_lake), query, str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1)
        upkeep(file_lake, merge=True, retention_days=30, grace_seconds=3600)
        upkeep(file_lake, merge=False, retention_days=0, grace_seconds=0)
        time.sleep(1)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) >= 2
    assert all(answer == expected for answer in answers), answers


def test_a_read_that_overlaps_a_merge_is_done_again(file_lake: Path) -> None:
    """DuckLake 1.5.5 shows a transaction begun before a merge committed the merged tables as
    empty; read_consistently sees the merge's snapshot and reads again."""
    query = "select (select count(*) from stored.tokens), (select count(*) from stored.documents)"
    with connect_read_only(file_lake) as con:
        expected = con.execute(query).fetchone()
    answers = []

    def read(con):
        con.execute("select count(*) from stored.runs").fetchall()  # the snapshot is taken
        if not answers:
            upkeep(file_lake, merge=True, retention_days=30, grace_seconds=3600)
        answers.append(con.execute(query).fetchone())
        return answers[-1]

    with connect_read_only(file_lake) as con:
        assert read_consistently(con, read) == expected
    assert len(answers) == 2
    assert answers[0] != expected, "DuckLake no longer hides merged tables; see read_consistently"


def test_cli_compact(file_lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from docmill.flows.cli import main

    before = view_contents(file_lake)
    assert main(["compact", "--data-dir", str(file_lake), "--grace-seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert "files merged" in out and "tokens" in out and "unused files deleted" in out
    assert view_contents(file_lake) == before


def test_cli_compact_without_a_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from docmill.flows.cli import main

    assert main(["compact", "--data-dir", str(tmp_path / "nothing")]) == 1
    assert "nothing to compact" in capsys.readouterr().err
    assert not Layout.at(tmp_path / "nothing").catalog.exists()


@pytest.mark.prefect
@pytest.mark.model
def test_pipeline_batches_survive_compaction_and_a_rerun(prefect_server, tmp_path: Path) -> None:
    """Through the flows: process the seeds, compact (as the deployment does), rerun the batch
    with every shard recomputed, run the maintenance flow: no duplicates, the views as before."""
    from conftest import SEEDS

    from docmill.flows.maintenance import compact_warehouse, rebuild_warehouse
    from docmill.flows.process import process_documents

    data_dir = str(tmp_path / "data")
    process_documents(sources=[str(SEEDS)], batch_id="seeds", data_dir=data_dir)
    before = view_contents(Path(data_dir))
    summary = compact_warehouse(data_dir=data_dir, grace_seconds=0)
    assert summary["rows_flushed"] + summary["files_merged"] > 0
    assert view_contents(Path(data_dir)) == before
    process_documents(sources=[str(SEEDS)], batch_id="seeds", data_dir=data_dir, force=True)
    result = rebuild_warehouse(data_dir=data_dir)
    assert result["views"] == list(VIEW_NAMES)
    with connect_read_only(Path(data_dir)) as con:
        counts = con.execute("select count(*), count(distinct doc_id) from documents").fetchone()
        tokens = con.execute(
            "select count(*), count(distinct (doc_id, tok_idx)) from tokens"
        ).fetchone()
    assert counts[0] == counts[1] == len(before["documents"])
    assert tokens[0] == tokens[1] == len(before["tokens"])


def test_other_clients_count_what_docmill_sql_counts_after_compaction(
    file_lake: Path, tmp_path: Path
) -> None:
    """Right after a rerun and right after compaction, the DuckDB CLI (attached as
    `docmill shell --print-sql` says) and pyarrow over `docmill export` count what
    `docmill sql` counts."""
    import csv
    import io

    import pyarrow.parquet as pq

    from docmill.warehouse.export import export_views
    from docmill.warehouse.shell import duckdb_cli, shell_statements

    views = ("documents", "sentences", "tokens", "entities", "rejects")

    def counts_everywhere(label: str) -> None:
        with connect_read_only(file_lake) as con:
            expected = {v: con.execute(f"select count(*) from {v}").fetchone()[0] for v in views}
        out = tmp_path / label
        exported = export_views(file_lake, list(views), out)
        assert {e.view: pq.read_table(e.path).num_rows for e in exported} == expected
        attach = " ".join(f"{s};" for s in shell_statements(file_lake))
        sql = " union all ".join(f"select '{v}', count(*) from {v}" for v in views)
        done = subprocess.run(
            [duckdb_cli(), "-csv", "-noheader", "-cmd", attach, "-c", sql],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert {v: int(n) for v, n in csv.reader(io.StringIO(done.stdout))} == expected

    write_version(
        file_lake,
        batch_id="b2",
        version=version(30),
        docs=[Doc("d2-0", ["Xi Jinping met Sergey Lavrov again ."], [XI, LAVROV])],
    )
    counts_everywhere("after-rerun")
    upkeep(file_lake, merge=True, retention_days=0, grace_seconds=0)
    counts_everywhere("after-compaction")
