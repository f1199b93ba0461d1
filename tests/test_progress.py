"""Progress a person can follow: one live line on a terminal, a plain line now and then elsewhere,
and no line per task run unless asked for (`docmill run -v`)."""

from __future__ import annotations

import io
import logging
import re

import pytest

from docmill.flows.progress import PROGRESS_RECORD, ShardProgress
from docmill.tasks.shard import ShardResult

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
