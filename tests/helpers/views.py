"""Every view's rows, to compare two lakes or two moments of one."""

from __future__ import annotations

from pathlib import Path

from docmill.warehouse.build import VIEW_NAMES
from docmill.warehouse.query import connect_read_only

# Columns that say when or by which run a row was made, not what it holds.
RUN_COLUMNS = frozenset(
    {
        "processed_at",
        "run_id",
        "batch_version",
        "rejected_at",
        "flow_run_id",
        "started_at",
        "finished_at",
        "duration_s",
        "docs_per_s",
        "tokens_per_s",
        "counters_json",
    }
)


def view_contents(
    data_dir: Path, *, without: frozenset[str] = frozenset(), **at
) -> dict[str, list[tuple]]:
    """Every view's rows, sorted (a view has no order), leaving out the columns `without`
    names; `at` reads the lake at a snapshot (`connect_read_only`'s arguments)."""
    contents = {}
    with connect_read_only(data_dir, **at) as con:
        for view in VIEW_NAMES:
            columns = [row[0] for row in con.execute(f'describe "{view}"').fetchall()]
            kept = ", ".join(f'"{c}"' for c in columns if c not in without)
            rows = con.execute(f'select {kept} from "{view}"').fetchall()
            contents[view] = sorted(rows, key=repr)
    return contents
