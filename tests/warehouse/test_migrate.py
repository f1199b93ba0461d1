"""`docmill migrate` on a data directory written by docmill 0.1 (tests/fixtures/lake-0.1): every
view shows what the old views showed, nothing is deleted before the catalog is verified, and a
second run changes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from docmill.flows.cli import main
from docmill.warehouse import migrate
from docmill.warehouse.build import VIEW_NAMES
from docmill.warehouse.history import snapshots
from docmill.warehouse.query import connect_read_only

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "lake-0.1"
# The views whose rows are the stored data itself (the others are computed from these and may
# change meaning as the views evolve).
CORE_VIEWS = VIEW_NAMES[: VIEW_NAMES.index("doc_stats") + 1]


def view_digest(data_dir: Path, view: str, columns: list[str]) -> tuple[int, str]:
    with connect_read_only(data_dir) as con:
        names = ", ".join(f'"{c}"' for c in columns)
        rows = con.execute(f'select {names} from "{view}"').fetchall()
    lines = sorted(json.dumps(row, default=str, ensure_ascii=False) for row in rows)
    return len(rows), hashlib.sha256("\n".join(lines).encode()).hexdigest()


@pytest.fixture
def old_dir(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(
        FIXTURE, data_dir, ignore=shutil.ignore_patterns("expected_views.json", "README.md")
    )
    return data_dir


def test_every_view_shows_what_the_old_views_showed(old_dir: Path, capsys) -> None:
    expected = json.loads((FIXTURE / "expected_views.json").read_text())
    assert main(["migrate", "--data-dir", str(old_dir)]) == 0
    out = capsys.readouterr().out
    assert "2 batches migrated" in out and "3 runs" in out and "tokens 1,029" in out
    for view in CORE_VIEWS:
        want = expected[view]
        assert view_digest(old_dir, view, want["columns"]) == (want["rows"], want["sha256"]), view
    moved = list((old_dir / "_migrated").iterdir())
    assert len(moved) == 1 and {p.name for p in moved[0].iterdir()} == {"lake", "compacted", "runs"}
    assert not (old_dir / "lake").exists()
    # Each batch keeps its version, published oldest first.
    with connect_read_only(old_dir) as con:
        versions = dict(con.execute("select batch_id, version from stored.batches").fetchall())
    assert versions["seeds"].startswith("20261203T1856") and versions["wire"] > versions["seeds"]


def test_a_second_run_and_an_interrupted_one_are_completed_without_duplicates(
    old_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_retire = migrate._retire_old_layout
    monkeypatch.setattr(
        migrate, "_retire_old_layout", lambda *a, **k: (_ for _ in ()).throw(OSError("killed"))
    )
    with pytest.raises(OSError):
        migrate.migrate(old_dir)
    assert (old_dir / "lake").is_dir()  # nothing moved: the run stopped after verifying
    monkeypatch.setattr(migrate, "_retire_old_layout", real_retire)
    publishes = len(snapshots(old_dir, "seeds"))
    result = migrate.migrate(old_dir, remove_old=True)
    assert result.batches == [] and sorted(result.skipped) == ["seeds", "wire"]
    assert len(snapshots(old_dir, "seeds")) == publishes  # nothing published again
    assert result.removed and not (old_dir / "lake").exists()
    with connect_read_only(old_dir) as con:
        assert con.execute("select count(*) = count(distinct doc_id) from documents").fetchone()
        assert con.execute("select count(*) from runs").fetchone() == (3,)
    assert migrate.migrate(old_dir).batches == []  # nothing left to migrate


def test_a_damaged_old_file_stops_the_migration_and_keeps_everything(old_dir: Path) -> None:
    victim = next((old_dir / "lake" / "batch=wire").glob("version=*/tokens/*.parquet"))
    victim.write_bytes(b"not parquet")
    assert main(["migrate", "--data-dir", str(old_dir)]) == 1
    assert victim.exists() and (old_dir / "lake").is_dir()
    assert not (old_dir / "_migrated").exists()


def test_a_damaged_manifest_stops_the_migration_naming_it(old_dir: Path, capsys) -> None:
    manifest = sorted((old_dir / "lake" / "batch=wire").glob("version=*/_manifest.json"))[-1]
    manifest.write_text('{"items": [{"source_uri": ')
    assert main(["migrate", "--data-dir", str(old_dir)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"docmill: migration failed: the manifest {manifest} of batch wire")
    assert "not JSON" in last and "Restore the file from a backup, or delete it" in last
    assert (old_dir / "lake").is_dir() and not (old_dir / "_migrated").exists()
    # Deleted, as the line says: the batch migrates without its record of items.
    manifest.unlink()
    assert main(["migrate", "--data-dir", str(old_dir)]) == 0
    with connect_read_only(old_dir) as con:
        assert con.execute("select count(*) from stored.batches").fetchone() == (2,)


def test_nothing_to_migrate(tmp_path: Path, capsys) -> None:
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    assert "nothing to migrate" in capsys.readouterr().out
