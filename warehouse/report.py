"""An offline HTML report of the warehouse: one self-contained `index.html` (inline CSS and
SVG, no script, no network) built from the views through a read-only connection.

`collect_report` turns the views into plain data, `render_report` turns that into HTML, and
`write_report` does both for a data directory. Every text that comes from the data is escaped.
A section whose view this warehouse lacks (built by an older docmill) says so instead of failing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from docmill.warehouse.query import connect_read_only

# Labels whose "entities" are values (dates, amounts); they would crowd out names in the charts.
VALUE_LABELS = frozenset({"CARDINAL", "DATE", "MONEY", "ORDINAL", "PERCENT", "QUANTITY", "TIME"})
TOP_LABELS, TOP_PER_LABEL, TOP_SERIES, TOP_PAIRS, TOP_CLUSTERS, MAX_ROWS = 6, 10, 5, 15, 10, 20
MAX_DAILY_SPAN_DAYS = 120  # beyond this the time chart counts per month
PALETTE = ("#0072B2", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#56B4E9")  # Okabe-Ito

Rows = list[tuple]


@dataclass
class Report:
    """What the report shows, as plain data. None: the warehouse has no view for it."""

    data_dir: str
    generated_at: dt.datetime
    headline: dict[str, int]
    dated_documents: int = 0
    top_entities: dict[str, Rows] | None = None  # label -> (canonical, mentions, documents)
    daily: Rows | None = None  # (canonical, label, day, mentions)
    pairs: Rows | None = None
    batches: Rows | None = None  # (batch_id, documents, duplicates, rejects)
    batch_count: int = 0
    reject_reasons: Rows | None = None
    runs: Rows | None = None
    cleaning: Rows | None = None  # (op, documents, chars_removed)
    duplicate_kinds: Rows = field(default_factory=list)
    clusters: Rows | None = None
    sources: Rows | None = None
    missing: set[str] = field(default_factory=set)


def write_report(data_dir: Path, out_dir: Path | None = None) -> Path:
    """Write `<out_dir>/index.html` (default `<data_dir>/report`) and return its path.

    Raises WarehouseMissing when the data directory has no warehouse yet.
    """
    data_dir = Path(data_dir).resolve()
    con = connect_read_only(data_dir)
    try:
        report = collect_report(con, data_dir=data_dir)
    finally:
        con.close()
    out = Path(out_dir) if out_dir else data_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    # Written aside and renamed, so a browser reloading the page never sees half of it.
    tmp = out / f".index.html.{os.getpid()}.tmp"
    tmp.write_text(render_report(report), encoding="utf-8")
    os.replace(tmp, target)
    return target


def collect_report(con: duckdb.DuckDBPyConnection, *, data_dir: Path) -> Report:
    views = {row[0] for row in con.execute("select view_name from duckdb_views()").fetchall()}
    missing: set[str] = set()

    def rows(needs: tuple[str, ...], sql: str) -> Rows | None:
        absent = [name for name in needs if name not in views]
        missing.update(absent)
        return None if absent else con.execute(sql).fetchall()

    [(documents, tagged, duplicates, dated, tokens, mentions)] = con.execute(
        "select count(*), count(*) filter (where tagged), count(duplicate_of), "
        "count(published_at) filter (where tagged), coalesce(sum(n_tokens), 0), "
        "coalesce(sum(n_entities), 0) from documents"
    ).fetchall()
    [(rejects,)] = con.execute("select count(*) from rejects").fetchall()
    [(batches,)] = con.execute(
        "select count(*) from (select batch_id from documents union select batch_id from rejects)"
    ).fetchall()
    [(runs,)] = con.execute("select count(*) from runs").fetchall()
    report = Report(
        data_dir=str(data_dir),
        generated_at=dt.datetime.now(dt.UTC),
        headline={
            "documents": documents,
            "tagged": tagged,
            "duplicates": duplicates,
            "rejects": rejects,
            "batches": batches,
            "runs": runs,
            "tokens": tokens,
            "entity mentions": mentions,
        },
        dated_documents=dated,
        batch_count=batches,
        missing=missing,
    )
    names_only = _names_only("label")
    top = rows(
        ("entity_counts",),
        f"""with labels as (
                select label, sum(mentions) as total from entity_counts where {names_only}
                group by label order by total desc, label limit {TOP_LABELS}
            )
            select label, canonical, mentions, documents
            from entity_counts join labels using (label)
            qualify row_number() over (
                partition by label order by mentions desc, canonical) <= {TOP_PER_LABEL}
            order by total desc, label, mentions desc, canonical""",
    )
    if top is not None:
        report.top_entities = {}
        for label, *entity in top:
            report.top_entities.setdefault(label, []).append(tuple(entity))
    report.daily = rows(
        ("entity_mentions_daily",),
        f"""with top as (
                select canonical, label, sum(mentions) as total from entity_mentions_daily
                where {names_only} group by canonical, label
                order by total desc, canonical limit {TOP_SERIES}
            )
            select canonical, label, day, mentions
            from entity_mentions_daily join top using (canonical, label)
            order by total desc, canonical, label, day""",
    )
    report.pairs = rows(
        ("entity_cooccurrence",),
        "select a, a_label, b, b_label, sentences, documents from entity_cooccurrence "
        f"where {_names_only('a_label')} and {_names_only('b_label')} "
        f"order by sentences desc, documents desc, a, b limit {TOP_PAIRS}",
    )
    report.batches = rows(
        ("rejects_by_reason",),
        f"""with docs as (
                select batch_id, count(*) as documents, count(duplicate_of) as duplicates,
                    max(processed_at) as last_processed
                from documents group by batch_id
            ),
            rejected as (
                select batch_id, sum(items) as rejects from rejects_by_reason group by batch_id
            )
            select batch_id, coalesce(documents, 0), coalesce(duplicates, 0),
                coalesce(rejects, 0)
            from docs full join rejected using (batch_id)
            order by last_processed desc nulls last, batch_id limit {MAX_ROWS}""",
    )
    report.reject_reasons = rows(
        ("rejects_by_reason",),
        "select batch_id, reason, items, example_source_uri, example_detail "
        f"from rejects_by_reason order by items desc, batch_id, reason limit {MAX_ROWS}",
    )
    report.runs = rows(
        ("run_stats",),
        "select started_at, batch_id, status, duration_s, n_input, n_documents, n_rejected, "
        "n_duplicates, n_tokens, n_entities, docs_per_s, tokens_per_s "
        f"from run_stats order by started_at desc nulls last, run_id limit {MAX_ROWS}",
    )
    report.cleaning = rows(
        ("cleaning",),
        "select op, count(distinct doc_id) as documents, "
        "coalesce(sum(chars_before - chars_after), 0) from cleaning "
        "group by op order by documents desc, op",
    )
    report.duplicate_kinds = con.execute(
        "select coalesce(duplicate_kind, 'unique'), count(*) from documents "
        "group by all order by 2 desc, 1"
    ).fetchall()
    report.clusters = rows(
        ("duplicates",),
        "select cluster_id, max(cluster_size) as size, "
        "any_value(title) filter (where kind = 'kept'), count(*) filter (where kind = 'exact'), "
        "count(*) filter (where kind = 'near'), min(similarity) filter (where kind = 'near') "
        f"from duplicates group by cluster_id order by size desc, cluster_id limit {TOP_CLUSTERS}",
    )
    report.sources = rows(
        ("source_stats",),
        "select source, documents, tagged_documents, duplicates, rejects, n_tokens, n_entities "
        f"from source_stats order by documents desc, source limit {MAX_ROWS}",
    )
    return report


def _names_only(column: str) -> str:
    """SQL condition: the label in `column` names something (is not a date or an amount)."""
    return f"{column} not in ({', '.join(repr(label) for label in sorted(VALUE_LABELS))})"


# ---------------------------------------------------------------- HTML


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_report(report: Report) -> str:
    sections = [
        ("entities", "Top entities per label", _entities_section(report)),
        ("time", "Mentions over time", _time_section(report)),
        ("pairs", "Strongest co-occurring pairs", _pairs_section(report)),
        ("batches", "Documents and rejects per batch", _batches_section(report)),
        ("runs", "Runs", _runs_section(report)),
        ("cleaning", "Cleaning and duplicates", _cleaning_section(report)),
        ("sources", "Sources", _sources_section(report)),
    ]
    nav = "".join(f'<li><a href="#{key}">{esc(title)}</a></li>' for key, title, _ in sections)
    body = "".join(
        f'<section id="{key}" aria-labelledby="{key}-h"><h2 id="{key}-h">{esc(title)}</h2>'
        f"{content}</section>"
        for key, title, content in sections
    )
    figures = "".join(
        f'<div><dt>{esc(name)}</dt><dd data-figure="{esc(name)}">{n:,}</dd></div>'
        for name, n in report.headline.items()
    )
    empty = (
        ""
        if report.headline["documents"] or report.headline["rejects"]
        else '<p class="empty">The warehouse holds no documents yet: run '
        "<code>docmill run SOURCE</code> first.</p>"
    )
    stamp = report.generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>docmill report</title><style>{CSS}</style></head>
<body><header><h1>docmill report</h1>
<p>Warehouse <code>{esc(report.data_dir)}</code>, generated {stamp}.</p>
<nav aria-label="Sections"><ul>{nav}</ul></nav></header>
<main><section id="figures" aria-label="Headline figures"><dl class="figures">{figures}</dl>
{empty}</section>{body}</main>
<footer>Built from the views of <code>warehouse.duckdb</code>; the page needs no network.
Query the same data with <code>docmill sql</code>.</footer></body></html>
"""


CSS = """
body{font:15px/1.45 system-ui,sans-serif;color:#1a1a1a;background:#f6f6f4;margin:0}
header,main,footer{max-width:1180px;margin:0 auto;padding:0 20px}
h1{margin:20px 0 4px}h2{margin:0 0 10px;font-size:1.25em}h3{margin:8px 0 4px;font-size:1em}
nav ul{display:flex;flex-wrap:wrap;gap:4px 16px;list-style:none;padding:0}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:14px 18px;margin:14px 0}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:10px;margin:0}
.figures dt{color:#555;font-size:.85em}.figures dd{margin:0;font-size:1.6em;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(500px,1fr));gap:8px 24px}
figure{margin:0}
svg{max-width:100%;height:auto;font-size:12px}svg text{fill:#333}
table{border-collapse:collapse;margin:6px 0 10px;font-size:.9em}
th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
th{background:#f0f0ee}td.n{text-align:right;font-variant-numeric:tabular-nums}
caption{text-align:left;color:#555;padding:2px 0}.note,.empty{color:#555}.empty{font-style:italic}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;list-style:none;padding:0;margin:4px 0}
.swatch{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}
.bar{display:inline-block;height:10px;background:#0072B2;vertical-align:middle}
footer{color:#555;font-size:.85em;padding-bottom:24px}
"""


def _empty(text: str) -> str:
    return f'<p class="empty">{esc(text)}</p>'


def _absent(report: Report, *views: str) -> str:
    missing = [name for name in views if name in report.missing]
    if not missing:
        return ""
    names = ", ".join(f"<code>{esc(name)}</code>" for name in missing)
    return (
        f'<p class="empty">This warehouse has no {names} view; rebuild it with '
        "<code>docmill views</code> to see this section.</p>"
    )


def _cell(value: object) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, bool):
        return f"<td>{esc(value)}</td>"
    if isinstance(value, int):
        return f'<td class="n">{value:,}</td>'
    if isinstance(value, float):
        digits = 2 if abs(value) < 10 else 1  # similarities and rates < 10 need two
        return f'<td class="n">{value:,.{digits}f}</td>'
    if isinstance(value, dt.datetime):
        return f"<td>{value.astimezone(dt.UTC):%Y-%m-%d %H:%M}</td>"
    return f"<td>{esc(value)}</td>"


def table(name: str, caption: str, columns: Sequence[str], rows: Rows) -> str:
    head = "".join(f'<th scope="col">{esc(column)}</th>' for column in columns)
    body = "".join(f"<tr>{''.join(_cell(v) for v in row)}</tr>" for row in rows)
    return (
        f'<table data-table="{esc(name)}"><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _short(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def bar_chart(
    name: str,
    title: str,
    bars: Sequence[tuple[str, Sequence[float]]],
    *,
    series: Sequence[str] = ("value",),
    attrs: str = "",
) -> str:
    """Horizontal bars, one row per (label, values); several values stack, one per series."""
    label_w, plot_w, row_h, top = 180, 260, 22, 6
    most = max((sum(values) for _, values in bars), default=0) or 1
    height = top * 2 + row_h * len(bars)
    parts = []
    for row, (label, values) in enumerate(bars):
        y = top + row * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{esc(_short(label))}'
            f"<title>{esc(label)}</title></text>"
        )
        x = float(label_w)
        for index, (serie, value) in enumerate(zip(series, values, strict=True)):
            width = plot_w * value / most
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" '
                f'fill="{PALETTE[index % len(PALETTE)]}" data-label="{esc(label)}" '
                f'data-series="{esc(serie)}" data-value="{value:g}"><title>{esc(label)}: '
                f"{value:,g} {esc(serie)}</title></rect>"
            )
            x += width
        total = ", ".join(f"{v:,g}" for v in values) if len(values) > 1 else f"{values[0]:,g}"
        parts.append(f'<text x="{x + 5:.1f}" y="{y + 15}">{total}</text>')
    return _svg(name, title, label_w + plot_w + 70, height, "".join(parts), attrs)


def _svg(name: str, title: str, width: int, height: int, inner: str, attrs: str = "") -> str:
    key = "chart-" + hashlib.sha1(f"{name} {attrs}".encode()).hexdigest()[:12]
    return (
        f'<svg data-chart="{esc(name)}" {attrs} role="img" aria-labelledby="{key}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{key}">{esc(title)}</title>{inner}</svg>'
    )


def _legend(names: Sequence[str]) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
        f"{esc(name)}</li>"
        for i, name in enumerate(names)
    )
    return f'<ul class="legend">{items}</ul>'


def line_chart(
    name: str, title: str, buckets: Sequence[dt.date], series: Sequence[tuple[str, list[int]]]
) -> str:
    """One line per series over evenly spaced buckets (days or months), a dot per value > 0."""
    left, plot_w, plot_h, top, bottom = 44, 760, 220, 10, 28
    most = max((max(values, default=0) for _, values in series), default=0) or 1
    step = plot_w / (len(buckets) - 1) if len(buckets) > 1 else 0.0

    def x(i: int) -> float:
        return left + (i * step if len(buckets) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - value / most)

    parts = [
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{left + plot_w}" y2="{y(0):.1f}" stroke="#999"/>'
    ]
    for tick in sorted({0, most // 2, most}):
        parts.append(
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:,}</text>'
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" '
            'stroke="#eee"/>'
        )
    shown = sorted({0, len(buckets) - 1, *range(0, len(buckets), max(1, len(buckets) // 6))})
    for i in shown:
        parts.append(
            f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
            f"{buckets[i].isoformat()}</text>"
        )
    for index, (label, values) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        points = " L".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<path d="M{points}" fill="none" stroke="{color}" stroke-width="2" '
            f'data-label="{esc(label)}"><title>{esc(label)}</title></path>'
        )
        parts.extend(
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{color}" '
            f'data-label="{esc(label)}" data-day="{buckets[i].isoformat()}" data-value="{v}">'
            f"<title>{esc(label)}, {buckets[i].isoformat()}: {v:,} mentions</title></circle>"
            for i, v in enumerate(values)
            if v
        )
    width, height = left + plot_w + 16, top + plot_h + bottom
    return _svg(name, title, width, height, "".join(parts))


def time_buckets(days: Sequence[dt.date]) -> tuple[str, list[dt.date]]:
    """Every day from the first to the last, or every month when the span is long."""
    first, last = min(days), max(days)
    if (last - first).days <= MAX_DAILY_SPAN_DAYS:
        return "day", [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(dt.date(year, month, 1))
        year, month = year + month // 12, month % 12 + 1
    return "month", months


# ---------------------------------------------------------------- sections


def _entities_section(report: Report) -> str:
    if report.top_entities is None:
        return _absent(report, "entity_counts")
    if not report.top_entities:
        return _empty("No named entities yet.")
    charts = "".join(
        f"<figure><h3>{esc(label)}</h3>"
        + bar_chart(
            "top-entities",
            f"Top {label} entities by mentions",
            [(canonical, (mentions,)) for canonical, mentions, _ in entities],
            series=("mentions",),
            attrs=f'data-entity-label="{esc(label)}"',
        )
        + "</figure>"
        for label, entities in report.top_entities.items()
    )
    return (
        f'<p class="note">The {TOP_PER_LABEL} most mentioned entities (canonical names) of the '
        f"{len(report.top_entities)} most frequent labels; dates, times and amounts are left "
        f'out. Hover a bar for its count.</p><div class="grid">{charts}</div>'
    )


def _time_section(report: Report) -> str:
    if report.daily is None:
        return _absent(report, "entity_mentions_daily")
    if not report.daily:
        return _empty("No dated entity mentions yet.")
    tagged = report.headline["tagged"]
    if report.dated_documents == 0:
        note = (
            "No document has a publication date, so each mention counts on the day its "
            "document was processed, not published."
        )
    elif report.dated_documents < tagged:
        note = (
            f"{report.dated_documents:,} of {tagged:,} tagged documents have a publication date; "
            "the others count on the day they were processed."
        )
    else:
        note = "Days are publication dates."
    unit, buckets = time_buckets([day for _, _, day, _ in report.daily])
    index = {bucket: i for i, bucket in enumerate(buckets)}
    series: dict[str, list[int]] = {}
    for canonical, label, day, mentions in report.daily:
        values = series.setdefault(f"{canonical} ({label})", [0] * len(buckets))
        values[index[day if unit == "day" else day.replace(day=1)]] += mentions
    if len(buckets) == 1:
        note += f" All mentions fall on one day ({buckets[0].isoformat()})."
    return (
        f'<p class="note">Mentions per {unit} of the {len(series)} most mentioned entities. '
        f"{esc(note)}</p>"
        + _legend(list(series))
        + line_chart("mentions-over-time", f"Mentions per {unit}", buckets, list(series.items()))
    )


def _pairs_section(report: Report) -> str:
    if report.pairs is None:
        return _absent(report, "entity_cooccurrence")
    if not report.pairs:
        return _empty("No two entities share a sentence yet.")
    most = max(row[4] for row in report.pairs) or 1
    rows = "".join(
        f'<tr data-label="{esc(a)} + {esc(b)}"><td>{esc(a)} <small>{esc(a_label)}</small></td>'
        f"<td>{esc(b)} <small>{esc(b_label)}</small></td>"
        f'<td class="n">{sentences:,} <span class="bar" style="width:{80 * sentences // most}px">'
        f'</span></td><td class="n">{documents:,}</td></tr>'
        for a, a_label, b, b_label, sentences, documents in report.pairs
    )
    return (
        '<table data-chart="cooccurrence"><caption>Pairs of entities named in the same '
        "sentence, most frequent first (dates, times and amounts left out)</caption>"
        '<thead><tr><th scope="col">entity</th>'
        '<th scope="col">with</th><th scope="col">sentences</th><th scope="col">documents</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _batches_section(report: Report) -> str:
    if report.batches is None:
        return _absent(report, "rejects_by_reason")
    if not report.batches:
        return _empty("No batches yet.")
    shown = len(report.batches)
    more = (
        f" (the {shown} most recent of {report.batch_count:,})"
        if shown < report.batch_count
        else ""
    )
    chart = bar_chart(
        "batches",
        "Documents and rejects per batch",
        [(batch, (docs - dups, dups, rejects)) for batch, docs, dups, rejects in report.batches],
        series=("documents", "duplicates", "rejects"),
    )
    reasons = (
        table(
            "reject-reasons",
            "Rejects by reason, with an example",
            ["batch", "reason", "items", "example source", "example detail"],
            report.reject_reasons,
        )
        if report.reject_reasons
        else _empty("No rejects.")
    )
    return (
        f'<p class="note">Per batch{esc(more)}: documents (not duplicates), duplicates and '
        "rejected input items.</p>"
        + _legend(["documents", "duplicates", "rejects"])
        + chart
        + reasons
    )


def _runs_section(report: Report) -> str:
    if report.runs is None:
        return _absent(report, "run_stats")
    if not report.runs:
        return _empty("No runs recorded yet.")
    throughput = [
        (f"{batch} {started.astimezone(dt.UTC):%m-%d %H:%M}", (round(tokens_per_s or 0),))
        for started, batch, status, *_, tokens_per_s in reversed(report.runs)
        if status == "completed" and started is not None
    ]
    chart = (
        bar_chart("runs", "Tokens per second of completed runs", throughput, series=("tokens/s",))
        if throughput
        else _empty("No completed run yet.")
    )
    columns = ["started (UTC)", "batch", "status", "seconds", "input", "documents", "rejected"]
    columns += ["duplicates", "tokens", "entities", "docs/s", "tokens/s"]
    return (
        f'<p class="note">The {len(report.runs)} latest runs, newest first; the chart shows '
        "tokens per second of the completed ones, oldest first.</p>"
        + chart
        + table("runs", "Runs", columns, report.runs)
    )


def _cleaning_section(report: Report) -> str:
    if report.cleaning is None:
        cleaning = _absent(report, "cleaning")
    elif not report.cleaning:
        cleaning = _empty("No cleaning step changed any document.")
    else:
        cleaning = bar_chart(
            "cleaning",
            "Documents changed per cleaning step",
            [(op, (documents,)) for op, documents, _ in report.cleaning],
            series=("documents changed",),
        ) + table(
            "cleaning",
            "Cleaning steps: documents changed and characters removed (negative: added)",
            ["step", "documents changed", "characters removed"],
            report.cleaning,
        )
    if not report.duplicate_kinds:
        dedup = _empty("No documents yet.")
    else:
        dedup = bar_chart(
            "dedup",
            "Documents by duplicate kind",
            [(kind, (n,)) for kind, n in report.duplicate_kinds],
            series=("documents",),
        )
    if report.clusters is None:
        dedup += _absent(report, "duplicates")
    elif report.clusters:
        dedup += table(
            "clusters",
            "Largest duplicate clusters (cluster id = the kept document)",
            ["cluster", "size", "kept title", "exact", "near", "lowest similarity"],
            report.clusters,
        )
    else:
        dedup += _empty("No duplicates found.")
    return f"<h3>Cleaning</h3>{cleaning}<h3>Duplicates</h3>{dedup}"


def _sources_section(report: Report) -> str:
    if report.sources is None:
        return _absent(report, "source_stats")
    if not report.sources:
        return _empty("No sources yet.")
    columns = ["source", "documents", "tagged", "duplicates", "rejects", "tokens", "entities"]
    return bar_chart(
        "sources",
        "Documents per source",
        [(str(source), (documents,)) for source, documents, *_ in report.sources],
        series=("documents",),
    ) + table("sources", "Sources, most documents first", columns, report.sources)
