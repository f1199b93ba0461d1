"""Progress a person can follow: one live line on a terminal, a plain line now and then elsewhere,
and no line per task run unless asked for (`docmill run -v`)."""

from __future__ import annotations

import io
import logging
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from fcntl import ioctl

import pytest
from conftest import PROJECT_ROOT, SEEDS

from docmill.flows.progress import PROGRESS_RECORD, ShardProgress
from docmill.tasks.passes.tag import ShardResult

TASK_RUN_LINE = re.compile(r"Task run '[^']+' - Finished in state")
PROGRESS_LOG_LINE = re.compile(r"\| INFO .* - tagging \d+/\d+ items")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _result(shard_no: int, n_input: int = 10, *, reused: bool = False) -> ShardResult:
    return ShardResult(
        shard_no=shard_no,
        shard_key=f"k{shard_no}",
        reused=reused,
        n_input=n_input,
        n_documents=n_input - 1,
    )


@pytest.fixture
def records():
    logger = logging.getLogger("docmill.test.progress")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = Records()
    logger.addHandler(handler)
    yield logger, handler.records
    logger.removeHandler(handler)


def test_away_from_a_terminal_a_plain_line_every_interval_and_at_the_end(records):
    logger, logged = records
    clock, stream = FakeClock(), io.StringIO()
    progress = ShardProgress(
        total_shards=6,
        total_items=60,
        logger=logger,
        stream=stream,
        clock=clock,
        plain_line_every_s=10,
    )
    with progress:
        for shard_no in range(6):
            clock.now += 4
            progress.advance(_result(shard_no, reused=shard_no == 0))
    lines = [record.getMessage() for record in logged]
    # Shards finish at 4, 8, 12, 16, 20, 24 s: a line for the first, for the first one 10 s
    # after that, and for the last.
    assert lines == [
        "tagging 10/60 items (16 %) · 2.2 docs/s · ETA 0:00:20 · 1/6 shards (1 reused)",
        "tagging 40/60 items (66 %) · 2.2 docs/s · ETA 0:00:08 · 4/6 shards (1 reused)",
        "tagging 60/60 items (100 %) · 2.2 docs/s · ETA 0:00:00 · 6/6 shards (1 reused)",
    ]
    assert stream.getvalue() == ""  # no live line where nobody watches


def test_on_a_terminal_one_live_line_and_no_progress_records_on_the_console(records):
    logger, logged = records
    clock, terminal = FakeClock(), Terminal()
    console = logging.StreamHandler(terminal)
    root = logging.getLogger()
    root.addHandler(console)
    logger.propagate = True
    try:
        with ShardProgress(
            total_shards=3, total_items=30, logger=logger, stream=terminal, clock=clock
        ) as progress:
            for shard_no in range(3):
                clock.now += 2
                progress.advance(_result(shard_no))
            logger.info("a line that is not progress")
        logger.info("after the bar")
    finally:
        root.removeHandler(console)
    shown = ANSI.sub("", terminal.getvalue())
    assert re.search(r"tagging .*30/30 items · 4\.5 docs/s · ETA 0:00:00", shown), shown
    assert "a line that is not progress" in shown and "after the bar" in shown
    assert "tagging 30/30 items (100 %)" not in shown  # the plain line stays off the console
    # ... but is still logged, for the flow run's log page in the Prefect UI.
    progress_lines = [r.getMessage() for r in logged if getattr(r, PROGRESS_RECORD, False)]
    assert progress_lines[-1].startswith("tagging 30/30 items (100 %) · 4.5 docs/s")
    assert console.filters == []


def _env(prefect_server: str, data_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    env.pop("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", None)
    env.update(
        PREFECT_API_URL=prefect_server,
        PREFECT_LOGGING_LEVEL="INFO",  # Prefect's default; the test session sets WARNING
        DOCMILL_DATA_DIR=str(data_dir),
        DOCMILL_REFRESH_REPORT="false",
        TERM="xterm",
    )
    return env


def _command(*options: str) -> list[str]:
    return [sys.executable, "-m", "docmill.flows.cli", "run", str(SEEDS), *options]


def _run_piped(env: dict[str, str], *options: str) -> str:
    done = subprocess.run(
        _command(*options), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def _run_on_a_terminal(env: dict[str, str], *options: str) -> str:
    """Everything the command writes to a pseudo-terminal of 100 columns, without colours."""
    controller, terminal = pty.openpty()
    ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    process = subprocess.Popen(
        _command(*options),
        cwd=PROJECT_ROOT,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    output = bytearray()
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 300)
            assert ready, "no output for 300 s"
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(controller)
    assert process.wait(60) == 0, output.decode(errors="replace")
    return ANSI.sub("", output.decode(errors="replace"))


@pytest.mark.prefect
@pytest.mark.model
def test_docmill_run_on_a_terminal_shows_a_live_line_not_a_line_per_task(prefect_server, tmp_path):
    shown = _run_on_a_terminal(_env(prefect_server, tmp_path / "data"))
    assert re.search(r"tagging .*6/6 items · [\d.]+ docs/s · ETA 0:00:00", shown), shown
    assert not TASK_RUN_LINE.search(shown), shown
    assert not PROGRESS_LOG_LINE.search(shown), shown
    assert "batch seeds-" in shown and "published" in shown


@pytest.mark.prefect
@pytest.mark.model
def test_docmill_run_in_a_log_prints_plain_progress_lines_not_a_line_per_task(
    prefect_server, tmp_path
):
    logged = _run_piped(_env(prefect_server, tmp_path / "data"))
    assert re.search(r"tagging 6/6 items \(100 %\) · [\d.]+ docs/s · ETA 0:00:00", logged), logged
    assert not TASK_RUN_LINE.search(logged), logged
    assert "━" not in logged  # no bar where nobody watches


@pytest.mark.prefect
@pytest.mark.model
def test_docmill_run_verbose_brings_the_task_run_lines_back(prefect_server, tmp_path):
    logged = _run_piped(_env(prefect_server, tmp_path / "data"), "-v")
    assert re.search(r"Task run 'shard-0' - Finished in state Completed\(\)", logged), logged
    assert re.search(r"Task run 'prepare-0' - Finished in state Completed\(\)", logged), logged
