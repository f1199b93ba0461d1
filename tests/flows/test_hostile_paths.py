"""A data directory whose path has glob characters, quotes, spaces or non-ASCII letters works like
any other, and never reads a neighbour its name would match as a pattern."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from helpers.lake_factory import Doc, Mention, write_version

from docmill.flows.cli import main
from docmill.tasks.lake import catalog
from docmill.warehouse.build import build_warehouse
from docmill.warehouse.history import snapshots

V1 = "20260101T000000000000Z-00000001"
V2 = "20260102T000000000000Z-00000002"

# (name, a neighbour the name matches when read as a glob pattern, if any)
NAMES = [
    ("data [A]", "data A"),
    ("data[1]", "data1"),
    ("what?", "whatX"),
    ("star*", "star-and-more"),
    ("it's here", None),
    ('say "hi"', None),
    ("ü ñ 한국어", None),
    ("a#b", None),
    ("x%41y", "xAy"),
]


def build(data_dir: Path, text: str) -> None:
    """Two publishes of b1 (rows in the catalog, then in files), and the views."""
    mention = [Mention(0, text.split(" ")[0], "PERSON")]
    write_version(data_dir, batch_id="b1", version=V1, docs=[Doc("d1", [f"{text} ."], mention)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(catalog.INLINE_ROWS_ENV, "0")
        docs = [Doc("d1", [f"{text} again ."], mention), Doc("d2", ["Seoul ."])]
        write_version(data_dir, batch_id="b1", version=V2, docs=docs)
    build_warehouse(data_dir)


@pytest.mark.parametrize(("name", "neighbour"), NAMES, ids=[n for n, _ in NAMES])
def test_every_command_works_in_a_hostile_path(tmp_path: Path, capsys, name: str, neighbour):
    data_dir = tmp_path / name
    build(data_dir, "Xi Jinping visited Seoul")
    if neighbour:
        build(tmp_path / neighbour, "Decoy Person was elsewhere")
    where = ["--data-dir", str(data_dir)]

    def run(*args: str) -> str:
        code = main([*args, *where])
        captured = capsys.readouterr()
        assert code == 0, (args, captured.err)
        assert "Decoy" not in captured.out
        return captured.out

    query = ("sql", "select text from documents order by doc_id", "--format", "csv")
    assert run(*query) == "text\nXi Jinping visited Seoul again .\nSeoul .\n"
    first = snapshots(data_dir, "b1")[0].snapshot_id
    assert run(*query, "--snapshot", str(first)) == "text\nXi Jinping visited Seoul .\n"
    out = tmp_path / f"{name} out"
    run("sql", "select canonical from entity_counts", "--out", str(out / "o.csv"))
    assert (out / "o.csv").read_text() == "canonical\nXi\n"
    run("views")
    assert "publish batch b1" in run("history")
    assert "1 added" in run("diff", "b1")
    run("check")
    run("compact", "--grace-seconds", "0")
    run("check")
    run("export", "--all", "--out", str(out / "export"))
    # A view has no row order; the export holds the same rows.
    exported = pq.read_table(out / "export" / "documents.parquet").column("text").to_pylist()
    assert sorted(exported) == ["Seoul .", "Xi Jinping visited Seoul again ."]
    run("report", "--out", str(out / "report"))
    statements = run("shell", "--print-sql")
    con = duckdb.connect()
    con.execute(statements)
    assert con.execute("select count(*) from documents").fetchall() == [(2,)]
    assert run(*query) == "text\nXi Jinping visited Seoul again .\nSeoul .\n"


HOSTILE = 'd[A]t?*\'s "q" ü 한 %41'


@pytest.mark.prefect
@pytest.mark.model
def test_a_pipeline_run_in_a_hostile_path(prefect_server, tmp_path: Path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text("Xi Jinping met Han Duck-soo in Seoul on Tuesday.\n")
    data_dir = tmp_path / HOSTILE / "data"
    decoy = tmp_path / 'dAtX*\'s "q" ü 한 A' / "data"
    build(decoy, "Decoy Person was elsewhere")
    where = ["--data-dir", str(data_dir)]
    assert main(["run", str(inputs), "--batch-id", "b", *where]) == 0
    assert main(["run", "--batch-id", "b", *where]) == 0  # the rerun replaces the batch
    capsys.readouterr()
    assert (
        main(
            [
                "sql",
                "select count(*) as n, min(batch_id) as b from documents",
                "--format",
                "csv",
                *where,
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == "n,b\n1,b\n"
    for command in (
        ["compact", "--grace-seconds", "0"],
        ["check"],
        ["export", "documents", "--out", str(tmp_path / "x")],
    ):
        assert main([*command, *where]) == 0, capsys.readouterr().err
