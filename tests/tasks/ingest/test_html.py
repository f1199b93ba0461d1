import gzip
import logging
import random
import signal
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from helpers.item_reader import read_item

from docmill.tasks.ingest.html import (
    ExtractionTimeout,
    HtmlExtraction,
    HtmlOptions,
    declared_charset,
    extract_html,
    fallback_text,
    page_url,
    time_limit,
)
from docmill.tasks.ingest.read import MAX_BYTES, MAX_GZIP_BYTES, plan_items, read_items
from docmill.tasks.records import ItemRejected

ARTICLE = [
    "The city council voted on Tuesday to extend the tram line to the northern suburbs, a project "
    "first proposed in 2009 and delayed twice by disputes over funding and the route.",
    "Supporters said the extension would cut commuting times by a third for about forty thousand "
    "residents, while shop owners along the route asked for compensation during construction.",
    "The regional transport authority expects the first trams to run on the new section in the "
    "spring of 2027, provided that the federal grant approved last month is paid out on time.",
]
HEADLINE = "Tram line to reach northern suburbs"
BOILERPLATE = ["Home", "Politics", "Weather", "Most read", "Celebrity chef", "Imprint", "2016"]
OG_TITLE = '<meta property="og:title" content="Tram news">'
SCRIPT_AND_CSS = ["function(", "var ", "display", "window.", "@media", "document.", "dataLayer"]


def page(
    *,
    head: str = "",
    article: list[str] = ARTICLE,
    title: str = f"{HEADLINE} | Example News",
    h1: str = HEADLINE,
    charset: str = "utf-8",
) -> str:
    """A news page: navigation, sidebar, footer, script and CSS around a three-paragraph article."""
    paragraphs = "".join(f"<p>{p}</p>\n" for p in article)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="{charset}">
<title>{title}</title>{head}
<style>.teaser {{display: none}} @media (max-width: 600px) {{ nav {{ display: none }} }}</style>
<script>var tracker = function() {{ window.dataLayer.push({{event: "view"}}); }};</script>
</head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/politics">Politics</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li></ul></nav></header>
<main><article><h1>{h1}</h1>
{paragraphs}</article>
<aside class="sidebar"><h2>Most read</h2><ul><li><a href="/a">Celebrity chef opens restaurant</a>
</li><li><a href="/b">Ten tips for a better garden</a></li></ul></aside></main>
<footer><p>Imprint | Privacy | Contact</p><p>© 2016 Example Media Group</p></footer>
<script>document.write("<p>ad</p>");</script>
</body></html>"""


def long_article(n_paragraphs: int = 1500) -> list[str]:
    """Distinct paragraphs (no cache hits): trafilatura needs a good 100 ms for them."""
    rng = random.Random(n_paragraphs)
    words = ["council", "tram", "route", "grant", "river", "city", "minister", "said", "week"]
    return [" ".join(rng.choices(words, k=30)) + f" {n}." for n in range(n_paragraphs)]


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def read_one(path: Path, **options):
    (item,) = plan_items([path])
    return read_item(item, **options)


# --- main text, title, date -------------------------------------------------------------------


def test_article_paragraphs_survive_and_boilerplate_does_not() -> None:
    result = extract_html(page())
    assert (result.method, result.note) == ("trafilatura", None)
    assert result.text.split("\n\n") == ARTICLE
    for noise in BOILERPLATE + SCRIPT_AND_CSS:
        assert noise not in result.text


def test_a_table_becomes_one_paragraph_per_row_without_markdown_rules() -> None:
    table = (
        "<table><tr><th>Line</th><th>Length</th></tr><tr><td>North</td><td>12 km</td></tr>"
        "<tr><td>South</td><td></td></tr></table>"
    )
    html = page(article=ARTICLE[:2]).replace("</article>", f"{table}<p>{ARTICLE[2]}</p></article>")
    paragraphs = extract_html(html).text.split("\n\n")
    assert paragraphs == [*ARTICLE[:2], "Line | Length", "North | 12 km", "South", ARTICLE[2]]


def test_the_fallback_keeps_all_visible_text_of_the_same_page() -> None:
    # The contrast that makes the test above meaningful: without trafilatura, boilerplate stays.
    result = extract_html(page(), use_trafilatura=False)
    assert (result.method, result.note) == ("fallback", None)
    assert all(paragraph in result.text for paragraph in ARTICLE)
    assert "Most read" in result.text and "Imprint" in result.text
    assert not any(code in result.text for code in SCRIPT_AND_CSS)


@pytest.mark.parametrize(
    ("title", "h1", "head", "expected", "first"),
    [
        # The page's one <h1> is the title; repeated as the first paragraph, it is dropped.
        (f"{HEADLINE} | Example News", HEADLINE, "", HEADLINE, ARTICLE[0]),
        (HEADLINE, HEADLINE, "", HEADLINE, ARTICLE[0]),
        # Without a heading, the headline part of the <title>.
        (f"{HEADLINE} | Example News", "", "", HEADLINE, ARTICLE[0]),
        # og:title wins; a heading that differs from it stays in the text.
        ("Example News", HEADLINE, OG_TITLE, "Tram news", HEADLINE),
    ],
)
def test_title(title: str, h1: str, head: str, expected: str, first: str) -> None:
    result = extract_html(page(title=title, h1=h1, head=head))
    assert result.title == expected
    assert result.text.split("\n\n") == ([] if first == ARTICLE[0] else [first]) + ARTICLE


@pytest.mark.parametrize(
    ("head", "published_at"),
    [
        (
            '<meta property="article:published_time" content="2021-03-04T10:00:00+01:00">',
            "2021-03-04",
        ),
        ('<meta name="date" content="2019-11-02">', "2019-11-02"),
        ('<meta itemprop="datePublished" content="2020-02-01">', "2020-02-01"),
        # Only the footer's "© 2016": htmldate's extensive search would guess 2016-01-01.
        ("", None),
    ],
)
def test_publication_date(head: str, published_at: str | None) -> None:
    assert extract_html(page(head=head)).published_at == published_at


# --- the page's own address ------------------------------------------------------------------

CANONICAL = '<link rel="canonical" href="https://www.example.com/news/tram">'
OG_URL = '<meta property="og:url" content="https://m.example.com/tram">'
BASE = '<base href="https://example.org/">'


@pytest.mark.parametrize(
    ("head", "url"),
    [
        (CANONICAL + OG_URL + BASE, "https://www.example.com/news/tram"),
        (OG_URL + CANONICAL, "https://www.example.com/news/tram"),
        (BASE + OG_URL, "https://m.example.com/tram"),
        (BASE, "https://example.org/"),
        (
            "<link href='http://blog.example.net/a.html' rel='canonical'/>",
            "http://blog.example.net/a.html",
        ),
        (
            '<link rel="canonical" href="https&#x3A;&#x2F;&#x2F;shop.example.de&#x2F;x">',
            "https://shop.example.de/x",
        ),
        ('<link rel="canonical" href="">' + BASE, "https://example.org/"),
        ('<link rel="canonical" href="/news/tram">' + OG_URL, "https://m.example.com/tram"),
        ('<base href="/">', None),
        ('<link rel="alternate" href="https://example.com/feed">', None),
        (
            '<meta name="og:url" content="https://example.com/by-name">',
            "https://example.com/by-name",
        ),
        ('<link rel="canonical" href="ftp://example.com/file">', None),
        ("", None),
    ],
)
def test_page_url(head: str, url: str | None) -> None:
    assert page_url(page(head=head)) == url


def test_a_link_in_the_body_is_not_the_pages_address() -> None:
    body_link = "<p>Share: <link rel='canonical' href='https://elsewhere.example/x'></p>"
    assert page_url(page(article=[*ARTICLE, body_link])) is None


def test_extraction_carries_the_page_url_whichever_method_read_it() -> None:
    found = extract_html(page(head=CANONICAL))
    fallback = extract_html(page(head=CANONICAL), use_trafilatura=False)
    assert (found.method, fallback.method) == ("trafilatura", "fallback")
    assert found.url == fallback.url == "https://www.example.com/news/tram"


# --- fallback -----------------------------------------------------------------------------


def test_fallback_when_trafilatura_finds_nothing() -> None:
    note = "trafilatura found no main text"
    expected = HtmlExtraction(None, "Too short for an article.", None, "fallback", note)
    assert extract_html("<p>Too short for an article.</p>") == expected


def test_trafilatura_finding_nothing_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """Its "discarding data: None" (None: the URL it was not given) reads like lost data; the
    fallback and its note say what happened instead."""
    caplog.set_level(logging.DEBUG)
    extraction = extract_html("<p>Too short for an article.</p>")
    assert (extraction.method, extraction.note) == ("fallback", "trafilatura found no main text")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("trafilatura")] == []


def test_a_level_set_for_trafilatura_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("trafilatura")
    saved = logger.level
    logger.setLevel(logging.WARNING)
    try:
        caplog.set_level(logging.WARNING)
        extract_html("<p>Too short for an article.</p>")
    finally:
        logger.setLevel(saved)
    assert any("discarding data" in r.getMessage() for r in caplog.records)


def test_fallback_when_trafilatura_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    import trafilatura

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(trafilatura, "bare_extraction", broken)
    result = extract_html(page())
    assert (result.method, result.note) == (
        "fallback",
        "trafilatura failed: RuntimeError: parser bug",
    )
    assert ARTICLE[0] in result.text


_OLD_PAGE = b"""<!DOCTYPE html><html><head><meta charset="windows-1252">
<title> The  Page </title><style>.a { color: red }</style><script>var secret = 1;</script>
</head><body><nav>Home | World</nav><h1>The Page</h1>
<p>First paragraph, caf\xe9.</p><div>Second <b>bold</b>
paragraph.<br>After a break.</div><noscript>Enable JS</noscript><template>tpl</template>
<svg><text>svg text</text></svg><ul><li>One</li><li>Two &amp; three</li></ul></body></html>"""


def test_fallback_visible_text_title_and_paragraphs(tmp_path: Path) -> None:
    off = HtmlOptions(use_trafilatura=False)
    doc = read_one(write(tmp_path / "a.html", _OLD_PAGE), html=off)
    assert doc.title == "The Page"
    assert doc.text.split("\n\n") == [
        "First paragraph, café.",
        "Second bold paragraph.",
        "After a break.",
        "One",
        "Two & three",
    ]
    assert (doc.encoding, doc.extraction) == ("cp1252", "fallback")
    for noise in ("secret", "color", "Home", "Enable JS", "tpl", "svg text"):
        assert noise not in doc.text


def test_fallback_title_is_the_first_h1_without_a_title_element() -> None:
    page_text = "<h1>Heading</h1><p>Body.</p><h1>Other</h1>"
    assert fallback_text(page_text) == ("Heading", "Body.\n\nOther")


# --- time limit ---------------------------------------------------------------------------


def _extract_in_thread(page_text: str, **options) -> object:
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(r=extract_html(page_text, **options)))
    worker.start()
    worker.join()
    return result["r"]


@pytest.mark.parametrize("where", ["main thread (SIGALRM)", "worker thread (watchdog)"])
def test_time_limit_falls_back_with_a_note(where: str) -> None:
    article = long_article()
    run = _extract_in_thread if where.startswith("worker") else extract_html
    result = run(page(article=article), time_limit_s=0.005)
    assert (result.method, result.note) == ("fallback", "trafilatura timed out after 0.005 s")
    assert all(paragraph in result.text for paragraph in article)
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_same_page_without_a_tight_limit_uses_trafilatura() -> None:
    assert extract_html(page(article=long_article()), time_limit_s=60).method == "trafilatura"


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.parametrize(
    ("in_thread", "low", "high"), [(False, 0.0005, 0.002), (True, 0.002, 0.015)]
)
def test_a_timeout_never_surfaces_after_its_block(in_thread: bool, low: float, high: float) -> None:
    # Work and limit of about the same length, so the timer often fires while the block ends.
    # The watchdog thread needs the GIL to fire (switch interval 5 ms): longer times there.
    errors: list[BaseException] = []
    timeouts, n_runs = 0, 80

    def race() -> None:
        nonlocal timeouts
        rng = random.Random(7)
        try:
            for _ in range(n_runs):
                try:
                    with time_limit(rng.uniform(low, high)):
                        _busy(rng.uniform(low, high))
                except ExtractionTimeout:
                    timeouts += 1
            _busy(0.05)  # a late timeout would be raised here
        except BaseException as exc:
            errors.append(exc)

    if in_thread:
        worker = threading.Thread(target=race)
        worker.start()
        worker.join()
    else:
        race()
    assert errors == []
    assert 0 < timeouts < n_runs


def test_an_alarm_set_by_someone_else_is_left_alone() -> None:
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: None)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        result = extract_html(page(article=long_article()), time_limit_s=0.005)
        assert result.note == "trafilatura timed out after 0.005 s"  # by the watchdog
        assert 29 < signal.getitimer(signal.ITIMER_REAL)[0] <= 30
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- charset ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "charset"),
    [
        (b'<html><head><meta charset="iso-8859-1">', "iso-8859-1"),
        (b"<html><head><meta charset=windows-1252>", "windows-1252"),
        (
            b'<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=ISO-8859-15">',
            "ISO-8859-15",
        ),
        (b"<meta http-equiv='content-type' content='text/html;charset=utf-8'/>", "utf-8"),
        (b"<?xml version='1.0' encoding='iso-8859-1'?>\n<html>", "iso-8859-1"),
        (b'<meta name="description" content="charset=koi8-r"><meta charset="utf-8">', "utf-8"),
        (b'<meta charset="utf-16">', None),  # readable as ASCII, so not UTF-16
        (b"<html><p>no declaration</p>", None),
        (b"<html>" + b" " * 9000 + b'<meta charset="iso-8859-1">', None),  # past the head
    ],
)
def test_declared_charset(raw: bytes, charset: str | None) -> None:
    assert declared_charset(raw) == charset


GERMAN = [
    "Grüße aus Köln: Die Straßenbahn fährt künftig öfter, teilte der Verkehrsverbund mit. "
    "Für Fahrgäste ändert sich zunächst wenig, die „neuen“ Fahrpläne gelten ab März.",
    "Außerdem soll die Linie über den Rhein hinaus verlängert werden; die Kosten schätzt die "
    "Stadt auf 120 Millionen Euro, davon trägt der Bund den größten Teil.",
    "Kritiker bemängeln, dass über die Trasse noch nicht öffentlich diskutiert wurde. Der Rat "
    "entscheidet im Frühjahr, ob ein Bürgerentscheid stattfinden soll.",
]


@pytest.mark.parametrize(
    ("declared", "codec", "encoding", "noted"),
    [
        ("iso-8859-1", "utf-8", "utf-8", False),  # declares Latin-1, is UTF-8
        ("utf-8", "cp1252", "cp1252", True),  # declares UTF-8, is windows-1252
        ("utf-8", "latin-1", "cp1252", True),  # declares UTF-8, is Latin-1 (no “ ” then)
        ("windows-1252", "cp1252", "cp1252", True),  # declared and true
    ],
)
def test_mis_declared_charset_comes_out_right(
    tmp_path: Path, declared: str, codec: str, encoding: str, noted: bool
) -> None:
    quotes = {ord("„"): '"', ord("“"): '"'}  # not in Latin-1
    article = GERMAN if codec != "latin-1" else [p.translate(quotes) for p in GERMAN]
    title = "Straßenbahn fährt öfter"
    raw = page(article=article, charset=declared, title=title, h1=title).encode(codec)
    doc = read_one(write(tmp_path / "a.html", raw))
    assert doc.text.split("\n\n") == article
    assert (doc.title, doc.encoding, doc.decode_note is not None) == (
        "Straßenbahn fährt öfter",
        encoding,
        noted,
    )
    for mojibake in ("Ã", "Â", "â€", "\ufffd"):
        assert mojibake not in doc.text + doc.title


# --- ingest ---------------------------------------------------------------------------------


def test_ingest_sets_title_text_date_and_method(tmp_path: Path) -> None:
    head = '<meta property="article:published_time" content="2021-03-04T10:00:00Z">'
    doc = read_one(write(tmp_path / "a.html", page(head=head)))
    assert (doc.title, doc.published_at, doc.extraction) == (HEADLINE, "2021-03-04", "trafilatura")
    assert doc.text.split("\n\n") == ARTICLE
    assert "extraction_note" not in doc.metadata


def test_ingest_keeps_the_page_url_as_the_documents_url(tmp_path: Path) -> None:
    """source_of() and source_stats group a page by the host of this url (warehouse/)."""
    doc = read_one(write(tmp_path / "a.html", page(head=CANONICAL)))
    assert doc.metadata["url"] == "https://www.example.com/news/tram"
    assert "url" not in read_one(write(tmp_path / "b.html", page())).metadata


def test_ingest_records_the_fallback_note(tmp_path: Path) -> None:
    path = write(tmp_path / "a.html", page(article=long_article()))
    doc = read_one(path, html=HtmlOptions(time_limit_s=0.005))
    assert doc.extraction == "fallback"
    assert doc.metadata["extraction_note"] == "trafilatura timed out after 0.005 s"
    assert doc.published_at is None


def test_gzip_bomb_is_rejected_without_reading_it_into_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.html.gz"
    chunk = b" " * (1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as f:  # 200 MiB of spaces, ~1 MB on disk
        f.write(b"<html><body><p>")
        for _ in range(200):
            f.write(chunk)
    assert path.stat().st_size < 2_000_000
    tracemalloc.start()
    try:
        (item,) = plan_items([path])
        ((_, outcome),) = read_items([item])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(outcome, ItemRejected)
    assert outcome.reason == "too_large"
    limit = min(MAX_BYTES, MAX_GZIP_BYTES)
    assert outcome.detail.startswith(f"decompressed size exceeds {limit} bytes")
    assert peak < 16 * 1024 * 1024  # chunks of 1 MiB, never the 64 MiB cap or the 200 MiB


def test_gzip_page_under_the_cap_is_read(tmp_path: Path) -> None:
    doc = read_one(write(tmp_path / "a.html.gz", gzip.compress(page().encode())))
    assert (doc.extraction, doc.text.split("\n\n")) == ("trafilatura", ARTICLE)
