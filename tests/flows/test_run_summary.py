"""The run summary tells the whole story, in the terminal and on the flow run page: documents
tagged and not tagged with reasons, rejects by reason, named top entities, time per stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docmill.flows.artifacts import run_story, summary_markdown
from docmill.flows.cli import main
from docmill.flows.cli.run import format_summary
from docmill.warehouse.query import connect_read_only

COUNTERS = {
    "tagged": 20,
    "not_tagged_by_reason": {"duplicate": 10, "language de": 34, "language fr": 4},
    "rejects": {"binary": 1, "empty": 2},
    "flow_seconds": {
        "plan": 0.1,
        "prepare_wall": 3.0,
        "dedup": 0.5,
        "shards_wall": 13.5,
        "views": 0.4,
    },
    "seconds": {"clean": 1.0, "tag": 9.0},
    "clean_ops": {"normalize_whitespace": 3},
    "duplicates": {"exact": 10, "near": 0},
    "languages": {"de": 34, "en": 30, "fr": 4},
    "extraction": {},
}
SUMMARY = {
    "batch_id": "b",
    "batch_version": "v1",
    "seconds": 18.0,
    "n_input": 71,
    "n_documents": 68,
    "n_rejected": 3,
    "n_duplicates": 10,
    "n_tokens": 5000,
    "n_entities": 400,
    "n_shards": 2,
    "n_shards_reused": 0,
    "model": "m",
    "pipeline_version": "p",
    "counters_json": json.dumps(COUNTERS),
    "top_entities": [("Xi Jinping", "PERSON", 7), ("Seoul", "GPE", 3)],
    "data_dir": "/nonexistent/data",
    "publish_seconds": 0.2,
}


def test_the_story_orders_reasons_by_count_and_splits_the_flow_into_stages():
    story = run_story(SUMMARY)
    assert story.tagged == 20
    assert story.not_tagged == [("language de", 34), ("duplicate", 10), ("language fr", 4)]
    assert story.rejects == [("empty", 2), ("binary", 1)]
    # tag = shards_wall - prepare - find duplicates
    assert dict(story.stages) == {
        "plan": 0.1,
        "prepare": 3.0,
        "find duplicates": 0.5,
        "tag": 10.0,
        "views": 0.4,
        "publish": 0.2,
    }


def test_the_terminal_summary_tells_the_whole_story():
    lines = format_summary(SUMMARY).splitlines()
    assert "  documents           68   tagged 20, duplicates 10" in lines
    assert "  not tagged          48   language de 34, duplicate 10, language fr 4" in lines
    assert "  rejected             3   empty 2, binary 1" in lines
    assert (
        "  time         plan 0.1 s, prepare 3 s, find duplicates 0.5 s, tag 10 s, views 0.4 s, "
        "publish 0.2 s"
    ) in lines
    assert "  top entities Xi Jinping (PERSON) 7, Seoul (GPE) 3" in lines


def test_the_markdown_summary_tells_the_same_story():
    markdown = summary_markdown(SUMMARY)
    assert "Not tagged: language de 34, duplicate 10, language fr 4" in markdown
    assert "Rejected: empty 2, binary 1." in markdown
    assert "Wall clock: plan 0.1 s, prepare 3 s, find duplicates 0.5 s, tag 10 s" in markdown
    assert "- Xi Jinping (PERSON): 7" in markdown
    assert "- tag: 9" in markdown  # summed over the workers


ENGLISH = (
    "Xi Jinping met Yoon Suk-yeol in Seoul on Tuesday, the second meeting of the two leaders "
    "in 2024. They spoke for two hours about trade, and three ministers joined them on "
    "Tuesday evening. On Wednesday Xi Jinping flew on to Tokyo, where he stayed two days."
)
GERMAN = (
    "Der Stadtrat hat am Dienstag beschlossen, die Straßenbahnlinie bis in die nördlichen "
    "Vororte zu verlängern. Die Anwohner hoffen auf kürzere Wege zur Arbeit, die Geschäfte "
    "entlang der Strecke fürchten dagegen lange Bauarbeiten und weniger Kundschaft."
)
FRENCH = (
    "Le conseil municipal a décidé mardi de prolonger la ligne de tramway jusqu'aux banlieues "
    "du nord. Les habitants espèrent des trajets plus courts, tandis que les commerçants "
    "redoutent de longs travaux et une baisse de leur clientèle."
)
PAGE = f"""<!doctype html><html><head><title>Trams for the north</title>
<link rel="canonical" href="https://www.tram-news.example/north"></head>
<body><article><h1>Trams for the north</h1><p>{ENGLISH}</p><p>The city council of Leeds
voted to extend the tram line to the northern suburbs, a plan first put forward by Mayor
Anna Clarke years ago and delayed twice by disputes over funding.</p></article></body></html>"""


@pytest.mark.prefect
@pytest.mark.model
def test_a_run_prints_why_documents_were_not_tagged(prefect_server, tmp_path: Path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "en.txt").write_text(ENGLISH)
    (inputs / "en-copy.txt").write_text(ENGLISH)
    (inputs / "de.txt").write_text(GERMAN)
    (inputs / "fr.txt").write_text(FRENCH)
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "page.html").write_text(PAGE)
    data_dir = tmp_path / "data"
    assert main(["run", str(inputs), "--batch-id", "story", "--data-dir", str(data_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()

    def line(label: str) -> str:
        [found] = [text for text in lines if text.startswith(f"  {label}")]
        return found

    assert line("documents").split()[1:4] == ["5", "tagged", "2,"]
    assert line("not tagged").split(maxsplit=3)[2:] == [
        "3",
        "duplicate 1, language de 1, language fr 1",
    ]
    assert line("rejected").split(maxsplit=2)[1:] == ["1", "empty 1"]
    stages = [part.split()[0] for part in line("time").split(maxsplit=1)[1].split(", ")]
    assert stages == ["plan", "prepare", "find", "tag", "views", "publish"]
    top = line("top entities")
    assert "Seoul (GPE)" in top
    assert not any(f"({label})" in top for label in ("DATE", "TIME", "CARDINAL", "ORDINAL"))

    con = connect_read_only(data_dir)
    try:
        [(counters,)] = con.execute("select counters_json from runs").fetchall()
        sources = con.execute("select source, documents from source_stats").fetchall()
    finally:
        con.close()
    assert json.loads(counters)["not_tagged_by_reason"] == {
        "duplicate": 1,
        "language de": 1,
        "language fr": 1,
    }
    # the saved page counts under its site (its canonical link), the text files under their folder
    assert sorted(sources) == [("in", 4), ("tram-news.example", 1)]
