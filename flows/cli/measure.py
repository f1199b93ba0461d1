"""`docmill bench` and `docmill eval`: docmill.evaluation behind the command line."""

from __future__ import annotations

import argparse
import json
import sys

from docmill.flows.cli.common import EXIT_OK, EXIT_USAGE, fail


def bench_command(args: argparse.Namespace) -> int:
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
        return fail(str(err))
    print(format_report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return EXIT_OK


def eval_command(args: argparse.Namespace) -> int:
    from docmill.evaluation.evaluate import evaluate, format_report
    from docmill.evaluation.gold import GoldFormatError
    from docmill.tasks.nlp.pipeline import ModelNotInstalled
    from docmill.tasks.options import DEFAULT_MODEL

    try:
        report = evaluate(
            args.kind, args.file, model=args.model or DEFAULT_MODEL, profile=args.profile
        )
    except (FileNotFoundError, GoldFormatError, ModelNotInstalled) as err:
        return fail(str(err), EXIT_USAGE)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return EXIT_OK
