"""The command line as a user meets it: exit codes, messages, formats; no tracebacks."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.lake_factory import Doc, Mention, catalog_held_open, write_version

from docmill.flows.cli import main
from docmill.flows.cli.parser import build_parser
from docmill.warehouse.build import build_warehouse

VERSION = "20260101T000000000000Z-00000001"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_version(
        tmp_path,
        batch_id="b1",
        version=VERSION,
        docs=[Doc("d1", ["Xi Jinping visited Seoul ."], [Mention(0, "Xi Jinping", "PERSON")])],
    )
    build_warehouse(tmp_path)
    return tmp_path


def test_sql_prints_a_table(data_dir, capsys):
    assert (
        main(["sql", "select canonical, mentions from entity_counts", "--data-dir", str(data_dir)])
        == 0
    )
    out = capsys.readouterr().out
    assert "Xi Jinping" in out and "(1 row" in out


def test_sql_json_format(data_dir, capsys):
    assert (
        main(
            ["sql", "select doc_id from documents", "--data-dir", str(data_dir), "--format", "json"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out) == [{"doc_id": "d1"}]


def test_sql_error_prints_duckdb_message_not_traceback(data_dir, capsys):
    assert main(["sql", "select nope from nowhere", "--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err


def test_sql_without_warehouse_says_what_to_do(tmp_path, capsys):
    assert main(["sql", "select 1", "--data-dir", str(tmp_path / "none")]) == 1
    assert "docmill run" in capsys.readouterr().err


def test_sql_works_while_a_pipeline_is_committing(data_dir):
    with catalog_held_open(data_dir):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "docmill.flows.cli",
                "sql",
                "select count(*) as n from documents",
                "--data-dir",
                str(data_dir),
                "--format",
                "csv",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["n", "1"]


@pytest.mark.parametrize("batch_id", ["../x", "a/b", "bad id"])
def test_run_refuses_unsafe_batch_ids_before_starting(tmp_path, capsys, batch_id):
    (tmp_path / "a.txt").write_text("Some text.")
    code = main(
        ["run", str(tmp_path / "a.txt"), "--batch-id", batch_id, "--data-dir", str(tmp_path)]
    )
    assert code == 2
    assert "invalid batch id" in capsys.readouterr().err
    assert not (tmp_path / "catalog.sqlite").exists()


def test_run_names_a_missing_source(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.txt"), "--data-dir", str(tmp_path)]) == 2
    assert "missing.txt" in capsys.readouterr().err


def test_views_lists_the_contract_views(data_dir, capsys):
    assert main(["views", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    for view in ("documents", "tokens", "entity_counts", "entity_cooccurrence", "doc_stats"):
        assert f"  {view}\n" in out


def _republished(data_dir: Path) -> None:
    """b1 published again with d1 changed (Seoul now tagged) and d2 added."""
    write_version(
        data_dir,
        batch_id="b1",
        version="20260102T000000000000Z-00000002",
        docs=[
            Doc(
                "d1",
                ["Xi Jinping visited Seoul again ."],
                [Mention(0, "Xi Jinping", "PERSON"), Mention(0, "Seoul", "GPE")],
            ),
            Doc("d2", ["Han Duck-soo spoke ."], [Mention(0, "Han Duck-soo", "PERSON")]),
        ],
    )


def _publish_snapshots(data_dir: Path) -> list[int]:
    from docmill.warehouse.history import snapshots

    return [s.snapshot_id for s in snapshots(data_dir, "b1")]


def test_history_lists_each_publish_with_its_rows(data_dir, capsys):
    _republished(data_dir)
    assert main(["history", "b1", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("publish batch b1") == 2 and "(2 rows)" in out
    assert main(["history", "--data-dir", str(data_dir)]) == 0
    assert "build views" in capsys.readouterr().out
    assert main(["history", "nope", "--data-dir", str(data_dir)]) == 1
    assert "no publish" in capsys.readouterr().err


def test_sql_at_an_earlier_snapshot_or_time(data_dir, capsys):
    import datetime as dt

    first_published = dt.datetime.now(dt.UTC)
    _republished(data_dir)
    first, second = _publish_snapshots(data_dir)
    query = ["sql", "select doc_id from documents order by 1", "--data-dir", str(data_dir)]
    assert main([*query, "--format", "csv", "--snapshot", str(first)]) == 0
    assert capsys.readouterr().out.split() == ["doc_id", "d1"]
    assert main([*query, "--format", "csv", "--as-of", first_published.isoformat()]) == 0
    assert capsys.readouterr().out.split() == ["doc_id", "d1"]
    assert main([*query, "--format", "csv", "--snapshot", str(second)]) == 0
    assert capsys.readouterr().out.split() == ["doc_id", "d1", "d2"]
    assert main([*query, "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["doc_id", "d1", "d2"]


def test_diff_names_the_documents_and_mentions_that_changed(data_dir, capsys):
    _republished(data_dir)
    assert main(["diff", "b1", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "1 added, 0 removed, 1 changed, 0 unchanged" in out
    assert "  + d2" in out and "  ~ d1" in out
    assert "2 gained, 0 lost" in out
    assert "+1 Seoul (GPE)" in out and "+1 Han Duck-soo (PERSON)" in out


def test_diff_needs_two_publishes(data_dir, capsys):
    assert main(["diff", "b1", "--data-dir", str(data_dir)]) == 1
    assert "needs two" in capsys.readouterr().err


def test_export_writes_plain_parquet_with_the_counts_of_sql(data_dir, tmp_path, capsys):
    import pyarrow.parquet as pq

    _republished(data_dir)
    out_dir = tmp_path / "export"
    assert (
        main(
            ["export", "documents", "entities", "--out", str(out_dir), "--data-dir", str(data_dir)]
        )
        == 0
    )
    assert pq.read_table(out_dir / "documents.parquet").num_rows == 2
    assert pq.read_table(out_dir / "entities.parquet").num_rows == 3
    manifest = json.loads((out_dir / "_export.json").read_text())
    assert manifest["views"]["entities"]["rows"] == 3
    first = _publish_snapshots(data_dir)[0]
    args = ["export", "--all", "--out", str(out_dir / "then"), "--data-dir", str(data_dir)]
    assert main([*args, "--snapshot", str(first)]) == 0
    assert pq.read_table(out_dir / "then" / "documents.parquet").num_rows == 1
    assert main(["export", "nope", "--out", str(out_dir), "--data-dir", str(data_dir)]) == 2
    assert "no view named nope" in capsys.readouterr().err


def test_shell_prints_statements_any_duckdb_client_runs(data_dir, capsys):
    import duckdb

    assert main(["shell", "--print-sql", "--data-dir", str(data_dir)]) == 0
    statements = capsys.readouterr().out
    assert "read_only" in statements and statements.rstrip().endswith("use docmill;")
    con = duckdb.connect()
    con.execute(statements)
    assert con.execute("select canonical from entity_counts").fetchall() == [("Xi Jinping",)]


def test_version_names_the_package_pipeline_and_schema(capsys):
    from importlib.metadata import version

    from docmill.tasks.schemas import PIPELINE_VERSION, SCHEMA_VERSION

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == (
        f"docmill {version('docmill')} (pipeline {PIPELINE_VERSION}, schema v{SCHEMA_VERSION})"
    )


def _options() -> list[tuple[str, argparse.Action, str]]:
    """(command, option, its help as printed) for every option of every command."""
    parser = build_parser()
    commands = {"docmill": parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    found = []
    for name, command in commands.items():
        formatter = command._get_formatter()
        for action in command._actions:
            if action.option_strings and action.help is not argparse.SUPPRESS:
                text = formatter._expand_help(action) if action.help else ""
                found.append((name, action, text))
    return found


def test_every_option_that_takes_a_value_states_its_default():
    missing = [
        f"{command} {action.option_strings[-1]}: {text!r}"
        for command, action, text in _options()
        if action.nargs != 0 and "default" not in text
    ]
    assert missing == []


def test_a_stated_default_is_the_real_one():
    wrong = [
        f"{command} {action.option_strings[-1]}: {text!r}"
        for command, action, text in _options()
        if action.nargs != 0 and action.default is not None and str(action.default) not in text
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("option", "setting"),
    [
        ("--model", "model"),
        ("--workers", "workers"),
        ("--profile", "profile"),
        ("--dedup", "dedup"),
        ("--task-runner", "task_runner"),
    ],
)
def test_run_help_states_the_settings_defaults(option, setting):
    from docmill.flows.settings import Settings

    [text] = [
        text
        for command, action, text in _options()
        if (command, option) == ("run", action.option_strings[-1])
    ]
    assert f"or {Settings.model_fields[setting].default})" in text


@pytest.mark.parametrize("command", ["bench", "eval"])
def test_bench_and_eval_state_the_default_model(command):
    from docmill.tasks.options import DEFAULT_MODEL

    [text] = [
        text
        for name, action, text in _options()
        if (name, action.option_strings[-1]) == (command, "--model")
    ]
    assert f"(default: {DEFAULT_MODEL})" in text
