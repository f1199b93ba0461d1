"""What `docmill run` prints while it works. Imports nothing heavy: it runs before Prefect loads."""

from __future__ import annotations

import logging
import os

# Prefect's logging configuration takes overrides from variables named after its keys; worker
# processes (process pool, Dask) configure their logging from it when they start.
TASK_RUN_LEVEL_VARIABLE = "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL"


def show_task_run_lines(shown: bool) -> None:
    """Prefect logs "Finished in state Completed()" at INFO for every task run: a line per shard
    and pass, which buries the progress. Off unless `shown`; a task that fails still logs its
    error. A level the user set in the variable is kept unless `shown`."""
    if shown:
        os.environ[TASK_RUN_LEVEL_VARIABLE] = "NOTSET"
    else:
        os.environ.setdefault(TASK_RUN_LEVEL_VARIABLE, "WARNING")
    # For this process, whether or not Prefect has configured its logging yet.
    logging.getLogger("prefect.task_runs").setLevel(os.environ[TASK_RUN_LEVEL_VARIABLE])
