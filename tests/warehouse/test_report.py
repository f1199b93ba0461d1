"""The offline HTML report: built from hand-made lakes (fast), then from a real run over the
seeds, opened in headless Chromium."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import SEEDS
from helpers.lake_factory import PROCESSED_AT, Doc, Mention, write_version

from docmill.flows.cli import main
from docmill.warehouse.build import build_warehouse
from docmill.warehouse.query import connect_read_only
from docmill.warehouse.report import collect_report, render_report, write_report
from docmill.warehouse.report_svg import line_chart, time_buckets

V1 = "20260101T000000000000Z-00000001"
XI = Mention(0, "Xi Jinping", "PERSON")
HOSTILE = "<script>alert(1)</script>"


class Elements(HTMLParser):
    """Every start tag as (tag, attributes, the data-chart of the svg/table around it)."""

    def __init__(self, page: str):
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None], str | None]] = []
        self._charts: list[str | None] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        chart = self._charts[-1] if self._charts else None
        self.found.append((tag, attributes, chart))
        if tag in ("svg", "table"):
            self._charts.append(attributes.get("data-chart") or chart)

    def handle_endtag(self, tag):
        if tag in ("svg", "table") and self._charts:
            self._charts.pop()

    def points(self, chart: str, tag: str = "rect") -> list[dict[str, str | None]]:
        return [attrs for t, attrs, inside in self.found if t == tag and inside == chart]

    def tags(self) -> set[str]:
        return {tag for tag, _, _ in self.found}


def _lake(data_dir: Path, docs: list[Doc], rejects: list[dict] | None = None) -> Path:
    write_version(data_dir, batch_id="b1", version=V1, docs=docs, rejects=rejects)
    build_warehouse(data_dir)
    return data_dir


def _page(data_dir: Path) -> str:
    return write_report(data_dir).read_text(encoding="utf-8")


def test_report_charts_hold_the_entities(tmp_path):
    _lake(
        tmp_path,
        [
            Doc("d1", ["Xi Jinping met Lavrov in Seoul ."], [XI, Mention(0, "Seoul", "GPE")]),
            Doc("d2", ["Xi Jinping spoke ."], [XI]),
        ],
        rejects=[{"source_uri": "file:///inbox/bad.bin", "reason": "binary", "detail": "NUL"}],
    )
    text = _page(tmp_path)
    page = Elements(text)
    bars = {(a["data-label"], a["data-value"]) for a in page.points("top-entities")}
    assert {("Xi Jinping", "2"), ("Seoul", "1")} <= bars
    assert "None of the 2 tagged documents has a publication date" in text
    pairs = [a["data-label"] for a in page.points("cooccurrence", "tr") if "data-label" in a]
    assert pairs == ["Seoul + Xi Jinping"]
    batch = {a["data-series"]: a["data-value"] for a in page.points("batches")}
    assert batch == {"documents": "2", "duplicates": "0", "rejects": "1"}


def test_no_timeline_when_fewer_than_half_the_documents_are_dated(tmp_path):
    """Undated documents would all sit on the day they were processed (the BBC corpus)."""
    _lake(
        tmp_path,
        [
            Doc(
                "d1",
                ["Xi Jinping spoke ."],
                [XI],
                published_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
            ),
            Doc("d2", ["Xi Jinping spoke again ."], [XI]),
            Doc("d3", ["Xi Jinping left ."], [XI]),
        ],
    )
    text = _page(tmp_path)
    assert 'data-chart="mentions-over-time"' not in text
    assert "Only 1 of 3 tagged documents have a publication date" in text


def test_the_timeline_shows_publication_days_only(tmp_path):
    published = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)
    _lake(
        tmp_path,
        [
            Doc("d1", ["Xi Jinping spoke ."], [XI], published_at=published),
            Doc("d2", ["Xi Jinping spoke again ."], [XI], published_at=published),
            Doc("d3", ["Xi Jinping left ."], [XI]),
        ],
    )
    text = _page(tmp_path)
    page = Elements(text)
    points = {(a["data-day"], a["data-value"]) for a in page.points("mentions-over-time", "circle")}
    assert points == {("2025-03-01", "2")}
    assert PROCESSED_AT.date().isoformat() not in {day for day, _ in points}
    assert "the 1 undated one is left out" in text


def test_hostile_names_are_escaped(tmp_path):
    _lake(
        tmp_path,
        [Doc("d1", [f"Then {HOSTILE} & co ."], [Mention(0, HOSTILE, "ORG")], title=HOSTILE)],
        rejects=[{"source_uri": f"file:///{HOSTILE}", "reason": HOSTILE, "detail": '"><b>'}],
    )
    text = _page(tmp_path)
    page = Elements(text)
    assert HOSTILE not in text and "&lt;script&gt;" in text
    assert not {"script", "b"} & page.tags()
    assert {a["data-label"] for a in page.points("top-entities")} == {HOSTILE}


def test_an_empty_warehouse_gives_a_page_that_says_so(tmp_path):
    build_warehouse(tmp_path)
    text = _page(tmp_path)
    page = Elements(text)
    assert "holds no documents yet" in text and "No named entities yet" in text
    assert {"html", "main", "dl"} <= page.tags() and "svg" not in page.tags()


def test_a_view_missing_from_an_older_warehouse_is_named(tmp_path):
    _lake(tmp_path, [Doc("d1", ["Xi Jinping spoke ."], [XI])])
    from docmill.warehouse.history import snapshots

    # At a snapshot (this one before the views were built) the views are temporary ones of
    # the connection: one can go.
    con = connect_read_only(tmp_path, snapshot_version=snapshots(tmp_path, "b1")[-1].snapshot_id)
    con.execute("drop view temp.main.entity_cooccurrence")
    text = render_report(collect_report(con, data_dir=tmp_path))
    assert "no <code>entity_cooccurrence</code> view" in text
    assert 'data-label="Xi Jinping"' in text


@pytest.mark.parametrize(
    ("first", "last", "unit", "n", "second"),
    [
        ("2026-01-01", "2026-01-01", "day", 1, None),
        ("2026-01-30", "2026-02-02", "day", 4, "2026-01-31"),
        ("2024-04-12", "2026-11-27", "month", 32, "2024-05-01"),
        ("2025-11-05", "2026-12-01", "month", 14, "2025-12-01"),
    ],
)
def test_time_buckets_are_days_or_months(first, last, unit, n, second):
    days = [dt.date.fromisoformat(first), dt.date.fromisoformat(last)]
    got_unit, buckets = time_buckets(days)
    assert (got_unit, len(buckets)) == (unit, n)
    if second:
        assert buckets[1] == dt.date.fromisoformat(second)


# Wider than any of the chart's 12 px digits and hyphens (about 6.7 px in common sans fonts).
CHAR_WIDTH_PX = 7.5


@pytest.mark.parametrize("n_days", [2, 7, 14, 15, 30, 61, 100, 121, 400, 3000])
def test_time_axis_labels_never_overlap(n_days):
    first = dt.date(2024, 1, 1)
    unit, buckets = time_buckets([first, first + dt.timedelta(days=n_days - 1)])
    svg = line_chart("t", "t", buckets, [("Xi", [1] * len(buckets))], unit=unit)
    labels = [
        (float(attrs["x"]), text)
        for attrs, text in TextElements(svg).texts
        if re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", text)
    ]
    assert len(labels) >= 2
    assert labels[0][1] == buckets[0].isoformat()[: len(labels[0][1])]
    assert labels[-1][1] == buckets[-1].isoformat()[: len(labels[-1][1])]
    for (x, text), (next_x, _) in itertools.pairwise(labels):
        assert next_x - x >= CHAR_WIDTH_PX * len(text), (text, x, next_x)
    last_x, last = labels[-1]
    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg).group(1))
    assert last_x + CHAR_WIDTH_PX * len(last) / 2 <= width  # not cut off at the right edge


class TextElements(HTMLParser):
    """(attributes, text) of every <text> element."""

    def __init__(self, markup: str):
        super().__init__()
        self.texts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        if tag == "text":
            self._open = dict(attrs)
            self.texts.append((self._open, ""))

    def handle_data(self, data):
        if self._open is not None:
            attrs, text = self.texts[-1]
            self.texts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "text":
            self._open = None


def test_cli_report_prints_the_path(tmp_path, capsys):
    _lake(tmp_path, [Doc("d1", ["Xi Jinping spoke ."], [XI])])
    assert main(["report", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "out" / "index.html")


def test_cli_report_without_warehouse_says_what_to_do(tmp_path, capsys):
    assert main(["report", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no catalog" in err and "docmill run" in err and "Traceback" not in err


# ---------------------------------------------------------------- the real thing, in a browser


def _chromium() -> str:
    from helpers.ui_driver import chromium_executable

    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed"
    executable = chromium_executable()
    if reason is None and executable is None:
        reason = "Debian's chromium is not installed (`make browser`)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must install it)")
        pytest.skip(reason)
    return executable


@pytest.fixture(scope="module")
def seeds_report(prefect_server, tmp_path_factory):
    """The seeds plus one empty file (a reject), through the real flow, then `docmill report`."""
    from docmill.flows.process import process_documents

    root = tmp_path_factory.mktemp("report")
    sources = root / "sources"
    shutil.copytree(SEEDS, sources)
    (sources / "empty.txt").write_bytes(b"")
    data_dir = root / "data"
    summary = process_documents(sources=[str(sources)], batch_id="seeds", data_dir=str(data_dir))
    assert main(["report", "--data-dir", str(data_dir), "--out", str(root / "out")]) == 0
    return data_dir, summary, root / "out" / "index.html"


@pytest.mark.prefect
@pytest.mark.model
def test_the_run_writes_the_report_and_links_it_from_its_artifact(seeds_report):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    data_dir, summary, _ = seeds_report
    written = data_dir / "report" / "index.html"
    assert summary["report"] == str(written) and written.exists()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[summary["flow_run_id"]])
            )
        )
    markdown = next(a.data for a in artifacts if a.type == "markdown")
    assert f"({written.as_uri()})" in markdown


@pytest.mark.prefect
@pytest.mark.model
def test_a_run_leaves_the_report_alone_when_told_to(prefect_server, tmp_path, monkeypatch):
    from docmill.flows.process import process_documents

    monkeypatch.setenv("DOCMILL_REFRESH_REPORT", "false")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Xi Jinping met Sergey Lavrov in Beijing.\n")
    data_dir = tmp_path / "data"
    summary = process_documents(sources=[str(tmp_path / "in")], data_dir=str(data_dir))
    assert summary["status"] == "completed" and summary["n_documents"] == 1
    assert summary["report"] is None
    assert not (data_dir / "report").exists()


@pytest.mark.browser
@pytest.mark.prefect
@pytest.mark.model
def test_the_report_of_the_seeds_renders_every_chart_in_chromium(seeds_report):
    from helpers.ui_driver import launch
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    _, _, index = seeds_report
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright, executable)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda err: problems.append(str(err)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(index.as_uri())

            def count(selector: str) -> int:
                return page.locator(selector).count()

            xi = page.locator(
                '[data-chart="top-entities"][data-entity-label="PERSON"] '
                'rect[data-label="Xi Jinping"]'
            )
            assert xi.count() == 1 and xi.bounding_box()["width"] > 10
            # the three dated seeds are the JSONL records of 2024-04-12
            assert count('[data-chart="mentions-over-time"] path[data-label="Kenya (GPE)"]') == 1
            assert count('[data-chart="mentions-over-time"] circle') == 5
            assert count('[data-chart="mentions-over-time"] circle[data-day="2024-04-12"]') == 5
            assert count('[data-chart="cooccurrence"] tr[data-label]') >= 5
            assert count('[data-chart="batches"] rect[data-series="rejects"][data-value="1"]')
            assert count('[data-chart="runs"] rect[data-label^="seeds"]') == 1
            assert count('[data-chart="cleaning"] rect[data-label="unescape_html"]') == 1
            assert count('[data-chart="dedup"] rect[data-label="unique"]') == 1
            sources = page.locator('[data-chart="sources"] rect')
            assert sources.count() == 2
            assert {sources.nth(i).get_attribute("data-label") for i in range(2)} == {
                "sources",  # the seeds' folder
                "wire.example.com",  # the JSONL records' url
            }
            assert count('table[data-table="reject-reasons"] td:text-is("empty")') == 1
            assert page.locator('[data-figure="documents"]').inner_text() == "6"
            assert page.get_by_text("no publication date", exact=False).count() == 0
            assert "the 3 undated ones are left out" in page.inner_text("#time")
            assert "This warehouse has no" not in page.inner_text("main")
        finally:
            browser.close()
    assert problems == []
    assert requests == [index.as_uri()]
