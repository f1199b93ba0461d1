"""A folder made read-only for root, who ignores permission bits: a read-only bind mount."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def read_only_bind_mount(folder: Path) -> Iterator[Path]:
    """`folder` mounted read-only over itself while the block runs; skips the test where this
    process may not mount."""
    for args in (["--bind", folder, folder], ["-o", "remount,ro,bind", folder, folder]):
        done = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(folder)], check=False, capture_output=True)
            pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
