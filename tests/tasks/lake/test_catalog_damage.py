"""The catalog is the lake's data, not a cache: a damaged or lost catalog gives one line naming the
file and what to do, and nothing writes over it or starts a new lake beside its data files. Views
dropped or garbled in the catalog are rebuilt; a run never records failure for a batch it
published."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.lake_factory import Doc, Mention, write_version

from docmill.flows.cli import main
from docmill.tasks.lake import catalog
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.publish import publish_batch, write_run_record
from docmill.warehouse.build import build_warehouse, views_up_to_date
from docmill.warehouse.query import connect_read_only

V1 = "20260101T000000000000Z-00000001"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("template") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(catalog.INLINE_ROWS_ENV, "0")
        write_version(
            data_dir,
            batch_id="b1",
            version=V1,
            docs=[Doc("d1", ["Xi Jinping visited Seoul ."], [Mention(0, "Xi Jinping", "PERSON")])],
        )
    build_warehouse(data_dir)
    return data_dir


@pytest.fixture
def data_dir(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(template, copy)
    return copy


def garbage_header(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[:16] = b"not a database!!"
    path.write_bytes(bytes(content))


def truncated(path: Path) -> None:
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 3])


def emptied(path: Path) -> None:
    path.write_bytes(b"")


def deleted(path: Path) -> None:
    path.unlink()


def another_database(path: Path) -> None:
    path.unlink()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("create table notes (text)")
        db.commit()


def snapshots_deleted(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("delete from ducklake_snapshot")
        db.commit()


# (damage, words the one line must hold besides the catalog's path)
DAMAGES: list[tuple[Callable[[Path], None], list[str]]] = [
    (garbage_header, ["damaged", "backup", "tables"]),
    (truncated, ["damaged", "backup", "tables"]),
    (emptied, ["empty", "data files", "backup"]),
    (deleted, ["no catalog", "data files", "backup"]),
    (another_database, ["not a DuckLake catalog"]),
    (snapshots_deleted, ["cannot be read", "backup"]),
]
COMMANDS = [
    ["views"],
    ["sql", "select count(*) from documents"],
    ["compact"],
    ["report"],
    ["history"],
    ["export", "documents", "--out", "{out}"],
    ["diff", "b1"],
]


def _damage(data_dir: Path, damage: Callable[[Path], None]) -> Path:
    path = data_dir / catalog.CATALOG_FILE
    # The test damages the file itself, as a disk or a person would, not its write-ahead log.
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("pragma wal_checkpoint(truncate)")
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    damage(path)
    return path


def _file_state(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(("damage", "words"), DAMAGES, ids=lambda d: getattr(d, "__name__", ""))
def test_a_damaged_catalog_gives_one_line_and_is_never_written_over(
    data_dir: Path, tmp_path: Path, capsys, command: list[str], damage, words: list[str]
) -> None:
    path = _damage(data_dir, damage)
    before = _file_state(path)
    args = [part.format(out=tmp_path / "export") for part in command]
    code = main([*args, "--data-dir", str(data_dir)])
    err = capsys.readouterr().err
    assert code == 1, err
    [line] = err.strip().splitlines()
    assert line.startswith("docmill: ") and str(path) in line
    for word in words:
        assert word in line
    assert _file_state(path) == before
    assert not (data_dir / "catalog.sqlite-journal").exists()


def test_no_catalog_and_no_data_is_still_an_empty_lake_to_start(tmp_path: Path, capsys) -> None:
    assert main(["sql", "select 1", "--data-dir", str(tmp_path / "new")]) == 1
    assert "nothing has been published" in capsys.readouterr().err
    assert main(["views", "--data-dir", str(tmp_path / "new")]) == 0
    assert (tmp_path / "new" / catalog.CATALOG_FILE).is_file()


def test_a_catalog_copied_with_vacuum_into_restores_the_lake(data_dir: Path, capsys) -> None:
    """README's backup: `VACUUM INTO` while the lake is in use; a damaged catalog replaced by
    the copy answers as before."""
    query = ["sql", "select doc_id, canonical from entities", "--format", "csv"]
    query += ["--data-dir", str(data_dir)]
    assert main(query) == 0
    before = capsys.readouterr().out
    path = data_dir / catalog.CATALOG_FILE
    backup = data_dir.parent / "catalog-backup.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("vacuum into ?", [str(backup)])
    _damage(data_dir, garbage_header)
    assert main(query) == 1
    capsys.readouterr()
    shutil.copyfile(backup, path)
    assert main(query) == 0
    assert capsys.readouterr().out == before == "doc_id,canonical\nd1,Xi Jinping\n"


def dropped(data_dir: Path) -> None:
    """Dropped by someone with write access to the catalog (a commit of its own)."""
    with contextlib.closing(catalog.connect(Layout.at(data_dir).catalog)) as con:
        con.execute("drop view docmill.main.entities")


def garbled(data_dir: Path) -> None:
    """The view's SQL in the catalog's own table no longer parses."""
    with contextlib.closing(sqlite3.connect(data_dir / catalog.CATALOG_FILE)) as db:
        db.execute(
            "update ducklake_view set sql = 'selec garbage from' "
            "where view_name = 'entities' and end_snapshot is null"
        )
        db.commit()


@pytest.mark.parametrize("damage", [dropped, garbled], ids=lambda d: d.__name__)
def test_views_dropped_or_garbled_in_the_catalog_are_found_and_rebuilt(
    data_dir: Path, capsys, damage: Callable[[Path], None]
) -> None:
    damage(data_dir)
    assert main(["sql", "select count(*) from entities", "--data-dir", str(data_dir)]) == 1
    # A run checks the views before it publishes; it must see that these need rebuilding.
    assert not views_up_to_date(data_dir)
    assert main(["views", "--data-dir", str(data_dir)]) == 0
    assert views_up_to_date(data_dir)
    with connect_read_only(data_dir) as con:
        assert con.execute("select canonical from entities").fetchall() == [("Xi Jinping",)]


def test_a_failed_record_never_replaces_the_completed_row_its_publish_committed(
    data_dir: Path,
) -> None:
    layout = Layout.at(data_dir)
    row = {"run_id": "r1", "batch_id": "b1", "status": "completed", "n_input": 1}
    shard = layout.shard_dir("b1", "again")
    from docmill.tasks.lake.staging import ShardWriter

    writer = ShardWriter(shard, batch_id="b1")
    writer.commit({})
    publish_batch(layout, "b1", [shard], {"n_input": 1, "items": []}, run_record=row)
    # Something after the commit fails, and the run's error handling records it as failed.
    assert write_run_record(layout, {**row, "status": "failed", "error": "late"}) is False
    with connect_read_only(data_dir) as con:
        assert con.execute("select status, error from runs where run_id = 'r1'").fetchall() == [
            ("completed", None)
        ]


@pytest.mark.prefect
@pytest.mark.model
def test_a_run_whose_report_and_artifacts_fail_after_publishing_exits_0_completed(
    prefect_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import docmill.flows.batch as batch

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(batch, "write_report", broken)
    monkeypatch.setattr(batch, "publish_artifacts", broken)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Xi Jinping met Han Duck-soo in Seoul on Tuesday.\n")
    data_dir = tmp_path / "data"
    args = ["run", str(tmp_path / "in"), "--batch-id", "b", "--data-dir", str(data_dir)]
    assert main(args) == 0
    assert "batch b published" in capsys.readouterr().out
    with connect_read_only(data_dir) as con:
        assert con.execute("select status from runs").fetchall() == [("completed",)]
        assert con.execute("select count(*) from documents").fetchall() == [(1,)]


@pytest.mark.prefect
@pytest.mark.model
def test_a_run_on_a_damaged_catalog_fails_naming_it_and_leaves_it_alone(
    prefect_server, data_dir: Path, tmp_path: Path, capsys
) -> None:
    path = _damage(data_dir, truncated)
    before = path.read_bytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Xi Jinping met Han Duck-soo in Seoul on Tuesday.\n")
    args = ["run", str(tmp_path / "in"), "--batch-id", "b2", "--data-dir", str(data_dir)]
    assert main(args) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("docmill: ") and str(path) in last and "backup" in last
    assert path.read_bytes() == before
