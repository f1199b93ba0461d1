"""HTML pages -> main text, title and publication date.

trafilatura finds the main text (boilerplate such as navigation, footers, teasers and
comments removed) and the page's metadata; a per-page time limit bounds it. When it finds
nothing, runs out of time or raises, the standard-library `_TextExtractor` (all visible text)
takes over, and the result says which method produced the text and why.
"""

from __future__ import annotations

import ctypes
import html
import logging
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from types import FrameType, ModuleType
from typing import Any

DEFAULT_TIME_LIMIT_S = 10.0
CHARSET_SNIFF_BYTES = 8192  # pages with long <head> scripts declare their charset after 4 KiB

# htmldate without its "extensive" search: that guesses from copyright lines and free text
# ("2016-01-01" for "© 2016"), so only dates the page marks up as such are taken.
_DATE_PARAMS = {"original_date": True, "extensive_search": False}


@dataclass(frozen=True, slots=True)
class HtmlExtraction:
    title: str | None
    text: str  # paragraphs separated by one blank line
    published_at: str | None  # ISO date (YYYY-MM-DD) as the page gives it
    method: str  # "trafilatura" | "fallback"
    note: str | None = None  # why the fallback was used
    url: str | None = None  # the page's own address, from its markup (see `page_url`)


@dataclass(frozen=True, slots=True)
class HtmlOptions:
    """How ingest extracts HTML; part of what a shard's output depends on."""

    use_trafilatura: bool = True
    time_limit_s: float | None = DEFAULT_TIME_LIMIT_S  # None: no limit


def extract_html(
    page: str,
    *,
    url: str | None = None,
    time_limit_s: float | None = DEFAULT_TIME_LIMIT_S,
    use_trafilatura: bool = True,
) -> HtmlExtraction:
    """Main text, title, date and own address of a decoded HTML page; never raises for a bad
    page."""
    note = None
    if use_trafilatura:
        trafilatura = _trafilatura_module()  # imported outside the limit: never half-imported
        try:
            with time_limit(time_limit_s):
                found = _with_trafilatura(trafilatura, page, url)
        except ExtractionTimeout:
            note = f"trafilatura timed out after {time_limit_s:g} s"
        except Exception as exc:  # one odd page must not fail its shard; the fallback reads it
            note = f"trafilatura failed: {type(exc).__name__}: {exc}"[:300]
        else:
            if found is not None:
                return replace(found, url=page_url(page))
            note = "trafilatura found no main text"
    title, text = fallback_text(page)
    return HtmlExtraction(title, text, None, "fallback", note, page_url(page))


# --- trafilatura --------------------------------------------------------------------------

_TABLE_RULE_RE = re.compile(r"\|?(?:\s*:?-{3,}:?\s*\|)+\s*")


def _trafilatura_module() -> ModuleType:
    import trafilatura  # 0.2 s to import: only runs that meet an HTML page pay for it

    # For a page where it finds no main text trafilatura logs "discarding data: None" (None
    # being the URL it was not given), which reads like lost data. Nothing is lost: the fallback
    # reads the page, and the document records it (`extraction = 'fallback'` and its
    # `extraction_note`), as does the run summary. A level someone set is left alone.
    logger = logging.getLogger("trafilatura")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL)
    return trafilatura


def _with_trafilatura(trafilatura: ModuleType, page: str, url: str | None) -> HtmlExtraction | None:
    document = trafilatura.bare_extraction(
        page,
        url=url,
        with_metadata=True,
        include_comments=False,  # reader comments are not the article (and cost time)
        date_extraction_params=_DATE_PARAMS,
    )
    paragraphs = _paragraphs(document.text or "") if document is not None else []
    if not paragraphs:
        return None
    title = " ".join((document.title or "").split()) or None
    title, paragraphs = _drop_repeated_title(title, paragraphs)
    return HtmlExtraction(title, "\n\n".join(paragraphs), document.date or None, "trafilatura")


def _paragraphs(text: str) -> list[str]:
    """trafilatura's text has one block per line; tables come as Markdown rows."""
    paragraphs = []
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("|"):
            if _TABLE_RULE_RE.fullmatch(line):
                continue
            line = " | ".join(cell.strip() for cell in line.strip("|").split("|") if cell.strip())
        if line:
            paragraphs.append(line)
    return paragraphs


# Separators between a headline and a site name; not ":", which also introduces subtitles.
_TITLE_PARTS_RE = re.compile(r"\s+[|\-–—•·»]\s+")


def _drop_repeated_title(title: str | None, paragraphs: list[str]) -> tuple[str | None, list[str]]:
    """Drop a first paragraph that repeats the title (the page's heading).

    A heading equal to one part of a "Headline | Site" title is the cleaner title: it is taken.
    """
    if not title or len(paragraphs) < 2:
        return title, paragraphs
    first = " ".join(paragraphs[0].split())
    if first.casefold() == title.casefold():
        return title, paragraphs[1:]
    parts = {part.casefold() for part in _TITLE_PARTS_RE.split(title)}
    if len(parts) > 1 and first.casefold() in parts:
        return first, paragraphs[1:]
    return title, paragraphs


# --- the page's own address ---------------------------------------------------------------

_HEAD_END_RE = re.compile(r"<body[\s>]|</head\s*>", re.I)
_ADDRESS_TAG_RE = re.compile(r"<(link|meta|base)\s[^>]*>", re.I)
_TEXT_ATTR_RE = re.compile(r"""([a-zA-Z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_WEB_URL_RE = re.compile(r"https?://[^/\s?#]+", re.I)


def page_url(page: str) -> str | None:
    """The address a page gives itself in its head: `<link rel="canonical">`, else
    `<meta property="og:url">`, else `<base href>`; absolute http(s) URLs only.

    A saved page has no URL of its own (its file is the item), but this one says which site
    it came from, which is how `source_stats` groups web pages.
    """
    head_end = _HEAD_END_RE.search(page)
    found: dict[str, str] = {}
    for tag in _ADDRESS_TAG_RE.finditer(page, 0, head_end.start() if head_end else len(page)):
        attrs = {
            m[1].lower(): html.unescape(m[2] or m[3] or m[4] or "").strip()
            for m in _TEXT_ATTR_RE.finditer(tag.group())
        }
        kind = tag.group(1).lower()
        if kind == "link" and "canonical" in attrs.get("rel", "").lower().split():
            kind, address = "canonical", attrs.get("href", "")
        elif kind == "meta" and (attrs.get("property") or attrs.get("name", "")) == "og:url":
            kind, address = "og:url", attrs.get("content", "")
        elif kind == "base":
            address = attrs.get("href", "")
        else:
            continue
        if _WEB_URL_RE.match(address):
            found.setdefault(kind, address)
    return found.get("canonical") or found.get("og:url") or found.get("base")


# --- time limit ---------------------------------------------------------------------------


class ExtractionTimeout(BaseException):
    """Raised into the extracting thread when its time is up.

    A BaseException, so that no `except Exception` inside trafilatura or lxml swallows it.
    """


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ExtractionTimeout in the current thread if the block runs longer than `seconds`.

    On the main thread with no other SIGALRM user (a ProcessPoolTaskRunner worker runs its
    tasks there) a SIGALRM timer interrupts the block. Elsewhere (ThreadPoolTaskRunner with one
    worker, or a timer already armed by someone else) a watchdog thread raises the exception
    asynchronously into this thread. Both interrupt Python code between bytecodes only, so a
    single call into C finishes first; in trafilatura the longest is lxml parsing the page
    (0.04 s for 10 MB), so the limit holds to within milliseconds.
    """
    if seconds is None:
        yield
    elif _alarm_is_free():
        with _alarm(seconds):
            yield
    else:
        with _watchdog(seconds):
            yield


def _alarm_is_free() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    )


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    armed = [True]

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        if armed[0]:
            raise ExtractionTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-6))
        yield
    finally:
        _disarm(lambda: _restore_alarm(armed, previous))


def _restore_alarm(armed: list[bool], previous: Any) -> None:
    armed[0] = False
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


# A separate prototype: setting argtypes on ctypes.pythonapi's shared function object would
# change it for every other caller in the process (Prefect calls it with c_long).
_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
_NO_EXCEPTION = ctypes.py_object()  # NULL: withdraws a pending asynchronous exception


@contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    target, lock = threading.get_ident(), threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                _set_async_exc(target, ctypes.py_object(ExtractionTimeout))

    def stop() -> None:
        with lock:
            state["done"] = True
            if state["fired"]:  # sent but perhaps not raised yet: it must not surface later
                _set_async_exc(target, _NO_EXCEPTION)

    timer = threading.Timer(max(seconds, 0.0), fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        _disarm(stop)
        timer.cancel()


def _disarm(stop: Callable[[], None]) -> None:
    """Run `stop` to completion even if the timeout arrives while it runs.

    The block's own outcome (result or exception) stands; a timeout raised during `stop` came
    too late to matter, and after `stop` none can come.
    """
    while True:
        try:
            stop()
            return
        except ExtractionTimeout:
            continue


# --- charset ------------------------------------------------------------------------------

_XML_DECL_RE = re.compile(rb"""\A\s*<\?xml[^>]*?encoding\s*=\s*["']\s*([A-Za-z0-9_.:-]+)""")
_META_RE = re.compile(rb"<meta\s[^>]*>", re.I)
_ATTR_RE = re.compile(rb"""([a-zA-Z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_CHARSET_RE = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def declared_charset(raw: bytes) -> str | None:
    """The charset a page declares in its first 8 KiB, or None.

    Reads an XML declaration's encoding, `<meta charset=...>` and
    `<meta http-equiv="Content-Type" content="text/html; charset=...">`. A UTF-16/32 label is
    ignored, as browsers do: the declaration itself was readable as ASCII.
    """
    head = raw[:CHARSET_SNIFF_BYTES]
    match = _XML_DECL_RE.match(head)
    found = match.group(1) if match else _meta_charset(head)
    label = found.decode("ascii", errors="replace") if found else None
    return None if label is None or label.lower().startswith(("utf-16", "utf-32")) else label


def _meta_charset(head: bytes) -> bytes | None:
    for meta in _META_RE.finditer(head):
        attrs = {m[1].lower(): m[2] or m[3] or m[4] for m in _ATTR_RE.finditer(meta.group())}
        is_content_type = attrs.get(b"http-equiv", b"").strip().lower() == b"content-type"
        match = _CHARSET_RE.search(attrs.get(b"content", b"")) if is_content_type else None
        if found := attrs.get(b"charset", b"").strip() or (match and match.group(1)):
            return found
    return None


# --- fallback: the standard library's parser ---------------------------------------------

_SKIP_TAG_NAMES = "script style noscript template svg head nav iframe object"
_SKIP_TAGS = frozenset(_SKIP_TAG_NAMES.split())
_BLOCK_TAG_NAMES = (
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr table section article header footer main aside "
    "blockquote pre figure figcaption hr dl dt dd address details summary form"
)
_BLOCK_TAGS = frozenset(_BLOCK_TAG_NAMES.split())
_SPACES_RE = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []
        self.heads: dict[str, list[str]] = {}  # text of the first <title> and first <h1>
        self.capturing: str | None = None
        self.in_pre = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and "head" in self.skipping:
            self.skipping.remove("head")  # a page that never closes <head>
        if tag in ("title", "h1") and tag not in self.heads:
            self.heads[tag], self.capturing = [], tag
        if tag in _SKIP_TAGS:
            self.skipping.append(tag)
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        self.in_pre |= tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if tag in self.skipping:
            del self.skipping[self.skipping.index(tag) :]
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        self.in_pre &= tag != "pre"
        if tag == self.capturing:
            self.capturing = None

    def handle_data(self, data: str) -> None:
        if self.capturing:
            self.heads[self.capturing].append(data)
        if not self.skipping and self.capturing != "title":
            self.parts.append(data if self.in_pre else _SPACES_RE.sub(" ", data))


def fallback_text(page: str) -> tuple[str | None, str]:
    """(title, all visible text with paragraphs separated by blank lines) of an HTML page."""
    parser = _TextExtractor()
    parser.feed(page)
    parser.close()
    paragraphs = [p.strip() for p in "".join(parser.parts).split("\n\n") if p.strip()]
    title_parts = parser.heads.get("title") or parser.heads.get("h1") or []
    title = " ".join("".join(title_parts).split()) or None
    if title and paragraphs and " ".join(paragraphs[0].split()) == title:
        paragraphs = paragraphs[1:]  # the page's heading repeats its title
    return title, "\n\n".join(paragraphs)
