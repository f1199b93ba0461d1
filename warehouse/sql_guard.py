"""What `docmill sql` lets a user's SQL do: read the lake, and nothing else.

Two layers, each enough for what it covers:

1. **The connection is locked down** after docmill has set it up (extensions loaded, catalog
   attached read-only, time-travel views defined): DuckDB may touch no file outside the data
   directory (`enable_external_access = false` with the data directory as the one allowed
   directory; `--allow-file-access` allows every local file, still without extensions), may load
   no extension (docmill's connections accept unsigned binaries, so a `LOAD` must never reach
   one), scans no Python variables, and its configuration is locked, so no statement can undo
   any of it.
2. **Every statement is checked before any runs**, with DuckDB's own parser: its type must be a
   query (SELECT — which includes DESCRIBE, SHOW, SUMMARIZE and reading PRAGMAs — or an EXPLAIN of
   one), and every table function it calls must be a reading one. That second rule matters: the
   catalog is attached read-only, yet `SELECT * FROM ducklake_cleanup_old_files('docmill',
   cleanup_all => true)` deletes the data files kept for running readers before DuckLake
   notices it may not update the catalog (measured on DuckDB 1.5.5 / DuckLake).

The data directory stays writable by the first layer (DuckLake reads its files there), so
writing into it (COPY, ATTACH of the catalog read-write) is stopped by the second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence

import duckdb

from docmill.warehouse.build import MACROS

# Table functions a query may call: readers of files and of DuckDB's and DuckLake's catalogs.
# Anything else (DuckLake's upkeep, checkpoint, query() of SQL text, logging, imports) is
# refused, including functions later releases add.
READING_FUNCTION_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_")
READING_FUNCTIONS = frozenset(
    {
        "collations",
        "database_list",
        "database_size",
        "extension_versions",
        "functions",
        "generate_series",
        "glob",
        "icu_calendar_names",
        "json_each",
        "json_tree",
        "metadata_info",
        "parquet_scan",
        "pg_timezone_names",
        "platform",
        "query_table",
        "range",
        "repeat",
        "repeat_row",
        "show",
        "show_databases",
        "show_tables",
        "show_tables_expanded",
        "sniff_csv",
        "storage_info",
        "summary",
        "table_info",
        "test_all_types",
        "unnest",
        "user_agent",
        "version",
        "which_secret",
        # DuckLake's readers, as functions and as the catalog's own macros (docmill.snapshots())
        *(
            name
            for reader in (
                "current_snapshot",
                "last_committed_snapshot",
                "options",
                "settings",
                "snapshots",
                "table_changes",
                "table_deletions",
                "table_info",
                "table_insertions",
            )
            for name in (reader, f"ducklake_{reader}")
        ),
        "ducklake_list_files",
        # docmill's table macros (warehouse/*.sql)
        *(name for name, (kind, _params, _after) in MACROS.items() if kind == "table"),
    }
)

# What to do instead, by DuckDB statement type.
_INSTEAD = {
    "COPY": "to write views to files use `docmill export`",
    "EXPORT": "to write views to files use `docmill export`",
    "COPY_DATABASE": "to write views to files use `docmill export`",
    "ATTACH": "the lake is attached read-only as `docmill`; `docmill shell` opens a DuckDB "
    "session of your own",
    "DETACH": "the lake is attached read-only as `docmill`",
    "SET": "the connection's settings are locked",
    "VARIABLE_SET": "the connection's settings are locked",
    "PRAGMA": "the connection's settings are locked; reading pragmas such as "
    "`pragma table_info('documents')` run",
    "LOAD": "docmill sql loads no extension",
    "EXTENSION": "docmill sql loads no extension",
    "CALL": "upkeep is `docmill compact`; call a reading function as `select * from f(...)`",
    "VACUUM": "upkeep is `docmill compact`",
}
_CHANGES_THE_LAKE = "the lake changes only by `docmill run`, its views by `docmill views`"
_FILE_REFUSED = re.compile(r'Cannot access (?:file|directory) "(?P<path>[^"]*)"')


class StatementRefused(ValueError):
    """A statement `docmill sql` does not run; the message says which and why."""


def lock_down(
    con: duckdb.DuckDBPyConnection, *, readable_dirs: Sequence[str], allow_file_access: bool
) -> None:
    """Lock `con` after set-up: files only under `readable_dirs` (every local file with
    `allow_file_access`), no extension loading, no Python variables as tables, settings locked."""
    allowed = ["/", *(d for d in readable_dirs if "://" in d)] if allow_file_access else []
    allowed += [d.rstrip("/") + "/" for d in readable_dirs]
    con.execute("set allowed_directories = ?", [allowed])
    con.execute("set enable_external_access = false")
    con.execute("set autoload_known_extensions = false")
    con.execute("set autoinstall_known_extensions = false")
    con.execute("set python_enable_replacements = false")
    con.execute("set lock_configuration = true")


def checked_statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[duckdb.Statement]:
    """The statements of `sql`, each checked to only read; StatementRefused for the first that
    does not (before any of them runs). A syntax error raises duckdb.ParserException."""
    statements = con.extract_statements(sql)
    for number, statement in enumerate(statements, start=1):
        where = f"statement {number} of {len(statements)}" if len(statements) > 1 else "statement"
        problem = _problem(con, statement)
        if problem:
            raise StatementRefused(f"refused {where}: {problem}")
    return statements


def refused_file_access(error: duckdb.Error, data_dir: str) -> StatementRefused | None:
    """The refusal to give for DuckDB's permission error, if `error` is one."""
    if not isinstance(error, duckdb.PermissionException):
        return None
    found = _FILE_REFUSED.search(str(error))
    what = f"{found['path']} is" if found else "the file it reads is"
    return StatementRefused(
        f"refused: {what} outside the data directory {data_dir}; add --allow-file-access to "
        "read other files"
    )


def _problem(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> str | None:
    kind = statement.type.name
    keyword = _first_keyword(statement.query)
    if kind == "EXPLAIN":
        return _explained_problem(con, statement.query)
    if kind != "SELECT":
        named = keyword if keyword == kind else f"{keyword} (a {kind} statement)"
        instead = _INSTEAD.get(kind, _CHANGES_THE_LAKE)
        return f"{named} is not a query; docmill sql only reads ({instead})"
    functions = _table_functions(con, statement.query)
    if functions is None:
        return "DuckDB cannot show what this query calls, so docmill sql does not run it"
    for name in functions:
        if name.lower() not in READING_FUNCTIONS and not name.lower().startswith(
            READING_FUNCTION_PREFIXES
        ):
            return (
                f"{name}() is not among the reading functions docmill sql calls (README: "
                "Security); upkeep is `docmill compact`"
            )
    return None


def _explained_problem(con: duckdb.DuckDBPyConnection, sql: str) -> str | None:
    """EXPLAIN ANALYZE runs what it explains, and planning alone binds table functions: the
    explained statement is checked like any other."""
    inner = _after_explain(sql)
    try:
        statements = con.extract_statements(inner) if inner else []
    except duckdb.Error:
        statements = []
    if len(statements) != 1:
        return "EXPLAIN of a statement docmill cannot check; explain a single query"
    problem = _problem(con, statements[0])
    return f"EXPLAIN of {problem}" if problem else None


def _after_explain(sql: str) -> str:
    """The statement an EXPLAIN explains: what follows `EXPLAIN [ANALYZE] [(options)]`, found
    with DuckDB's own tokenizer."""
    tokens = _token_texts(sql)
    index = 1
    if index < len(tokens) and tokens[index][1].lower() in ("analyze", "analyse"):
        index += 1
    if index < len(tokens) and tokens[index][1] == "(":
        depth = 0
        while index < len(tokens):
            depth += {"(": 1, ")": -1}.get(tokens[index][1], 0)
            index += 1
            if depth == 0:
                break
    return sql[tokens[index][0] :] if index < len(tokens) else ""


def _token_texts(sql: str) -> list[tuple[int, str]]:
    starts = [position for position, _kind in duckdb.tokenize(sql)]
    ends = [*starts[1:], len(sql)]
    return [(start, sql[start:end].strip()) for start, end in zip(starts, ends, strict=True)]


def _first_keyword(sql: str) -> str:
    tokens = _token_texts(sql)
    return tokens[0][1].upper() if tokens else ""


def _table_functions(con: duckdb.DuckDBPyConnection, sql: str) -> list[str] | None:
    """Every table function a SELECT calls, from DuckDB's own parse tree (json_serialize_sql);
    None when DuckDB cannot serialize the statement."""
    [(serialized,)] = con.execute("select json_serialize_sql(?)", [sql]).fetchall()
    tree = json.loads(serialized)
    if tree.get("error"):
        return None
    return sorted(set(_function_names(tree)))


def _function_names(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION":
            function = node.get("function") or {}
            yield str(function.get("function_name", ""))
        for value in node.values():
            yield from _function_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _function_names(value)
