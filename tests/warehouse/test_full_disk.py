"""Compaction on a full disk: one line saying "no space left on device", the partial files it
wrote removed (they would keep the disk full), and the lake as before. On a real small file
system: a size-limited tmpfs, mounted for the test (root only; skipped otherwise)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.lake_factory import build_lake
from helpers.views import view_contents

from docmill.flows.cli import main
from docmill.tasks.lake import catalog


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a size-limited tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """A file that takes all but `leave` bytes of the disk."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as out:
        out.write(bytes(max(stat.f_bavail * stat.f_frsize - leave, 0)))
    return filler


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_compaction_on_a_full_disk_says_so_and_leaves_nothing_behind(
    small_disk: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(catalog.INLINE_ROWS_ENV, "0")
    data_dir = small_disk / "data"
    build_lake(data_dir, n_batches=8)
    before = view_contents(data_dir)
    filler = fill(small_disk, leave=60_000)
    tables = files(data_dir / "tables")
    args = ["compact", "--data-dir", str(data_dir), "--grace-seconds", "0"]

    assert main(args) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("docmill: ") and "no space left on device" in line
    assert str(small_disk) in line and "Traceback" not in line
    assert files(data_dir / "tables") == tables
    assert view_contents(data_dir) == before

    filler.unlink()
    assert main(args) == 0
    assert "files merged" in capsys.readouterr().out
    assert view_contents(data_dir) == before


def test_a_catalog_on_a_full_disk_is_not_called_damaged(small_disk: Path, capsys) -> None:
    data_dir = small_disk / "data"
    build_lake(data_dir, n_batches=2)
    path = data_dir / catalog.CATALOG_FILE
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    fill(small_disk, leave=0)
    for command in (["compact"], ["views"], ["sql", "select 1"]):
        code = main([*command, "--data-dir", str(data_dir)])
        err = capsys.readouterr().err
        if code == 0:
            continue  # SQLite could still read it, which is fine too
        [line] = err.strip().splitlines()
        assert "damaged" not in line and "no space left on device" in line, command
