"""`docmill sql` output people can read: whole values up to the terminal width, a row limit with
what was left out, table/csv/json/markdown, and files by extension."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers.lake_factory import Doc, write_version

from docmill.flows.cli import main
from docmill.tasks.lake import catalog
from docmill.warehouse.build import build_warehouse
from docmill.warehouse.output import display_width, fetch_limited, format_markdown, format_table

LONG_TITLE = "Xi Jinping and Han Duck-soo meet in Seoul to talk about trade, tariffs and Ukraine"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("lake")
    docs = [Doc("d1", ["Xi Jinping visited Seoul ."], title=LONG_TITLE), Doc("d2", ["Hi ."])]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(catalog.INLINE_ROWS_ENV, "0")  # rows in Parquet files, as in a real lake
        write_version(data_dir, batch_id="b1", version="20260101T000000000000Z-00000001", docs=docs)
    build_warehouse(data_dir)
    return data_dir


def sql(data_dir: Path, query: str, *options: str) -> list[str]:
    return ["sql", query, "--data-dir", str(data_dir), *options]


def test_a_value_that_fits_the_width_is_shown_whole(data_dir, capsys):
    query = "select doc_id, title from documents order by 1"
    assert main(sql(data_dir, query, "--max-width", "120")) == 0
    out = capsys.readouterr().out
    assert LONG_TITLE in out
    assert "…" not in out


@pytest.mark.parametrize("width", [40, 60, 79])
def test_a_table_wider_than_the_width_is_cut_with_a_marker(data_dir, capsys, width):
    query = "select doc_id, title, 'x' as flag from documents order by 1"
    assert main(sql(data_dir, query, "--max-width", str(width))) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[: lines.index("(2 rows)")]
    assert all(display_width(line) <= width for line in table)
    assert "…" in table[2] and LONG_TITLE[:8] in table[2]
    assert table[2].split(" | ")[0].strip() == "d1" and table[2].endswith("| x")
    assert "--max-width 0" in lines[-1]


def test_max_width_zero_shows_every_value_whole(data_dir, capsys):
    assert main(sql(data_dir, "select title from documents", "--max-width", "0")) == 0
    assert LONG_TITLE in capsys.readouterr().out


def test_the_table_shows_fifty_rows_by_default_and_says_how_many_more(data_dir, capsys):
    assert main(sql(data_dir, "select * from range(120) t(n)")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2:4] == [" 0", " 1"] and lines[51] == "49"
    assert lines[52] == "… 70 more rows (50 shown; --limit N or --all for more)"


@pytest.mark.parametrize(
    ("options", "shown", "footer"),
    [
        (["--limit", "10"], 10, "… 110 more rows (10 shown; --limit N or --all for more)"),
        (["--limit", "120"], 120, "(120 rows)"),
        (["--all"], 120, "(120 rows)"),
    ],
)
def test_limit_and_all(data_dir, capsys, options, shown, footer):
    assert main(sql(data_dir, "select * from range(120) t(n)", *options)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + shown + 1 and lines[-1] == footer


def test_machine_formats_print_every_row_unless_limited(data_dir, capsys):
    assert main(sql(data_dir, "select * from range(120) t(n)", "--format", "csv")) == 0
    assert len(capsys.readouterr().out.splitlines()) == 121
    assert (
        main(sql(data_dir, "select * from range(120) t(n)", "--format", "json", "--limit", "3"))
        == 0
    )
    assert json.loads(capsys.readouterr().out) == [{"n": 0}, {"n": 1}, {"n": 2}]


class FakeQuery:
    """A query of 1,000 rows that records how it was read."""

    def __init__(self, calls: list[str], rows: int = 1000) -> None:
        self.calls, self.rows, self.columns = calls, rows, ["n"]

    def limit(self, n: int) -> FakeQuery:
        self.calls.append(f"limit({n})")
        return FakeQuery(self.calls, min(n, self.rows))

    def aggregate(self, expression: str) -> FakeQuery:
        self.calls.append(f"aggregate({expression})")
        return FakeQuery(self.calls, -self.rows)

    def fetchall(self) -> list[tuple]:
        self.calls.append(f"fetchall() of {abs(self.rows)}")
        return [(-self.rows,)] if self.rows < 0 else [(n,) for n in range(self.rows)]


def test_only_the_rows_shown_are_fetched_the_rest_is_counted():
    calls: list[str] = []
    rows, more = fetch_limited(FakeQuery(calls), limit=50)
    assert (len(rows), more) == (50, 950)
    assert calls == ["limit(51)", "fetchall() of 51", "aggregate(count(*))", "fetchall() of 1000"]


def test_markdown_escapes_pipes_and_line_breaks_and_aligns_numbers():
    text = format_markdown(["name", "n"], [("a|b", 1), ("two\nlines", None)], more_rows=0)
    assert text.splitlines() == [
        "| name | n |",
        "| --- | ---: |",
        "| a\\|b | 1 |",
        "| two<br>lines | NULL |",
    ]


def test_markdown_says_how_many_rows_were_left_out(data_dir, capsys):
    query = "select * from range(60) t(n)"
    assert main(sql(data_dir, query, "--format", "markdown")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        len(lines) == 2 + 50 + 2
        and lines[-1] == "… 10 more rows (50 shown; --limit N or --all for more)"
    )


def test_wide_characters_keep_the_columns_aligned():
    text = format_table(["name", "n"], [("한덕수", 1), ("Han", 2)], max_width=0)
    lines = text.splitlines()
    assert len({display_width(line.split(" | ")[0]) for line in lines[:4] if " | " in line}) == 1
    assert display_width("한덕수") == 6


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_out_writes_every_row_by_extension(data_dir, tmp_path, capsys, suffix):
    target = tmp_path / "out" / f"numbers{suffix}"
    assert (
        main(sql(data_dir, "select n, n * 2 as twice from range(120) t(n)", "--out", str(target)))
        == 0
    )
    assert capsys.readouterr().out.strip() == f"{target}  120 rows"
    if suffix == ".csv":
        assert target.read_text().splitlines()[:2] == ["n,twice", "0,0"]
        assert len(target.read_text().splitlines()) == 121
    elif suffix == ".json":
        assert json.loads(target.read_text())[119] == {"n": 119, "twice": 238}
    else:
        assert pq.read_table(target).num_rows == 120
    assert [p.name for p in target.parent.iterdir()] == [target.name]


@pytest.mark.parametrize(
    ("out", "options", "message"),
    [
        ("numbers.xlsx", [], "numbers.xlsx: write .csv, .json or .parquet"),
        ("numbers.csv", ["--format", "json"], "--format json does not match numbers.csv"),
    ],
)
def test_out_refuses_what_it_cannot_write(data_dir, tmp_path, capsys, out, options, message):
    target = tmp_path / out
    assert main(sql(data_dir, "select 1", "--out", str(target), *options)) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert message in line and not target.exists()


def test_out_never_writes_into_the_data_directory(data_dir, capsys):
    target = next((data_dir / "tables").rglob("*.parquet"))
    before = target.read_bytes()
    assert main(sql(data_dir, "select 1 as x", "--out", str(target))) == 2
    assert "inside the data directory" in capsys.readouterr().err
    assert target.read_bytes() == before
