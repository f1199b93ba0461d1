"""Child processes that live only as long as the run that started them. Plain Python.

A tagging worker is tied to its run by a pipe (its lifeline): the run holds the only write
end, the worker waits on the read end in a thread, and the kernel closes the write end when the
run's process dies, however it dies (`kill -9` included), so the worker ends at once instead of
tagging on for minutes. The run closes the pipe itself to stop its workers on Ctrl-C. A worker
also checks, before it completes a shard, that its run is still its parent, so a rerun never
races a worker of a killed run.

Prefect's temporary server is a child started from the run's main thread; it asks the kernel
for a parent-death signal (`python -m docmill.tasks.lifeline PID MODULE ARGS...`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import runpy
import signal
import sys
import threading
from multiprocessing.connection import Connection

_PR_SET_PDEATHSIG = 1
# The process this one works for (set in tagging workers); None in the run's own process.
_run_pid: int | None = None
# Set in the run's own process when it is stopping: work running in its threads stops too.
_stopping = threading.Event()


class RunGone(RuntimeError):
    """The run this work was for has died or is stopping; its result must not count."""


def serve_run(lifeline: Connection, run_pid: int) -> None:
    """Initializer of a tagging worker: end with the run `run_pid` (whose pipe is `lifeline`)."""
    global _run_pid
    _run_pid = run_pid
    # Ctrl-C reaches the whole process group; stopping the workers is the run's decision.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != run_pid:  # the run died before this worker got here
        _die()
    threading.Thread(
        target=_die_when_closed, args=(lifeline,), name="docmill-lifeline", daemon=True
    ).start()


def _die_when_closed(lifeline: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv()  # nothing is ever sent: this returns only when the run closes it
    _die()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def stop_local_work() -> None:
    """Make work running in this process's threads (one worker: a thread) stop at its next
    check, as a worker process would be stopped by its lifeline."""
    _stopping.set()


def resume_local_work() -> None:
    _stopping.clear()


def check_run_alive() -> None:
    """Raise RunGone when the run this process works for has died or is stopping."""
    if _stopping.is_set():
        raise RunGone("the run is stopping")
    if _run_pid is not None and os.getppid() != _run_pid:
        raise RunGone(f"the run (process {_run_pid}) has died")


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request was made
        _die()


def main(argv: list[str]) -> None:
    """`python -m docmill.tasks.lifeline PARENT_PID MODULE [ARGS...]`: run MODULE as __main__
    in a process that dies with PARENT_PID."""
    parent_pid, module, *args = argv
    die_with_parent(int(parent_pid))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
