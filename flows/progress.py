"""Shard progress: a live bar on a terminal, log lines elsewhere, and a Prefect progress
artifact either way (the UI shows it on the flow run page)."""

from __future__ import annotations

import logging
import sys
import time

from docmill.tasks.shard import ShardResult


class ShardProgress:
    def __init__(self, *, total_shards: int, total_items: int, logger: logging.Logger) -> None:
        self.total_shards = total_shards
        self.total_items = total_items
        self.logger = logger
        self.done_shards = 0
        self.done_items = 0
        self.started = time.perf_counter()
        self._bar = None
        self._artifact_id = None

    def __enter__(self) -> ShardProgress:
        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]tagging"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("docs · {task.fields[rate]} docs/s · {task.fields[shards]}"),
                TimeElapsedColumn(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                "tag", total=self.total_items, rate="-", shards=f"0/{self.total_shards} shards"
            )
        self._artifact_id = _create_progress_artifact()
        return self

    def advance(self, result: ShardResult) -> None:
        self.done_shards += 1
        self.done_items += result.n_input
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = self.done_items / elapsed
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=self.done_items,
                rate=f"{rate:,.0f}",
                shards=f"{self.done_shards}/{self.total_shards} shards",
            )
        self.logger.info(
            "shard %d done%s: %d docs, %d rejected, %d tokens · %d/%d shards, %d/%d items, "
            "%.0f items/s",
            result.shard_no,
            " (reused from an earlier attempt)" if result.reused else "",
            result.n_documents,
            result.n_rejected,
            result.n_tokens,
            self.done_shards,
            self.total_shards,
            self.done_items,
            self.total_items,
            rate,
        )
        if self._artifact_id is not None:
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(
                self._artifact_id, 100.0 * self.done_shards / self.total_shards
            )

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _create_progress_artifact():
    from prefect.artifacts import create_progress_artifact

    try:
        return create_progress_artifact(0.0, description="Shards finished")
    except Exception:
        return None
