"""`docmill run` refuses what it can know is wrong before Prefect starts: exit code 2, one line
naming the input, no traceback, and neither Prefect nor spaCy imported (their import alone
takes seconds; bench/fail_fast.py times each case)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SEEDS
from helpers.lake_factory import Doc, write_version
from helpers.read_only_mount import read_only_bind_mount

from docmill.flows.preflight import RunRefused, check_dask_address, check_run

# Run in a child: the exit code, then which heavy packages the refusal imported.
CHILD = """
import sys
from docmill.flows.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"prefect", "spacy", "thinc"})
print(code, *heavy)
"""


def refuse(args: list[str], env: dict[str, str] | None = None) -> str:
    """Run `docmill ARGS` in a fresh interpreter; assert it stopped as a usage error before
    Prefect or spaCy were imported; return its one line on stderr."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == ["2"], (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("docmill: ")
    return line


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """An empty folder this process cannot write in: a read-only bind mount as root (who
    ignores permission bits), the write bits taken away otherwise."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    with read_only_bind_mount(folder):
        yield folder


def test_a_model_that_is_not_installed(tmp_path: Path) -> None:
    line = refuse(["run", str(SEEDS), "--model", "nope", "--data-dir", str(tmp_path)])
    assert "spaCy model 'nope' is not installed" in line
    assert not (tmp_path / "catalog.sqlite").exists()


def test_a_model_folder_without_a_pipeline(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    line = refuse(
        ["run", str(SEEDS), "--model", str(tmp_path / "model"), "--data-dir", str(tmp_path)]
    )
    assert f"spaCy model '{tmp_path / 'model'}' is not installed" in line


def test_a_batch_with_nothing_recorded_in_a_new_data_dir(tmp_path: Path) -> None:
    line = refuse(["run", "--batch-id", "b2", "--data-dir", str(tmp_path / "data")])
    assert f"batch 'b2' has no recorded items in {tmp_path / 'data'}" in line
    assert "give its SOURCEs" in line
    assert not (tmp_path / "data").exists()


def test_a_batch_with_nothing_recorded_in_a_lake_of_other_batches(tmp_path: Path) -> None:
    write_version(tmp_path, batch_id="b1", version="v1", docs=[Doc("d1", ["A text ."], [])])
    line = refuse(["run", "--batch-id", "b2", "--data-dir", str(tmp_path)])
    assert f"batch 'b2' has no recorded items in {tmp_path}" in line


def test_an_unknown_quality_threshold(tmp_path: Path) -> None:
    line = refuse(["run", str(SEEDS), "--quality", "nope=3", "--data-dir", str(tmp_path)])
    assert line.startswith("docmill: --quality (or DOCMILL_QUALITY_THRESHOLDS): unknown quality")
    assert "nope" in line and "min_words" in line and "validation error" not in line


def test_a_setting_out_of_range_names_its_option(tmp_path: Path) -> None:
    line = refuse(["run", str(SEEDS), "--workers", "0", "--data-dir", str(tmp_path)])
    assert line == (
        "docmill: --workers (or DOCMILL_WORKERS): Input should be greater than or equal to 1, got 0"
    )


def test_a_setting_variable_that_does_not_parse(tmp_path: Path) -> None:
    env = {"DOCMILL_QUALITY_THRESHOLDS": "{min_words"}
    line = refuse(["run", str(SEEDS), "--data-dir", str(tmp_path)], env)
    assert "DOCMILL_QUALITY_THRESHOLDS" in line and "JSON" in line


def test_a_data_dir_that_cannot_be_written(read_only: Path) -> None:
    line = refuse(["run", str(SEEDS), "--data-dir", str(read_only / "data")])
    assert f"cannot write in {read_only} (" in line and "make it writable" in line


@pytest.mark.parametrize(
    ("catalog", "why"),
    [
        ("mysql://db.internal/docmill", "unsupported catalog 'mysql://db.internal/docmill'"),
        ("postgresql://db.internal", "needs a host and a database"),
        ("postgresql://db.internal:port/docmill", "Port could not be cast"),
        ("sqlite://", "names no file"),
    ],
)
def test_a_malformed_catalog(tmp_path: Path, catalog: str, why: str) -> None:
    assert why in refuse(["run", str(SEEDS), "--catalog", catalog, "--data-dir", str(tmp_path)])
    assert why in refuse(
        ["run", str(SEEDS), "--data-dir", str(tmp_path)], {"DOCMILL_CATALOG": catalog}
    )


@pytest.mark.parametrize("variable", ["DOCMILL_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"])
def test_a_malformed_s3_endpoint(variable: str) -> None:
    line = refuse(["run", str(SEEDS), "--data-dir", "s3://news/docmill"], {variable: "minio:9000"})
    assert "S3 endpoint 'minio:9000' is not http(s)://host[:port]" in line


def test_a_malformed_dask_scheduler_address(tmp_path: Path) -> None:
    args = ["run", str(SEEDS), "--task-runner", "dask", "--dask-address", "nonsense::"]
    line = refuse([*args, "--data-dir", str(tmp_path)])
    assert "--dask-address (or DOCMILL_DASK_ADDRESS) 'nonsense::' is not a scheduler" in line


@pytest.mark.parametrize(
    ("address", "accepted"),
    [
        ("tcp://10.0.0.5:8786", True),
        ("10.0.0.5:8786", True),
        ("tls://scheduler.internal:8786", True),
        ("tcp://[::1]:8786", True),
        ("tcp://10.0.0.5", False),
        ("http://10.0.0.5:8786", False),
        ("tcp://10.0.0.5:port", False),
        ("tcp://:8786", False),
        ("tcp://10.0.0.5:8786/x", False),
    ],
)
def test_dask_scheduler_addresses(address: str, accepted: bool) -> None:
    if accepted:
        check_dask_address(address)
    else:
        with pytest.raises(RunRefused, match="tcp://HOST:PORT"):
            check_dask_address(address)


def test_a_rerun_of_a_recorded_batch_passes(tmp_path: Path) -> None:
    write_version(tmp_path, batch_id="b1", version="v1", docs=[Doc("d1", ["A text ."], [])])
    checked = check_run([], "b1", data_dir=str(tmp_path))
    assert checked.batch_id == "b1" and checked.data_dir == tmp_path


def test_a_missing_source_with_a_batch_id(tmp_path: Path) -> None:
    args = ["run", str(tmp_path / "missing"), "--batch-id", "b1", "--data-dir", str(tmp_path)]
    assert str(tmp_path / "missing") in refuse(args)
