"""The start-up of `docmill run` with no Prefect server configured.

Prefect then runs the flow against a temporary server of its own, a subprocess that takes
several seconds to answer (docs/performance.md, "Start-up of a small run"); until it does,
this process only waits. `warm_start` starts that server first, on a thread, and uses the wait
for work the run would do afterwards anyway: importing the flow module and, when this process
will tag (one worker, the local runner), importing spaCy and loading the model. With a server
configured there is nothing to overlap, and nothing happens here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from docmill.flows.settings import Settings


def uses_temporary_server() -> bool:
    from prefect.settings import PREFECT_API_URL

    return not PREFECT_API_URL.value()


def tags_in_this_process(settings: Settings) -> bool:
    """One worker on the local runner tags on a thread of the flow's process (process.py)."""
    return settings.task_runner == "local" and settings.workers == 1


@contextlib.contextmanager
def warm_start(settings: Settings) -> Iterator[None]:
    """Start Prefect's temporary server in the background while the body runs, then wait for
    it, so that the flow called after this finds it answering."""
    if not uses_temporary_server():
        yield
        return
    # Imported here, not on the thread (get_client would import the server module there):
    # two threads importing the same package at once can deadlock on its import locks.
    # prefect.main configures Prefect's logging, which says that the server starts.
    import prefect.main
    import prefect.server.api.server  # noqa: F401
    from prefect.client.orchestration import get_client

    failed: list[Exception] = []

    def start() -> None:
        try:
            with get_client(sync_client=True):
                pass
        except Exception as err:
            failed.append(err)

    server = threading.Thread(target=start, name="docmill-prefect-server", daemon=True)
    server.start()
    yield
    # Not after an error or Ctrl-C: the server stops when the process exits (Prefect's atexit).
    server.join()
    if failed:
        # As the flow would have failed; starting it anyway would start a second server.
        raise failed[0]


def preload(settings: Settings) -> None:
    """What the run will need before its first shard, done while the server starts: the flow
    module, and the model when this process tags."""
    import docmill.flows.process  # noqa: F401

    if tags_in_this_process(settings):
        from docmill.tasks.nlp import load_pipeline

        # The same arguments as the shard's call, so that it finds the pipeline in the cache.
        load_pipeline(settings.model, settings.profile)
