"""Small HTML building blocks for the report: escaping, tables, and bar and line charts as
inline SVG (no script). Every chart carries a `data-chart` name and draws each data point as
an element with `data-label`/`data-value`, so a test (or a reader's tools) can check it."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import math
from collections.abc import Sequence

MAX_DAILY_SPAN_DAYS = 120  # beyond this the time chart counts per month
# Room for a time-axis label: 7 px per character covers digits and hyphens at the charts' 12 px
# (about 6.7 px in common sans-serif fonts), plus a gap between neighbours.
AXIS_CHAR_PX, AXIS_LABEL_GAP_PX = 7, 10
PALETTE = ("#0072B2", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#56B4E9")  # Okabe-Ito

Rows = list[tuple]


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


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


def shorten(text: str, width: int = 24) -> str:
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
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{esc(shorten(label))}'
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
    return svg_frame(name, title, label_w + plot_w + 70, height, "".join(parts), attrs)


def svg_frame(name: str, title: str, width: int, height: int, inner: str, attrs: str = "") -> str:
    key = "chart-" + hashlib.sha1(f"{name} {attrs}".encode()).hexdigest()[:12]
    return (
        f'<svg data-chart="{esc(name)}" {attrs} role="img" aria-labelledby="{key}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{key}">{esc(title)}</title>{inner}</svg>'
    )


def legend(names: Sequence[str]) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
        f"{esc(name)}</li>"
        for i, name in enumerate(names)
    )
    return f'<ul class="legend">{items}</ul>'


def line_chart(
    name: str,
    title: str,
    buckets: Sequence[dt.date],
    series: Sequence[tuple[str, list[int]]],
    *,
    unit: str = "day",
) -> str:
    """One line per series over evenly spaced buckets (days, or months labelled YYYY-MM), a dot
    per value > 0."""
    left, plot_w, plot_h, top, bottom = 44, 760, 220, 10, 28
    names = [b.isoformat() if unit == "day" else f"{b:%Y-%m}" for b in buckets]
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
    label_w = AXIS_CHAR_PX * max(len(label) for label in names) + AXIS_LABEL_GAP_PX
    for i in axis_ticks(len(buckets), step, label_w):
        parts.append(
            f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle" data-axis="x">'
            f"{names[i]}</text>"
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
            f"<title>{esc(label)}, {names[i]}: {v:,} mentions</title></circle>"
            for i, v in enumerate(values)
            if v
        )
    # room for half of the last time label, which is centred on the last bucket
    width, height = left + plot_w + max(16, math.ceil(label_w / 2)), top + plot_h + bottom
    return svg_frame(name, title, width, height, "".join(parts))


def axis_ticks(n_buckets: int, step_px: float, label_px: float) -> list[int]:
    """Which of `n_buckets` evenly spaced buckets get a label: the first, the last and about six
    in between, never two closer than `label_px` (so no labels overlap)."""
    if n_buckets < 2:
        return list(range(n_buckets))
    every = max(1, (n_buckets - 1) // 6, math.ceil(label_px / step_px))
    shown = list(range(0, n_buckets, every))
    last = n_buckets - 1
    if shown[-1] != last:
        # the last bucket replaces the label before it when both do not fit
        too_close = (last - shown[-1]) * step_px < label_px and len(shown) > 1
        shown = [*shown[:-1], last] if too_close else [*shown, last]
    return shown


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
