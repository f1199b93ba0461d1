"""pyproject.toml finds the packages itself: every module and view under the four roots is in
the wheel, below `docmill/`, and nothing else lands at the top of site-packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from conftest import PROJECT_ROOT

ROOTS = ("flows", "tasks", "warehouse", "evaluation")


def _project_files() -> set[str]:
    found = set()
    for root in ROOTS:
        for path in (PROJECT_ROOT / root).rglob("*"):
            if path.suffix in (".py", ".sql") and "__pycache__" not in path.parts:
                found.add("docmill/" + str(path.relative_to(PROJECT_ROOT)))
    return found


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory) -> set[str]:
    try:
        import setuptools  # noqa: F401
    except ImportError:
        pytest.skip("setuptools is not installed in this environment")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(PROJECT_ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("docmill-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_every_module_and_view_is_in_the_wheel(wheel_files: set[str]) -> None:
    expected = _project_files()
    assert "docmill/tasks/lake/catalog.py" in expected
    assert sorted(expected - wheel_files) == []


def test_the_wheel_installs_nothing_generic(wheel_files: set[str]) -> None:
    tops = {name.split("/", 1)[0] for name in wheel_files}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"docmill"}
