"""An offline HTML report of the warehouse: one self-contained `index.html` (inline CSS and
SVG, no script, no network) built from the views through a read-only connection.

`collect_report` turns the views into plain data, `render_report` turns that into HTML, and
`write_report` does both for a data directory. Every text that comes from the data is escaped.
A section whose view this warehouse lacks (built by an older docmill) says so instead of failing.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from docmill.tasks.lake import filesystem
from docmill.tasks.lake.filesystem import Location
from docmill.tasks.lake.layout import Layout
from docmill.tasks.nlp.entities import VALUE_LABELS
from docmill.warehouse.query import connect_read_only, read_consistently
from docmill.warehouse.report_html import (
    MAX_ROWS,
    TOP_CLUSTERS,
    TOP_LABELS,
    TOP_PAIRS,
    TOP_PER_LABEL,
    TOP_SERIES,
    render_report,
)
from docmill.warehouse.report_svg import Rows


@dataclass
class Report:
    """What the report shows, as plain data. None: the warehouse has no view for it."""

    data_dir: str
    generated_at: dt.datetime
    headline: dict[str, int]
    dated_documents: int = 0
    top_entities: dict[str, Rows] | None = None  # label -> (canonical, mentions, documents)
    daily: Rows | None = None  # (canonical, label, publication day, mentions)
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


def write_report(data_dir: str | Path | Location, out_dir: Path | None = None) -> Path:
    """Write `<out_dir>/index.html` (default: `report/` in the data directory, or in its local
    state directory when the data lives in an object store) and return its path.

    Raises WarehouseMissing when the data directory has no warehouse yet.
    """
    data_dir = filesystem.location(data_dir)
    con = connect_read_only(data_dir)
    try:
        # One snapshot for the whole page, read again if compaction overlapped it.
        report = read_consistently(con, lambda con: collect_report(con, data_dir=data_dir))
    finally:
        con.close()
    out = Path(out_dir) if out_dir else Layout(data_dir).report_dir
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    # Written aside and renamed, so a browser reloading the page never sees half of it.
    tmp = out / f".index.html.{os.getpid()}.tmp"
    tmp.write_text(render_report(report), encoding="utf-8")
    os.replace(tmp, target)
    return target


def collect_report(con: duckdb.DuckDBPyConnection, *, data_dir: Path | Location) -> Report:
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
    # Publication days only: a processing day says when docmill read a document, not when it
    # was news (the section says how many documents that leaves out).
    report.daily = rows(
        ("entity_mentions_daily",),
        f"""with published as (
                from entity_mentions_daily where day_source = 'published'
            ),
            top as (
                select canonical, label, sum(mentions) as total from published
                where {names_only} group by canonical, label
                order by total desc, canonical limit {TOP_SERIES}
            )
            select canonical, label, day, mentions
            from published join top using (canonical, label)
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
