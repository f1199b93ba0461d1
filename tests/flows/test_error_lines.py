"""Errors name the thing: a data directory that is read-only or a file, a damaged record of a
batch's items, an error nobody expected. Each is one line naming the path and what to do, a
non-zero exit code and no traceback (the traceback comes with -v)."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.lake_factory import V1, sample_docs, write_version
from helpers.read_only_mount import read_only_bind_mount

from docmill.flows.cli import main
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.recorded import batch_manifest, batch_manifests
from docmill.tasks.lake.staging import STAGED_PLAN, DamagedRecord, read_staged_plan
from docmill.warehouse.build import build_warehouse


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("template") / "data"
    write_version(data_dir, batch_id="b1", version=V1, docs=sample_docs("b1", 5))
    build_warehouse(data_dir)
    return data_dir


@pytest.fixture
def data_dir(template: Path, tmp_path: Path) -> Path:
    shutil.copytree(template, tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def read_only(data_dir: Path) -> Iterator[Path]:
    """The lake with its folder read-only for this process: a read-only bind mount as root (who
    ignores permission bits), the write bits taken away otherwise."""
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in [data_dir, *data_dir.rglob("*")]}
        for path, mode in modes.items():
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        yield data_dir
        for path, mode in sorted(modes.items(), key=lambda item: len(item[0].parts)):
            path.chmod(mode)
        return
    with read_only_bind_mount(data_dir):
        yield data_dir


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("docmill: ")
    return line


@pytest.mark.parametrize("command", [["views"], ["compact"], ["check", "--repair"]])
def test_a_command_that_writes_names_a_read_only_data_dir(
    read_only: Path, capsys, command: list[str]
) -> None:
    before = {p: p.stat().st_mtime_ns for p in read_only.rglob("*")}
    assert main([*command, "--data-dir", str(read_only)]) == 2
    line = one_line(capsys)
    assert f"cannot write in {read_only} (" in line and "make it writable" in line
    assert {p: p.stat().st_mtime_ns for p in read_only.rglob("*")} == before


@pytest.mark.parametrize("command", [["sql", "select count(*) from documents"], ["check"]])
def test_a_reading_command_says_why_a_read_only_lake_cannot_be_opened(
    read_only: Path, capsys, command: list[str]
) -> None:
    assert main([*command, "--data-dir", str(read_only)]) == 1
    line = one_line(capsys)
    assert f"the catalog {read_only / 'catalog.sqlite'}: its folder cannot be written" in line
    assert "damaged" not in line and "writable" in line


COMMANDS = [
    ["views"],
    ["compact"],
    ["check"],
    ["sql", "select 1"],
    ["history"],
    ["export", "documents", "--out", "OUT"],
    ["run", "SOURCE"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_data_dir_that_is_a_file_is_named(tmp_path: Path, capsys, command: list[str]) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder\n")
    (tmp_path / "SOURCE").mkdir()
    (tmp_path / "SOURCE" / "a.txt").write_text("Xi Jinping met Han Duck-soo in Seoul.\n")
    args = [str(tmp_path / part) if part in ("OUT", "SOURCE") else part for part in command]
    assert main([*args, "--data-dir", str(a_file)]) == 2
    line = one_line(capsys)
    assert f"the data directory {a_file} is a file" in line and "give --data-dir" in line
    assert a_file.read_text() == "not a folder\n"


def test_a_data_dir_under_a_file_is_named(tmp_path: Path, capsys) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    assert main(["views", "--data-dir", str(a_file / "data")]) == 2
    assert f"{a_file} is a file, so the data directory {a_file / 'data'}" in one_line(capsys)


PLANS = [
    ("missing", None, None),
    ("not JSON", '{"items": [{"source_uri": "file:///a', "not JSON"),
    ("empty", "", "not JSON"),
    ("no items", '{"n_input": 3}', "no list of items"),
    ("items not a list", '{"items": {"a": 1}}', "no list of items"),
    ("an item without its source", '{"items": [{"doc_id": "d"}]}', "no list of items"),
    ("whole", '{"items": [{"source_uri": "file:///a.txt", "doc_id": "d"}]}', None),
]


@pytest.mark.parametrize(("case", "text", "why"), PLANS, ids=[p[0] for p in PLANS])
def test_reading_the_record_of_a_batchs_items(
    tmp_path: Path, case: str, text: str | None, why: str | None
) -> None:
    layout = Layout.at(tmp_path)
    path = layout.staging("b1") / STAGED_PLAN
    if text is not None:
        path.parent.mkdir(parents=True)
        path.write_text(text)
    if why is None:
        plan = read_staged_plan(layout, "b1")
        assert (plan is None) == (text is None)
        return
    with pytest.raises(DamagedRecord, match=why) as raised:
        read_staged_plan(layout, "b1")
    assert str(path) in str(raised.value) and "--batch-id b1" in str(raised.value)


def test_a_damaged_record_stops_a_rerun_before_prefect_starts(
    data_dir: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docmill.flows.process

    def never(**_: object) -> dict:
        raise AssertionError("the flow started")

    monkeypatch.setattr(docmill.flows.process, "process_documents", never)
    plan = Layout.at(data_dir).staging("b1") / STAGED_PLAN
    plan.parent.mkdir(parents=True, exist_ok=True)
    plan.write_text('{"items": [')
    assert main(["run", "--batch-id", "b1", "--data-dir", str(data_dir)]) == 1
    line = one_line(capsys)
    assert f"the record of the items of batch b1, {plan}, is damaged" in line
    assert "Remove it" in line


def test_a_rerun_from_the_flow_names_a_damaged_record(data_dir: Path) -> None:
    """A rerun started elsewhere (the Prefect UI) reaches the same error, not the published
    version's items in silence."""
    from docmill.flows.batch import recorded_input

    plan = Layout.at(data_dir).staging("b1") / STAGED_PLAN
    plan.parent.mkdir(parents=True, exist_ok=True)
    plan.write_text("[]")
    with pytest.raises(DamagedRecord, match="b1"):
        recorded_input(Layout.at(data_dir), "b1")


def test_a_damaged_manifest_in_the_catalog_names_its_batch(data_dir: Path) -> None:
    from docmill.tasks.lake import catalog

    layout = Layout.at(data_dir)
    with contextlib.closing(catalog.connect(layout.catalog)) as con:
        con.execute(f"update {catalog.stored_table('batches')} set manifest_json = '{{\"items'")
    for read in (lambda: batch_manifest(layout, "b1"), lambda: batch_manifests(layout)):
        with pytest.raises(DamagedRecord, match=r"batch b1 \(its row in the catalog's batches"):
            read()


def test_an_unexpected_error_is_one_line_and_its_traceback_comes_with_v(
    data_dir: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docmill.warehouse.build

    def broken(*_: object, **__: object) -> list[str]:
        raise KeyError("views.sql")

    monkeypatch.setattr(docmill.warehouse.build, "build_warehouse", broken)
    assert main(["views", "--data-dir", str(data_dir)]) == 1
    line = one_line(capsys)
    assert line == "docmill: views failed: KeyError: 'views.sql' (-v shows the traceback)"
    assert main(["views", "-v", "--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "in broken" in err
    assert err.strip().splitlines()[-1] == "docmill: views failed: KeyError: 'views.sql'"
