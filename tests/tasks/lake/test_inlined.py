"""Rows kept in the catalog by data inlining: counted, and moved into Parquet by every upkeep,
the daily one (no merge) included; the views, time travel and the checksums agree after, and a
flush killed before its commit leaves the rows where they were."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers.lake_factory import build_lake, sample_docs, version, write_version
from helpers.views import view_contents

from docmill.tasks.lake import catalog, inlined
from docmill.tasks.lake.layout import Layout
from docmill.warehouse.check import check_lake
from docmill.warehouse.query import connect_read_only, read_consistently
from docmill.warehouse.upkeep import upkeep

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def kept_in_catalog(data_dir: Path, *, current_only: bool = True) -> int:
    with connect_read_only(data_dir) as con:
        return inlined.inlined_rows(con, current_only=current_only)


def parquet_files(data_dir: Path) -> int:
    return sum(1 for _ in (data_dir / "tables").rglob("*.parquet"))


def test_replaced_rows_stay_inlined_until_a_flush(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    current = kept_in_catalog(data_dir)
    assert current > 0
    # build_lake publishes b0 twice: its first version's rows are deleted but still kept.
    assert kept_in_catalog(data_dir, current_only=False) > current
    assert parquet_files(data_dir) == 0


def test_the_daily_upkeep_flushes_and_merges_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    before = view_contents(data_dir)
    result = upkeep(data_dir, merge=False, retention_days=30, grace_seconds=600)
    assert result.rows_flushed > 0
    assert result.files_merged == {}
    assert kept_in_catalog(data_dir, current_only=False) == 0
    assert view_contents(data_dir) == before
    # The flushed files are DuckDB's own: their checksums are recorded like a publish's.
    assert result.files_summed == parquet_files(data_dir) > 0
    assert check_lake(data_dir).ok


def test_time_travel_answers_as_before_after_a_flush(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    first = write_version(data_dir, batch_id="b1", version=version(40), docs=sample_docs("x", 2))
    at_first = view_contents(data_dir, snapshot_version=first.snapshot_id)
    write_version(data_dir, batch_id="b1", version=version(41), docs=sample_docs("y", 2))
    upkeep(data_dir, merge=False, retention_days=30, grace_seconds=600)
    assert view_contents(data_dir, snapshot_version=first.snapshot_id) == at_first
    assert view_contents(data_dir) != at_first


def test_a_read_that_overlaps_a_flush_is_done_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    query = "select (select count(*) from stored.tokens), (select count(*) from stored.entities)"
    with connect_read_only(data_dir) as con:
        expected = con.execute(query).fetchone()
    answers = []

    def read(con):
        con.execute("select count(*) from stored.runs").fetchall()  # the snapshot is taken
        if not answers:
            writer = catalog.connect(Layout.at(data_dir).catalog)
            try:
                assert inlined.flush(writer) > 0
            finally:
                writer.close()
        answers.append(con.execute(query).fetchone())
        return answers[-1]

    with connect_read_only(data_dir) as con:
        assert read_consistently(con, read) == expected
    assert len(answers) == 2


KILLED_FLUSH = """
import sys
from docmill.warehouse.upkeep import upkeep
upkeep(sys.argv[1], merge=False, retention_days=30, grace_seconds=600)
"""


def test_a_flush_killed_before_its_commit_keeps_the_rows_in_the_catalog(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    before = view_contents(data_dir)
    held = kept_in_catalog(data_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_FLUSH, str(data_dir)],
        env={**env, "DOCMILL_CRASH_AT": "flush_before_commit"},
        capture_output=True,
        cwd=PROJECT_ROOT,
    )
    assert killed.returncode == -9, killed.stderr
    assert kept_in_catalog(data_dir) == held
    assert view_contents(data_dir) == before
    assert check_lake(data_dir).ok
    # The next upkeep flushes them; the killed one's files are orphans, gone once a day old.
    assert upkeep(data_dir, merge=False, retention_days=30, grace_seconds=600).rows_flushed > 0
    assert view_contents(data_dir) == before
