"""`docmill run` (preflight, the flow, the summary a person reads) and `docmill serve`."""

from __future__ import annotations

import argparse
import sys

from docmill.flows.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STOPPED,
    EXIT_USAGE,
    fail,
    unexpected,
)


def run_with_console_set_up(args: argparse.Namespace) -> int:
    """`docmill run`, its console set up before Prefect loads (worker processes inherit it)."""
    from docmill.flows.console import show_task_run_lines

    show_task_run_lines(args.verbose)
    return run_command(args)


def run_command(args: argparse.Namespace) -> int:
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
        return fail(str(err), EXIT_USAGE)
    except (DamagedRecord, CatalogError) as err:
        return fail(str(err))
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
        return fail(f"the run was stopped: {str(err) or 'interrupted'}", EXIT_STOPPED)
    except (
        SourceNotFound,
        InvalidBatchId,
        ModelNotInstalled,
        BatchBusy,
        StorageError,
        DamagedRecord,
    ) as err:
        return fail(str(err), EXIT_USAGE if isinstance(err, SourceNotFound) else EXIT_FAILED)
    except Exception as err:
        return unexpected(args, err, "the run failed")
    print(format_summary(summary))
    return EXIT_OK


def format_summary(summary: dict) -> str:
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


def serve_command(args: argparse.Namespace) -> int:
    from prefect.settings import PREFECT_API_URL

    from docmill.flows.serve import serve_deployments
    from docmill.flows.settings import load_settings

    if not PREFECT_API_URL.value():
        return fail(
            "serving needs a Prefect server: start one with `prefect server start --host "
            "127.0.0.1` and set PREFECT_API_URL=http://127.0.0.1:4200/api (or use `make serve`)"
        )
    serve_deployments(load_settings(), limit=args.limit)
    return EXIT_OK
