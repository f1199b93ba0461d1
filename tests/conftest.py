"""Shared fixtures. Prefect gets a private home and one test server for the whole session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_PREFECT_HOME = tempfile.mkdtemp(prefix="docmill-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("DOCMILL_DATA_DIR", None)
# docmill fits tables to $COLUMNS; pytest-xdist's workers inherit a width, a plain run does not.
os.environ.pop("COLUMNS", None)

import pytest  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS = PROJECT_ROOT / "seeds"
SEED_ARTICLE = SEEDS / "000_fa70326514a1b195.txt"


@pytest.fixture(scope="session")
def prefect_server() -> str:
    """One temporary Prefect server (127.0.0.1, SQLite under a temporary PREFECT_HOME) for every
    test that runs a flow; yields its API URL for subprocesses."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session", autouse=True)
def _remove_prefect_home():
    yield
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def nlp():
    from docmill.tasks.nlp.pipeline import load_pipeline
    from docmill.tasks.options import DEFAULT_MODEL

    return load_pipeline(DEFAULT_MODEL, "accurate")
