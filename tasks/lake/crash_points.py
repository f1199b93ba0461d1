"""Failure injection for the crash-safety tests (`DOCMILL_CRASH_AT=<name>`)."""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    """Failure injection for the crash-safety tests: `DOCMILL_CRASH_AT=<name>` makes the process
    die right here with SIGKILL, as a killed worker or a lost machine would."""
    if os.environ.get("DOCMILL_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
