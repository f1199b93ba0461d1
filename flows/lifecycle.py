"""How a run stops: Ctrl-C and SIGTERM, its worker processes, Prefect's temporary server.

- Ctrl-C (SIGINT to the process group) or SIGTERM stops the run within seconds: the workers are
  ended at once (their half-written shards are discarded by the next run; finished ones are
  reused), the run records itself failed in the lake, the Prefect flow run ends Cancelled and
  the published data is untouched (a publish is one transaction). A second signal, or a run
  still alive `HARD_EXIT_AFTER_S` after the first, ends the process on the spot.
- Workers and the temporary server die with the run's process, even with `kill -9`
  (tasks/lifeline.py).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

from prefect.task_runners import ProcessPoolTaskRunner

from docmill.tasks import lifeline

HARD_EXIT_AFTER_S = 10.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(Exception):
    """The run was stopped by a signal; finished shards are kept for a rerun."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(
            f"interrupted by {signal.Signals(signum).name}; the published data is unchanged, "
            "and a rerun of the batch reuses the shards that finished"
        )


class StopRequest:
    """Whether a stop signal arrived, and what to do the moment one does."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._on_stop: list[Callable[[], None]] = []

    @contextlib.contextmanager
    def calling(self, action: Callable[[], None]) -> Iterator[None]:
        """Call `action` when a stop signal arrives while this context is open."""
        self._on_stop.append(action)
        try:
            if self.signum is not None:
                action()
            yield
        finally:
            self._on_stop.remove(action)

    def check(self) -> None:
        if self.signum is not None:
            raise RunInterrupted(self.signum)

    def _received(self, signum: int, _frame: object) -> None:
        if self.signum is not None:  # the second Ctrl-C: no more waiting
            os._exit(128 + signum)
        self.signum = signum
        for action in list(self._on_stop):
            with contextlib.suppress(Exception):
                action()
        threading.Thread(
            target=_exit_later, args=(signum,), name="docmill-hard-exit", daemon=True
        ).start()


def _exit_later(signum: int) -> None:
    time.sleep(HARD_EXIT_AFTER_S)
    print(
        f"docmill: still stopping {HARD_EXIT_AFTER_S:.0f} s after "
        f"{signal.Signals(signum).name}; exiting now (the published data is unchanged)",
        file=sys.stderr,
        flush=True,
    )
    os._exit(128 + signum)


# The request of the outermost `stop_on_signals` open in this process; inner ones share it.
_active: StopRequest | None = None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """SIGINT and SIGTERM request a stop instead of raising wherever the main thread happens to
    be (inside Prefect's client a KeyboardInterrupt turned into other errors, or was lost, and
    left the workers and the process hanging). `docmill run` opens it before Prefect starts,
    the flow again (a deployment's run has no `docmill run` around it): one request for both.
    Outside the main thread signals cannot be handled: the request then never fires."""
    global _active
    outermost = _active is None
    stop = _active or StopRequest()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # Installed again by an inner one: Prefect's flow engine puts its own SIGTERM handler
        # (an exception raised anywhere) in between.
        for signum in _STOP_SIGNALS:
            previous[signum] = signal.signal(signum, stop._received)
    if outermost:
        stop._on_stop.append(lifeline.stop_local_work)
        _active = stop
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if outermost:
            _active = None
            lifeline.resume_local_work()


class TiedProcessPool(ProcessPoolTaskRunner):
    """Prefect's process pool whose workers end with this process, or when `stop_workers` is
    called (tasks/lifeline.py); a stop closes the pool without waiting for running shards."""

    def __init__(self, max_workers: int | None = None, **kwargs) -> None:
        super().__init__(max_workers=max_workers, **kwargs)
        self._lifeline = None
        self._lifeline_reader = None
        self._workers_stopped = False

    def __enter__(self):
        reader, writer = multiprocessing.get_context("spawn").Pipe(duplex=False)
        self._lifeline_reader, self._lifeline = reader, writer
        self._initializer = lifeline.serve_run
        self._initargs = (reader, os.getpid())
        return super().__enter__()

    def stop_workers(self) -> None:
        if self._lifeline is not None:
            self._workers_stopped = True
            self._lifeline.close()
            self._lifeline = None

    def _stop_message_forwarding(self) -> None:
        if not self._workers_stopped:
            super()._stop_message_forwarding()
            return
        # A worker killed in the middle of a log message holds the queue's lock for good:
        # Prefect's orderly stop would wait 5 s for a message that never comes, and the queue's
        # feeder thread would hold up the exit. The forwarding thread is a daemon.
        if self._subprocess_message_queue is not None:
            self._subprocess_message_queue.cancel_join_thread()

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is not None:
            # Waiting for the running shards could take minutes; their work is discarded.
            self.stop_workers()
        try:
            super().__exit__(exc_type, exc_value, traceback)
        finally:
            self.stop_workers()
            if self._lifeline_reader is not None:
                self._lifeline_reader.close()
                self._lifeline_reader = None


@contextlib.contextmanager
def temporary_api() -> Iterator[None]:
    """With no Prefect API configured, Prefect's temporary server for this run, started in its
    own session (a Ctrl-C at the terminal must leave it up to record how the run ended) and
    killed by the kernel if this process dies first.

    It takes the place of the one Prefect would start (Prefect keeps one per port, the port
    None for its own), so Prefect's clients in every thread, and the workers, use it. Prefect's
    exit hook stops it, after the hooks that send it the last logs and events.
    """
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        _child_server_class()().start()
    yield


def _child_server_class():
    from prefect.server.api.server import SubprocessASGIServer

    class ChildServer(SubprocessASGIServer):
        # Prefect's own command (server/api/server.py), run through tasks/lifeline.py.
        def _run_uvicorn_command(self) -> subprocess.Popen:
            import prefect
            from prefect.settings import get_current_settings

            command = [
                *("uvicorn", "--app-dir", str(prefect.__module_path__.parent)),
                *("--factory", "prefect.server.api.server:create_app"),
                *("--host", "127.0.0.1", "--port", str(self.port)),
                *("--log-level", "error", "--lifespan", "on"),
            ]
            env = {
                **os.environ,
                "PREFECT_UI_ENABLED": "0",
                "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1",
                **get_current_settings().to_environment_variables(exclude_unset=True),
            }
            return subprocess.Popen(
                [sys.executable, "-m", "docmill.tasks.lifeline", str(os.getpid()), *command],
                env=env,
                start_new_session=True,
            )

    return ChildServer
