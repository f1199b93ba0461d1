"""One run per batch: an flock per batch id, released by the kernel if its holder dies."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from docmill.tasks.lake.layout import Layout


class BatchBusy(RuntimeError):
    """Another run holds the batch's lock."""


def batch_is_locked(layout: Layout, batch_id: str) -> bool:
    """Whether a live run holds the batch (a probe; the answer may change right after)."""
    path = layout.lock_file(batch_id)
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@contextlib.contextmanager
def batch_lock(
    layout: Layout, batch_id: str, *, wait_seconds: float = 0.0, what: str = "batch"
) -> Iterator[None]:
    """Hold an exclusive lock on a batch for the length of a run.

    The kernel releases a flock when its holder dies, so a run killed with SIGKILL never
    leaves a stale lock behind.
    """
    path = layout.lock_file(batch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise BatchBusy(
                        f"{what} {batch_id!r} is being processed by another run ({holder}); "
                        "wait for it to finish, then rerun if needed"
                    ) from None
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now(UTC).isoformat(timespec='seconds')}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
