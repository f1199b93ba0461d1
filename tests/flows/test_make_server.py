"""`make server` and `make stop` as a person uses them: a real Prefect server on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
from conftest import PROJECT_ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def _make(target: str, port: int, state: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MAKE"))}
    return subprocess.run(
        ["make", "--no-print-directory", target, f"PREFECT_PORT={port}", f"PREFECT_STATE={state}"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_make_stop_stops_the_server_make_server_started(tmp_path):
    port, state = _free_port(), tmp_path / "prefect"
    started = _make("server", port, state)
    assert started.returncode == 0, started.stdout + started.stderr
    server = psutil.Process(int((state / "server.pid").read_text()))
    try:
        deadline = time.monotonic() + 120
        while not _answers(port):
            assert server.is_running(), (state / "server.log").read_text()
            assert time.monotonic() < deadline, "the server never answered"
            time.sleep(1)
        stopped = _make("stop", port, state)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert not _answers(port)
        server.wait(timeout=30)
        assert not (state / "server.pid").exists()
    finally:
        if server.is_running():
            server.kill()
