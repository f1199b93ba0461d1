"""The lake's history: its snapshots (one per commit) and what a batch's last rerun changed.

Every publish commits with a message and a JSON note of the batch, run, version and the rows
each table gained and lost (tasks/lake/publish.py), so `docmill history` reads them back without
scanning any data, and `docmill diff` compares a batch's rows at its last two publishes with
time travel (`AT (VERSION => n)`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from docmill.tasks.lake.catalog import ALIAS, stored_table
from docmill.tasks.lake.filesystem import Location
from docmill.warehouse.query import connect_read_only


class HistoryError(LookupError):
    """What was asked of the history is not in it."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    snapshot_id: int
    time: datetime
    kind: str  # publish | run | views | upkeep | catalog (DuckLake's own, e.g. creating tables)
    message: str
    batch_id: str | None = None
    run_id: str | None = None
    version: str | None = None
    rows_in: int | None = None
    rows_out: int | None = None


def snapshots(data_dir: str | Path | Location, batch_id: str | None = None) -> list[Snapshot]:
    """Every snapshot kept (oldest first), or those that published `batch_id`."""
    with connect_read_only(data_dir) as con:
        rows = con.execute(
            "select snapshot_id, snapshot_time, commit_message, commit_extra_info, changes "
            f"from {ALIAS}.snapshots() order by snapshot_id"
        ).fetchall()
    found = [_snapshot(*row) for row in rows]
    if batch_id is not None:
        found = [s for s in found if s.batch_id == batch_id and s.kind == "publish"]
    return found


def _snapshot(snapshot_id, time, message, extra_json, changes) -> Snapshot:
    try:
        extra = json.loads(extra_json) if extra_json else {}
    except ValueError:
        extra = {}
    if not isinstance(extra, dict):
        extra = {}
    if not message:
        message = "; ".join(f"{kind} {', '.join(names)}" for kind, names in (changes or {}).items())
    return Snapshot(
        snapshot_id=int(snapshot_id),
        time=time,
        kind=str(extra.get("kind", "catalog")),
        message=message or "",
        batch_id=extra.get("batch_id"),
        run_id=extra.get("run_id"),
        version=extra.get("version"),
        rows_in=_total(extra.get("rows_in")),
        rows_out=_total(extra.get("rows_out")),
    )


def _total(per_table: object) -> int | None:
    return sum(int(n) for n in per_table.values()) if isinstance(per_table, dict) else None


@dataclass
class BatchDiff:
    """What changed in a batch between two of its publishes."""

    batch_id: str
    before: Snapshot
    after: Snapshot
    added: list[str] = field(default_factory=list)  # doc_id
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # same doc_id, other text or title
    unchanged: int = 0
    # (canonical, label) -> mentions after minus before, only where it differs
    mentions: dict[tuple[str, str], int] = field(default_factory=dict)
    titles: dict[str, str | None] = field(default_factory=dict)  # doc_id -> title

    @property
    def gained(self) -> list[tuple[str, str, int]]:
        return sorted(((*key, n) for key, n in self.mentions.items() if n > 0), key=_by_size)

    @property
    def lost(self) -> list[tuple[str, str, int]]:
        return sorted(((*key, -n) for key, n in self.mentions.items() if n < 0), key=_by_size)


def _by_size(entry: tuple[str, str, int]) -> tuple:
    return (-entry[2], entry[0], entry[1])


def diff_batch(data_dir: str | Path | Location, batch_id: str) -> BatchDiff:
    """The documents added, removed and changed, and the entity mentions gained and lost, by
    the last publish of `batch_id` against the one before it."""
    published = snapshots(data_dir, batch_id)
    if len(published) < 2:
        raise HistoryError(
            f"batch {batch_id!r} has {len(published)} publish(es) in the kept history; a diff "
            "needs two (`docmill history` lists them; snapshots older than the retention are "
            "expired)"
        )
    before, after = published[-2], published[-1]
    diff = BatchDiff(batch_id, before, after)
    with connect_read_only(data_dir) as con:
        old = _documents_at(con, batch_id, before.snapshot_id)
        new = _documents_at(con, batch_id, after.snapshot_id)
        old_mentions = _mentions_at(con, batch_id, before.snapshot_id)
        new_mentions = _mentions_at(con, batch_id, after.snapshot_id)
    diff.added = sorted(new.keys() - old.keys())
    diff.removed = sorted(old.keys() - new.keys())
    both = old.keys() & new.keys()
    diff.changed = sorted(d for d in both if old[d][:2] != new[d][:2])
    diff.unchanged = len(both) - len(diff.changed)
    diff.titles = {
        d: (new.get(d) or old[d])[1] for d in (*diff.added, *diff.removed, *diff.changed)
    }
    delta = Counter(new_mentions)
    delta.subtract(old_mentions)
    diff.mentions = {key: n for key, n in delta.items() if n}
    return diff


def _documents_at(
    con: duckdb.DuckDBPyConnection, batch_id: str, snapshot_id: int
) -> dict[str, tuple]:
    rows = con.execute(
        f"select doc_id, md5(coalesce(text, '')), title from {stored_table('documents')} "
        f"at (version => {int(snapshot_id)}) where batch_id = ?",
        [batch_id],
    ).fetchall()
    return {doc_id: (text_hash, title) for doc_id, text_hash, title in rows}


def _mentions_at(
    con: duckdb.DuckDBPyConnection, batch_id: str, snapshot_id: int
) -> Counter[tuple[str, str]]:
    rows = con.execute(
        f"select coalesce(canonical, text), label, count(*) from {stored_table('entities')} "
        f"at (version => {int(snapshot_id)}) where batch_id = ? group by all",
        [batch_id],
    ).fetchall()
    return Counter({(name, label): int(n) for name, label, n in rows})
