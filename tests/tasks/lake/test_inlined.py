"""A publish moves the catalog's inlined rows into Parquet once there are more than
DOCMILL_FLUSH_ROWS of them, after its own commit: the batch is published either way, every view
and every earlier snapshot answer as before, and the new files get their checksums."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from helpers.lake_factory import Doc, build_lake, sample_docs, version, write_version
from helpers.views import view_contents

from docmill.tasks.lake import catalog, inlined
from docmill.tasks.lake.catalog import CatalogError
from docmill.tasks.lake.layout import Layout
from docmill.warehouse.check import check_lake
from docmill.warehouse.query import connect_read_only

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def kept_in_catalog(data_dir: Path, *, current_only: bool = True) -> int:
    with connect_read_only(data_dir) as con:
        return inlined.inlined_rows(con, current_only=current_only)


def parquet_files(data_dir: Path) -> int:
    return sum(1 for _ in (data_dir / "tables").rglob("*.parquet"))


def test_small_publishes_stay_inlined_below_the_limit(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    assert kept_in_catalog(data_dir) > 0
    assert parquet_files(data_dir) == 0


def test_the_publish_that_passes_the_limit_flushes_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    held = kept_in_catalog(data_dir, current_only=False)
    monkeypatch.setenv(inlined.FLUSH_ROWS_ENV, str(held + 10))
    untouched = view_contents(data_dir)
    small = write_version(
        data_dir, batch_id="late", version=version(40), docs=[Doc("late-0", ["Late ."])]
    )
    assert small.rows_flushed == 0
    assert kept_in_catalog(data_dir) > 0
    with_late = view_contents(data_dir)
    assert with_late != untouched

    big = write_version(data_dir, batch_id="later", version=version(41), docs=sample_docs("l", 3))
    assert big.flush_problem is None
    assert big.rows_flushed >= held
    assert kept_in_catalog(data_dir, current_only=False) == 0
    assert parquet_files(data_dir) > 0
    with connect_read_only(data_dir) as con:
        batches = {
            row[0] for row in con.execute("select distinct batch_id from documents").fetchall()
        }
    assert {"late", "later"} <= batches
    # The flushed files are checked against recorded sums like any published file.
    assert big.files_summed >= parquet_files(data_dir) - 1
    assert check_lake(data_dir).ok


def test_time_travel_answers_as_before_after_a_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    first = write_version(data_dir, batch_id="b1", version=version(40), docs=sample_docs("x", 2))
    at_first = view_contents(data_dir, snapshot_version=first.snapshot_id)
    monkeypatch.setenv(inlined.FLUSH_ROWS_ENV, "1")
    second = write_version(data_dir, batch_id="b1", version=version(41), docs=sample_docs("y", 2))
    assert second.rows_flushed > 0
    assert view_contents(data_dir, snapshot_version=first.snapshot_id) == at_first
    assert view_contents(data_dir) != at_first


def test_zero_leaves_inlined_rows_to_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(inlined.FLUSH_ROWS_ENV, "0")
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    published = write_version(data_dir, batch_id="z", version=version(40), docs=sample_docs("z"))
    assert published.rows_flushed == 0
    assert kept_in_catalog(data_dir) > 0


@pytest.mark.parametrize("value", ["-1", "lots", "1.5"])
def test_a_bad_limit_is_refused_before_anything_is_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    before = view_contents(data_dir)
    monkeypatch.setenv(inlined.FLUSH_ROWS_ENV, value)
    with pytest.raises(CatalogError, match=inlined.FLUSH_ROWS_ENV):
        write_version(data_dir, batch_id="b9", version=version(40), docs=sample_docs("b9"))
    assert view_contents(data_dir) == before


def test_a_flush_that_fails_leaves_the_batch_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)

    def disk_full(con: duckdb.DuckDBPyConnection) -> int:
        raise duckdb.IOException("Could not write file: No space left on device")

    monkeypatch.setenv(inlined.FLUSH_ROWS_ENV, "1")
    monkeypatch.setattr(inlined, "flush", disk_full)
    published = write_version(data_dir, batch_id="f", version=version(40), docs=sample_docs("f"))
    assert published.rows_flushed == 0
    assert "No space left on device" in (published.flush_problem or "")
    with connect_read_only(data_dir) as con:
        assert con.execute("select count(*) from documents where batch_id = 'f'").fetchone()[0] > 0
    assert kept_in_catalog(data_dir) > 0


KILLED_FLUSH = """
import sys
from helpers.lake_factory import sample_docs, version, write_version
write_version(sys.argv[1], batch_id="k", version=version(40), docs=sample_docs("k"))
"""


def test_a_flush_killed_before_its_commit_leaves_the_published_batch_and_its_rows(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    env = {
        **os.environ,
        inlined.FLUSH_ROWS_ENV: "1",
        "DOCMILL_CRASH_AT": "flush_before_commit",
        "PYTHONPATH": os.pathsep.join(
            [str(PROJECT_ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    env.pop(catalog.CATALOG_ENV, None)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_FLUSH, str(data_dir)], env=env, capture_output=True
    )
    assert killed.returncode == -9, killed.stderr
    with connect_read_only(data_dir) as con:
        assert con.execute("select count(*) from documents where batch_id = 'k'").fetchone()[0] > 0
    assert kept_in_catalog(data_dir) > 0
    assert check_lake(data_dir).ok


def test_a_transaction_that_began_before_a_flush_still_sees_every_row(tmp_path: Path) -> None:
    """Unlike a merge of files (tests/warehouse/test_upkeep.py), a flush is safe for any reader:
    a query or transaction of any client that began before it reads every row, so a run's
    flush needs no caution from readers outside docmill."""
    data_dir = tmp_path / "data"
    build_lake(data_dir)
    counts = "select (select count(*) from stored.tokens), (select count(*) from stored.entities)"
    with connect_read_only(data_dir) as reader:
        expected = reader.execute(counts).fetchone()
        reader.execute("begin transaction")
        reader.execute("select count(*) from stored.batches").fetchone()
        writer = catalog.connect(Layout.at(data_dir).catalog)
        try:
            assert inlined.flush(writer) > 0
        finally:
            writer.close()
        assert reader.execute(counts).fetchone() == expected
        reader.execute("commit")
        assert reader.execute(counts).fetchone() == expected
    assert kept_in_catalog(data_dir) == 0
