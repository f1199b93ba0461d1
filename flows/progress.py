"""Tagging progress a person can follow: one live line on a terminal, a plain line now and then
elsewhere (CI, log files), and a Prefect progress artifact either way.

The plain lines are log records of the flow run, so they also reach the run's log page in the
Prefect UI; on a terminal they are kept off the console, where the live line says the same.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

from docmill.tasks.passes.tag import ShardResult

PLAIN_LINE_EVERY_S = 10.0
# Set on the progress records, so a console that shows the live line can leave them out.
PROGRESS_RECORD = "docmill_progress"


class ShardProgress:
    def __init__(
        self,
        *,
        total_shards: int,
        total_items: int,
        logger: logging.Logger | logging.LoggerAdapter,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.perf_counter,
        plain_line_every_s: float = PLAIN_LINE_EVERY_S,
    ) -> None:
        self.total_shards = total_shards
        self.total_items = total_items
        self.logger = logger
        self.stream = stream or sys.stderr
        self.clock = clock
        self.plain_line_every_s = plain_line_every_s
        self.done_shards = 0
        self.reused_shards = 0
        self.done_items = 0
        self.done_documents = 0
        self.started = clock()
        self._last_line_at: float | None = None
        self._bar = None
        self._themed_console = None
        self._hidden_from: list[logging.Handler] = []
        self._artifact_id = None

    def __enter__(self) -> ShardProgress:
        self.started = self.clock()
        if _is_terminal(self.stream):
            try:
                self._start_bar()
            except Exception as err:
                # A display that cannot draw must not fail the batch; plain lines remain.
                self.logger.warning("no live progress line (%s)", err)
                self._stop_bar()
        self._artifact_id = _create_progress_artifact()
        return self

    def advance(self, result: ShardResult) -> None:
        self.done_shards += 1
        self.reused_shards += result.reused
        self.done_items += result.n_input
        self.done_documents += result.n_documents
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done_items, **self._fields())
        now = self.clock()
        finished = self.done_shards == self.total_shards
        due = self._last_line_at is None or now - self._last_line_at >= self.plain_line_every_s
        if finished or due:
            self._last_line_at = now
            self.logger.info("%s", self.line(), extra={PROGRESS_RECORD: True})
        if self._artifact_id is not None:
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(
                self._artifact_id, 100.0 * self.done_shards / self.total_shards
            )

    def line(self) -> str:
        """`tagging 120/600 items (20 %) · 35 docs/s · ETA 0:00:14 · 3/12 shards`"""
        percent = 100 * self.done_items // max(self.total_items, 1)
        fields = self._fields()
        return (
            f"tagging {self.done_items:,}/{self.total_items:,} items ({percent} %) · "
            f"{fields['rate']} docs/s · ETA {fields['eta']} · {fields['shards']}"
        )

    def __exit__(self, *exc: object) -> None:
        self._stop_bar()

    def _stop_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self._themed_console is not None:
            self._themed_console.pop_theme()
            self._themed_console = None
        for handler in self._hidden_from:
            handler.removeFilter(_hide_progress_records)
        self._hidden_from = []

    def _fields(self) -> dict[str, str]:
        elapsed = max(self.clock() - self.started, 1e-9)
        item_rate = self.done_items / elapsed
        eta = "-"
        if item_rate > 0:
            eta = _clock_time((self.total_items - self.done_items) / item_rate)
        shards = f"{self.done_shards}/{self.total_shards} shards"
        if self.reused_shards:
            shards += f" ({self.reused_shards} reused)"
        rate = "-"
        if self.done_shards:
            per_second = self.done_documents / elapsed
            rate = f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.1f}"
        return {"rate": rate, "eta": eta, "shards": shards}

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.theme import Theme

        consoles = _console_handlers(self.stream)
        # Log lines printed through the console the bar is drawn on appear above the bar
        # instead of breaking it.
        console = next(
            (handler.console for handler in consoles if hasattr(handler, "console")),
            None,
        ) or Console(file=self.stream)
        # Prefect's console has only its own log styles; the bar needs rich's.
        console.push_theme(Theme())
        self._themed_console = console
        # Short enough for an 80-column terminal; the plain lines also count shards.
        self._bar = Progress(
            TextColumn("[bold]tagging"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("items · {task.fields[rate]} docs/s · ETA {task.fields[eta]} ·"),
            TimeElapsedColumn(),
            console=console,
            refresh_per_second=4,
        )
        self._task = self._bar.add_task("tag", total=self.total_items, **self._fields())
        self._bar.start()
        for handler in consoles:
            handler.addFilter(_hide_progress_records)
            self._hidden_from.append(handler)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _console_handlers(stream: TextIO) -> list[logging.Handler]:
    """The handlers that print log records to `stream` (Prefect's console handler is the root
    logger's)."""
    return [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is stream
    ]


def _hide_progress_records(record: logging.LogRecord) -> bool:
    return not getattr(record, PROGRESS_RECORD, False)


def _clock_time(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _create_progress_artifact():
    """A progress artifact on the flow run's page; none outside a flow run."""
    from prefect.artifacts import create_progress_artifact
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return None
    try:
        return create_progress_artifact(0.0, description="Shards finished")
    except Exception:
        return None
