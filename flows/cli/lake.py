"""The lake's commands: sql, history, diff, export, shell, migrate, compact, views, check and
report."""

from __future__ import annotations

import argparse
import os
import sys

from docmill.flows.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    data_dir_of,
    fail,
    read_failed,
    terminal_width,
)


def sql_command(args: argparse.Namespace) -> int:
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
                data_dir_of(args), args.query, args.out, fmt=args.format, limit=limit, **where
            )
            print(f"{args.out}  {written:,} row{'' if written == 1 else 's'}")
            return EXIT_OK
        output = run_query(
            data_dir_of(args),
            args.query,
            fmt=fmt,
            limit=limit,
            max_width=terminal_width() if args.max_width is None else args.max_width,
            **where,
        )
    except (StatementRefused, OutputRefused) as err:
        return fail(str(err), EXIT_USAGE)
    except (WarehouseMissing, CatalogError) as err:
        return fail(str(err))
    except (duckdb.Error, DamagedDataFile) as err:
        return fail(f"query failed: {err}")
    except OSError as err:
        return fail(f"cannot write {args.out}: {err}")
    # Each format ends its own lines; a CSV or JSON redirected to a file gets no blank line.
    sys.stdout.write(output)
    return EXIT_OK


def history_command(args: argparse.Namespace) -> int:
    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.history import snapshots
    from docmill.warehouse.output import format_table
    from docmill.warehouse.query import WarehouseMissing

    try:
        found = snapshots(data_dir_of(args), args.batch)
    except (WarehouseMissing, CatalogError) as err:
        return fail(str(err))
    if args.batch and not found:
        return fail(f"batch {args.batch!r} has no publish in the kept history")
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
    print(format_table(columns, rows, max_width=terminal_width()), end="")
    return EXIT_OK


def diff_command(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.history import HistoryError, diff_batch
    from docmill.warehouse.query import WarehouseMissing

    try:
        diff = diff_batch(data_dir_of(args), args.batch)
    except (WarehouseMissing, CatalogError, HistoryError) as err:
        return fail(str(err))
    except duckdb.Error as err:
        return read_failed(data_dir_of(args), err, "comparing the versions failed")
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


def export_command(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.build import VIEW_NAMES
    from docmill.warehouse.export import UnknownView, export_views
    from docmill.warehouse.query import WarehouseMissing

    views = list(VIEW_NAMES) if args.all else args.views
    if not views:
        return fail("name the views to export (e.g. documents tokens), or give --all", EXIT_USAGE)
    try:
        done = export_views(
            data_dir_of(args),
            views,
            args.out,
            snapshot_version=args.snapshot,
            snapshot_time=args.as_of,
        )
    except UnknownView as err:
        return fail(str(err), EXIT_USAGE)
    except (WarehouseMissing, CatalogError) as err:
        return fail(str(err))
    except duckdb.Error as err:
        return read_failed(data_dir_of(args), err, "export failed")
    except OSError as err:
        return fail(f"export failed: {err}")
    for item in done:
        print(f"{item.path}  {item.rows:,} rows")
    return EXIT_OK


def shell_command(args: argparse.Namespace) -> int:
    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.shell import ShellMissing, shell_command, shell_statements

    data_dir = data_dir_of(args)
    try:
        statements = shell_statements(
            data_dir, snapshot_version=args.snapshot, snapshot_time=args.as_of
        )
        if args.print_sql:
            print("\n".join(f"{statement};" for statement in statements))
            return EXIT_OK
        command = shell_command(statements)
    except (ShellMissing, CatalogError) as err:
        return fail(str(err))
    os.execv(command[0], command)
    return EXIT_FAILED  # not reached: exec replaces this process


def migrate_command(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.warehouse.migrate import MigrationError, has_old_layout, migrate

    data_dir = data_dir_of(args)
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
        return fail(f"migration failed: {err}")
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


def compact_command(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.flows.settings import load_settings
    from docmill.tasks.lake.catalog import CatalogError, CatalogMissing
    from docmill.warehouse.upkeep import UpkeepFailed, upkeep

    settings = load_settings(data_dir=args.data_dir)
    data_dir = data_dir_of(args)
    grace = settings.gc_grace_seconds if args.grace_seconds is None else args.grace_seconds
    try:
        result = upkeep(
            data_dir,
            merge=True,
            retention_days=settings.snapshot_retention_days,
            grace_seconds=grace,
        )
    except CatalogMissing:
        return fail(f"no catalog for {data_dir}: nothing to compact")
    except (CatalogError, UpkeepFailed) as err:
        return fail(str(err))
    except duckdb.Error as err:
        return read_failed(data_dir, err, "compaction failed")
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


def views_command(args: argparse.Namespace) -> int:
    from docmill.tasks.lake.catalog import CatalogError
    from docmill.tasks.lake.layout import Layout
    from docmill.warehouse.build import build_warehouse

    data_dir = data_dir_of(args)
    try:
        names = build_warehouse(data_dir)
    except CatalogError as err:
        return fail(str(err))
    print(f"{Layout(data_dir).catalog.describe()}: {len(names)} views")
    for name in names:
        print(f"  {name}")
    return EXIT_OK


def check_command(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.tasks.lake.locks import BatchBusy
    from docmill.warehouse.check import check_lake, describe
    from docmill.warehouse.repair import RepairRefused, repair_lake

    data_dir = data_dir_of(args)
    try:
        report = check_lake(data_dir, read_pages=not args.quick)
        print(describe(report))
        if report.ok or not args.repair:
            return EXIT_OK if report.ok else EXIT_FAILED
        repaired = repair_lake(data_dir, report)
    except (CatalogError, RepairRefused, BatchBusy) as err:
        return fail(str(err))
    except (duckdb.Error, OSError) as err:
        return fail(f"the check could not read the catalog: {err}")
    print(
        f"removed batch{'es' if len(repaired.removed) > 1 else ''} {', '.join(repaired.removed)} "
        f"from the lake (snapshot {repaired.snapshot_id}); damaged files kept in "
        f"{repaired.quarantined[0].parent.parent if repaired.quarantined else 'place'}"
    )
    for batch_id in repaired.staged:
        print(f"  publish it again: docmill run --batch-id {batch_id} --data-dir {data_dir}")
    after = check_lake(data_dir, read_pages=False)
    if not after.ok:
        return fail(f"the lake still has damaged files after the repair:\n{describe(after)}")
    return EXIT_OK


def report_command(args: argparse.Namespace) -> int:
    import duckdb

    from docmill.tasks.lake.catalog import CatalogError
    from docmill.tasks.lake.layout import Layout
    from docmill.warehouse.query import WarehouseMissing
    from docmill.warehouse.report import write_report

    data_dir = data_dir_of(args)
    try:
        path = write_report(data_dir, args.out)
    except (WarehouseMissing, CatalogError) as err:
        return fail(str(err))
    except duckdb.Error as err:
        return read_failed(
            data_dir, err, "reading the views failed", "rebuild them with `docmill views`"
        )
    except OSError as err:
        target = args.out or Layout(data_dir).report_dir
        return fail(f"cannot write the report to {target}: {err}")
    print(path)
    return EXIT_OK
