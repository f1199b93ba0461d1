"""The `docmill` command line. Heavy imports (Prefect, spaCy) happen only in the commands that
need them, so `docmill sql` answers in a fraction of a second.

    parser.py   every command and option (choices and defaults from tasks/options.py)
    run.py      docmill run (and its summary) and docmill serve
    lake.py     the lake's commands: sql, history, diff, export, shell, migrate, compact,
                views, check, report
    measure.py  docmill bench and docmill eval (docmill.evaluation)
    common.py   exit codes, the data directory a command works on, one-line errors
"""

from __future__ import annotations

import os

from docmill.flows.cli.common import EXIT_USAGE, fail, unexpected
from docmill.flows.cli.parser import build_parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect gives its temporary server 20 s to answer; on a busy two-core machine it can take
    # longer, and the run then fails before any work. Waiting longer costs nothing when it is fast.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    from docmill.tasks.lake.filesystem import DataDirUnusable

    try:
        return args.handler(args)
    except DataDirUnusable as err:
        return fail(str(err), EXIT_USAGE)
    except Exception as err:
        # A user meets one line; the traceback is for whoever debugs (-v).
        return unexpected(args, err, f"{args.command} failed")
