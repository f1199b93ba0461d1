"""`docmill run` with no Prefect server configured: Prefect starts one temporary server for the
flow, and the worker processes report to it instead of starting their own."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
from conftest import PROJECT_ROOT
from helpers.corpus_factory import write_corpus


def test_workers_use_the_flows_temporary_server(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 40)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCMILL_", "PREFECT_API"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DOCMILL_DATA_DIR=str(tmp_path / "data"),
        DOCMILL_REFRESH_REPORT="false",
        DOCMILL_MIN_SHARD_DOCS="10",
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "docmill.flows.cli", "run", str(corpus), "--workers", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    root = psutil.Process(run.pid)
    servers: set[int] = set()
    workers: set[int] = set()
    while run.poll() is None:
        try:
            for proc in root.children(recursive=True):
                command = " ".join(proc.cmdline())
                if "uvicorn" in command and "prefect.server" in command:
                    servers.add(proc.pid)
                elif "multiprocessing.spawn" in command and "spawn_main" in command:
                    workers.add(proc.pid)
        except psutil.Error:
            pass
        time.sleep(0.2)
    _out, err = run.communicate()
    assert run.returncode == 0, err[-3000:]
    assert len(workers) >= 2  # the shards did run in worker processes
    assert len(servers) == 1, f"{len(servers)} Prefect servers started for one flow run"
