"""The report's HTML: one page of sections (inline CSS, SVG charts from report_svg) from the
plain data `report.collect_report` gathered. Every text from the data is escaped."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from docmill.warehouse.report_svg import (
    bar_chart,
    esc,
    legend,
    line_chart,
    table,
    time_buckets,
)

if TYPE_CHECKING:
    from docmill.warehouse.report import Report

TOP_LABELS, TOP_PER_LABEL, TOP_SERIES, TOP_PAIRS, TOP_CLUSTERS, MAX_ROWS = 6, 10, 5, 15, 10, 20


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
<footer>Built from the views of the lake's catalog; the page needs no network.
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
    tagged, dated = report.headline["tagged"], report.dated_documents
    if dated * 2 < tagged:
        how_many = (
            f"None of the {tagged:,} tagged documents has a publication date"
            if dated == 0
            else f"Only {dated:,} of {tagged:,} tagged documents have a publication date"
        )
        return _empty(
            f"{how_many}, too few for a timeline. (Undated documents count in "
            "entity_mentions_daily on the day they were processed, with day_source "
            "'processed': that says when docmill read them, not when they were news.)"
        )
    if not report.daily:
        return _empty("No dated entity mentions yet.")
    undated = tagged - dated
    if undated:
        note = (
            f"{dated:,} of {tagged:,} tagged documents have a publication date; the {undated:,} "
            f"undated {'one is' if undated == 1 else 'ones are'} left out."
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
    chart = line_chart(
        "mentions-over-time", f"Mentions per {unit}", buckets, list(series.items()), unit=unit
    )
    return (
        f'<p class="note">Mentions per {unit} of publication of the {len(series)} most '
        f"mentioned entities. {esc(note)}</p>" + legend(list(series)) + chart
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
        + legend(["documents", "duplicates", "rejects"])
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
