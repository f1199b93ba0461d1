"""The accounting invariant on a folder of hostile input: every item tried lands in exactly one
of documents or rejects, each reject with a reason and a detail naming its path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT
from helpers.hostile_inputs import HostileFolder, item_key, plan_and_read, write_hostile_folder

CAPSH = shutil.which("capsh")
DROP_OVERRIDE = "--drop=cap_dac_override,cap_dac_read_search"


@pytest.fixture
def hostile(tmp_path: Path):
    folder = write_hostile_folder(tmp_path / "hostile")
    yield folder
    folder.restore_permissions()


def without_override(*args: str) -> list[str]:
    """A command line that runs `args` with file permissions applied, even as root."""
    if os.geteuid() != 0:
        return list(args)
    if CAPSH is None:
        pytest.skip(
            "capsh (Debian's libcap2-bin) is needed to drop root's file-permission override"
        )
    return [CAPSH, DROP_OVERRIDE, "--", "-c", " ".join(f"'{a}'" for a in args)]


def check_details(found: dict[str, list[str]], root: Path) -> None:
    """Every reject has a detail naming its path (a repeated id: the item that had it first)."""
    for key, (outcome, detail) in found.items():
        if outcome == "duplicate_id":
            assert "was already given by file://" in detail, (key, detail)
        elif outcome != "document":
            assert str(root / key.split("#")[0]) in detail, (key, detail)


def test_planning_the_hostile_folder_accounts_for_every_item(hostile: HostileFolder) -> None:
    started = time.perf_counter()
    found = plan_and_read(hostile.root)
    assert time.perf_counter() - started < 30  # the FIFO never blocks
    expected = hostile.expectation(permissions_apply=os.geteuid() != 0)
    assert {key: outcome for key, (outcome, _) in found.items()} == expected
    check_details(found, hostile.root.resolve())


def test_the_hostile_folder_without_the_permission_override(hostile: HostileFolder) -> None:
    command = without_override(
        sys.executable,
        str(PROJECT_ROOT / "tests" / "helpers" / "hostile_inputs.py"),
        str(hostile.root),
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    assert {key: outcome for key, (outcome, _) in found.items()} == hostile.expected
    check_details(found, hostile.root.resolve())
    assert found["locked"][1].startswith(f"folder {hostile.root.resolve() / 'locked'} could not")


@pytest.mark.prefect
@pytest.mark.model
def test_docmill_run_on_the_hostile_folder_publishes_every_item_once(
    hostile: HostileFolder, prefect_server: str, tmp_path: Path
) -> None:
    """The issue's reproduction: `capsh --drop=... -- -c 'docmill run dir'` (no --batch-id: the
    id derived from the sources used to raise on the symlink loop)."""
    from docmill.warehouse.query import connect_read_only

    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    env.update(PREFECT_API_URL=prefect_server, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    run = [sys.executable, "-m", "docmill.flows.cli", "run", str(hostile.root)]
    run += ["--data-dir", str(data_dir), "--workers", "1"]
    done = subprocess.run(
        without_override(*run), capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr

    root = hostile.root.resolve()
    con = connect_read_only(data_dir)
    try:
        [(batch_id, n_input, n_documents, n_rejected)] = con.execute(
            "select batch_id, n_input, n_documents, n_rejected from runs"
        ).fetchall()
        docs = con.execute(
            "select source_uri, encoding, text from documents where batch_id = ?", [batch_id]
        ).fetchall()
        documents = [item_key(uri, root) for uri, _, _ in docs]
        decoded = {item_key(uri, root): (encoding, text) for uri, encoding, text in docs}
        query = "select source_uri, reason, detail from rejects where batch_id = ?"
        rejects = {
            item_key(uri, root): (reason, detail)
            for uri, reason, detail in con.execute(query, [batch_id]).fetchall()
        }
    finally:
        con.close()

    assert len(documents) == len(set(documents)) == n_documents
    assert not set(documents) & set(rejects)
    assert n_input == n_documents + n_rejected == len(documents) + len(rejects)
    got = {**dict.fromkeys(documents, "document"), **{k: r for k, (r, _) in rejects.items()}}
    assert got == hostile.expected
    check_details({k: [r, d] for k, (r, d) in rejects.items()}, root)
    assert batch_id.startswith("hostile-")
    assert decoded["latin1.txt"] == ("cp1252", "Un café naïf à Noël.")
    assert decoded["mixed.txt"][0] == "utf-8+cp1252"
    assert "Un garçon naïf." in decoded["mixed.txt"][1]
    assert decoded["utf16.txt"][0] == "utf-16-le"
    assert "Berlin and Nairobi" in decoded["utf16.txt"][1]
    print(  # the figures for the report: `pytest -s`
        f"hostile folder: {n_input} items tried, {n_documents} documents, {n_rejected} rejects",
        dict(Counter(reason for reason, _ in rejects.values())),
    )
