"""HTML extraction on a folder of real web pages: what ingest makes of them, and how fast.

    .venv/bin/python bench/html_extraction.py ../shared/corpus/html [--time-limit 10] [--pages]

Every page goes through ingest's read path (`plan_items` + `read_items`, so charset sniffing,
decoding, gzip and the HTML extractor exactly as in a run) and then `clean_document`. Printed:
pages read and rejected, extraction method (trafilatura or the standard-library fallback, with
the fallback's reasons), titles and dates found, characters, time per page (read path only),
and every title or body that still holds mojibake or script/CSS text after cleaning. The same
pages read with trafilatura turned off are shown beside it for comparison.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from docmill.tasks.clean.steps import clean_document
from docmill.tasks.ingest.html import HtmlOptions
from docmill.tasks.ingest.read import plan_items, read_items
from docmill.tasks.ingest.sources import resolve_sources
from docmill.tasks.records import Document, ItemRejected

MOJIBAKE = ("Ã¶", "Ã¼", "Ã¤", "Ã–", "Ãœ", "ÃŸ", "â€™", "â€œ", "â€", "Ã©", "Ã¨", "Â ", "Â\xa0")
SCRIPT_OR_CSS = ("function(", "var ", "{display", "window.", "@media", "document.", "});")
_NOISE_RE = re.compile("|".join(re.escape(s) for s in MOJIBAKE + SCRIPT_OR_CSS))


@dataclass
class Report:
    label: str
    pages: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    titles: int = 0
    dates: int = 0
    chars_raw: int = 0
    chars_clean: int = 0
    seconds: list[float] = field(default_factory=list)
    raw_noise: int = 0  # the same hits in the text as read, before clean_document
    noise: list[tuple[str, str, str]] = field(default_factory=list)  # page, where, context
    rows: list[tuple[str, str, int, str | None, str | None]] = field(default_factory=list)


def measure(corpus: str, html: HtmlOptions, label: str) -> Report:
    report = Report(label)
    items = list(plan_items(resolve_sources([corpus])))
    outcomes = read_items(items, html=html)
    while True:
        start = time.perf_counter()
        try:
            item, outcome = next(outcomes)
        except StopIteration:
            break
        report.seconds.append(time.perf_counter() - start)
        report.pages += 1
        name = Path(item.path).name
        if isinstance(outcome, ItemRejected):
            report.rejects[f"{outcome.reason}: {outcome.detail}"] += 1
            continue
        _count(report, name, outcome)
    return report


def _count(report: Report, name: str, doc: Document) -> None:
    report.methods[doc.extraction or "?"] += 1
    if note := doc.metadata.get("extraction_note"):
        report.notes[re.sub(r"\d+(\.\d+)? s\b", "N s", note)] += 1
    report.chars_raw += len(doc.text)
    report.raw_noise += len(_NOISE_RE.findall(f"{doc.title or ''}\n{doc.text}"))
    cleaned = clean_document(doc)
    report.titles += bool(cleaned.title)
    report.dates += bool(cleaned.published_at)
    report.chars_clean += len(cleaned.text)
    report.rows.append(
        (name, doc.extraction or "?", len(cleaned.text), cleaned.published_at, cleaned.title)
    )
    for where, text in (("title", cleaned.title or ""), ("body", cleaned.text)):
        for match in _NOISE_RE.finditer(text):
            context = text[max(match.start() - 30, 0) : match.end() + 30].replace("\n", " ")
            report.noise.append((name, where, context))


def show(report: Report, *, pages: bool) -> None:
    times = report.seconds
    print(f"== {report.label}")
    print(f"pages read        {report.pages}")
    print(f"rejects           {sum(report.rejects.values())}  {dict(report.rejects)}")
    print(f"method            {dict(report.methods)}")
    print(f"fallback reasons  {dict(report.notes)}")
    print(f"titles found      {report.titles}")
    print(f"dates found       {report.dates}")
    print(f"chars extracted   {report.chars_raw}  (after clean_document: {report.chars_clean})")
    if times:
        mean, worst = statistics.mean(times) * 1000, max(times) * 1000
        median = statistics.median(times) * 1000
        print(f"time per page     mean {mean:.1f} ms, median {median:.1f} ms, max {worst:.1f} ms")
    print(f"noise as read     {report.raw_noise} hit(s) of mojibake or script/CSS text")
    print(f"noise after clean {len(report.noise)} hit(s)")
    for name, where, context in report.noise:
        print(f"    {name} [{where}]: …{context}…")
    if pages:
        for name, method, chars, date, title in report.rows:
            print(f"    {name[:40]:40} {method:11} {chars:7} {date or '-':10} {title or '-'}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", help="folder (or file) of .html / .htm / .html.gz pages")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per page")
    parser.add_argument("--pages", action="store_true", help="one line per page")
    args = parser.parse_args(argv)
    trafilatura = HtmlOptions(time_limit_s=args.time_limit)
    measure(args.corpus, trafilatura, "warm-up")  # imports and regex compilation, not timed
    show(measure(args.corpus, trafilatura, "trafilatura (default)"), pages=args.pages)
    fallback = HtmlOptions(use_trafilatura=False)
    show(measure(args.corpus, fallback, "standard-library fallback only"), pages=args.pages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
