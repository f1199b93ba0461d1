"""Build and refresh the views: they live in the catalog itself (schema `main`), beside the stored
tables they read (schema `stored`).

The SQL lives in one `.sql` file per view (and per macro). Stored in the catalog, the views
reach every client that attaches it — `docmill sql`, the DuckDB CLI, Python — from any working
directory and on every machine that shares a PostgreSQL catalog, and they travel in time with
the data: a snapshot shows the views as they were then.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from docmill.tasks.lake import catalog, filesystem
from docmill.tasks.lake.catalog import ALIAS
from docmill.tasks.lake.filesystem import Location
from docmill.tasks.lake.layout import Layout
from docmill.tasks.schemas import SCHEMA_VERSION

META_VIEW = "docmill_meta"

# Creation order: a view comes after every view it reads.
VIEW_NAMES: tuple[str, ...] = (
    "documents",
    "paragraphs",
    "sentences",
    "tokens",
    "entities",
    "noun_chunks",
    "cleaning",
    "rejects",
    "duplicates",
    "runs",
    "entity_counts",
    "entity_cooccurrence",
    "doc_stats",
    "entity_mentions_daily",
    "trending_entities",
    "entity_cooccurrence_documents",
    "source_stats",
    "lemma_counts",
    "rejects_by_reason",
    "run_stats",
)

# Macros the views call: name -> (kind, parameters, the view it reads, if any). The SQL of a
# "table" macro is a query, of a "scalar" one an expression. DuckDB binds a macro when it is
# created, so one that reads a view is created right after that view, the others before all.
# A default of NULL does not survive the catalog (DuckLake stores it as the text 'NULL'), so
# trending_entities_over's window defaults to the word 'latest'.
MACROS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "shown_spans": ("table", ("table_name",), "documents"),
    "source_of": ("scalar", ("uri", "item_url"), None),
    "trending_entities_over": (
        "table",
        ("n_days", "window_end := 'latest'"),
        "entity_mentions_daily",
    ),
}

_SQL_DIR = Path(__file__).resolve().parent


def view_sql(name: str) -> str:
    """The body of a view or macro file. The views hold no paths: they read stored tables."""
    return (_SQL_DIR / f"{name}.sql").read_text(encoding="utf-8").strip().rstrip(";")


def render_views() -> list[tuple[str, str]]:
    """(name, sql) of every view in creation order."""
    return [(name, view_sql(name)) for name in VIEW_NAMES]


def warehouse_ddl(*, temporary: bool = False) -> list[str]:
    """Every statement that defines the views: the macros that read no view, then the views in
    order, each followed by the macros that read it (DuckDB binds a macro when it is created).
    Names are qualified with the catalog, so the statements run from any current database;
    `temporary`: as temporary views of one connection instead (over an earlier snapshot, whose
    own views may be older or missing)."""
    where = "temp.main" if temporary else f"{ALIAS}.main"
    temp = "temp " if temporary else ""
    macros_after: dict[str | None, list[str]] = {}
    for name, (kind, params, after) in MACROS.items():
        body = view_sql(name)
        body = f"table\n{body}" if kind == "table" else f"(\n{body}\n)"
        macros_after.setdefault(after, []).append(
            f'create or replace {temp}macro {where}."{name}"({", ".join(params)}) as {body}'
        )
    views = []
    for name, sql in render_views():
        views += [
            f'create or replace {temp}view {where}."{name}" as\n{sql}',
            *macros_after.get(name, []),
        ]
    return macros_after.get(None, []) + views


def views_hash(statements: list[str]) -> str:
    digest = hashlib.sha256(f"schema_version={SCHEMA_VERSION}\n".encode())
    for statement in statements:
        digest.update(f"{statement}\n".encode())
    return digest.hexdigest()


def _meta_sql(digest: str) -> str:
    return f"select '{digest}' as views_hash, {SCHEMA_VERSION} as schema_version"


def build_warehouse(data_dir: str | Path | Location) -> list[str]:
    """Create or refresh every view in the catalog of `data_dir` (one commit; the stored tables
    are created first when the catalog is new); return the view names."""
    layout = Layout.at(filesystem.location(data_dir))
    statements = warehouse_ddl()
    con = catalog.connect(layout.catalog)
    try:
        catalog.commit_with_retry(
            con, lambda con: _create_views(con, statements), what="building the views"
        )
    finally:
        con.close()
    return list(VIEW_NAMES)


def _create_views(con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
    wanted = {*VIEW_NAMES, META_VIEW}
    existing = con.execute(
        "select view_name from duckdb_views() where database_name = ? and schema_name = 'main'",
        [ALIAS],
    ).fetchall()
    # A view retired from the SQL set would otherwise linger with a stale definition.
    for (name,) in existing:
        if name not in wanted:
            con.execute(f'drop view if exists {ALIAS}.main."{name}"')
    for statement in statements:
        con.execute(statement)
    digest = views_hash(statements)
    con.execute(f'create or replace view {ALIAS}.main."{META_VIEW}" as {_meta_sql(digest)}')
    con.execute(
        f"call {ALIAS}.set_commit_message('docmill', 'build views', "
        'extra_info => \'{"kind": "views"}\')'
    )


def views_up_to_date(data_dir: str | Path | Location) -> bool:
    """True when the catalog exists and holds the current views."""
    layout = Layout.at(filesystem.location(data_dir))
    try:
        con = catalog.connect(layout.catalog, read_only=True)
    except catalog.CatalogMissing:
        return False
    try:
        row = con.execute(f'select views_hash, schema_version from "{META_VIEW}"').fetchone()
        if row != (views_hash(warehouse_ddl()), SCHEMA_VERSION):
            return False
        # A view dropped or garbled in the catalog leaves the meta view as it was; binding
        # every view finds it (about 0.1 s).
        for name in VIEW_NAMES:
            con.execute(f'select * from {ALIAS}.main."{name}" limit 0').fetchall()
    except duckdb.Error:
        # No meta view yet, a hand-edited one, or a view that no longer binds: rebuilding is
        # the safe answer.
        return False
    finally:
        con.close()
    return True
