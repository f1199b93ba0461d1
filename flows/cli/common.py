"""What every command shares: exit codes, the data directory it works on, one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docmill.tasks.lake.filesystem import Location


EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


EXIT_STOPPED = 130  # as a shell reports a command ended by Ctrl-C


def terminal_width() -> int:
    """Columns of the terminal the output goes to ($COLUMNS first); 0 when it goes elsewhere,
    so a file or a pipe gets whole values."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    if sys.stdout.isatty():
        return os.get_terminal_size(sys.stdout.fileno()).columns
    return 0


# Commands that write into the data directory (check only with --repair).
WRITING_COMMANDS = frozenset({"views", "compact", "migrate"})


def data_dir_of(args: argparse.Namespace) -> Location:
    """The data directory the command works on; DataDirUnusable (one line, exit 2) when it is a
    file, or cannot be written by a command that writes."""
    from docmill.flows.settings import load_settings
    from docmill.tasks.lake import filesystem

    settings = load_settings(data_dir=args.data_dir, catalog=getattr(args, "catalog", None))
    data_dir = filesystem.location(settings.data_dir)
    writing = args.command in WRITING_COMMANDS or getattr(args, "repair", False)
    filesystem.check_usable(data_dir, writing=writing)
    return data_dir


def fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"docmill: {message}", file=sys.stderr)
    return code


def unexpected(args: argparse.Namespace, error: Exception, what: str) -> int:
    """An error no command expected: one line, the traceback with -v."""
    if getattr(args, "verbose", False):
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    message = " ".join(str(error).split()) or "(no message)"
    hint = "" if getattr(args, "verbose", False) else " (-v shows the traceback)"
    return fail(f"{what}: {type(error).__name__}: {message}{hint}")


def read_failed(data_dir: Location, error: Exception, what: str, hint: str = "") -> int:
    """A failed read, naming the data file and batch when a damaged file was the cause."""
    from docmill.warehouse.check import explain_read_error

    damaged = explain_read_error(data_dir, error)
    if damaged is not None:
        return fail(f"{what}: {damaged}")
    return fail(f"{what}: {error}" + (f" ({hint})" if hint else ""))
