"""Walking sources: special files, symbolic links and unreadable entries become rejects."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from docmill.tasks.ingest.read import plan_items, read_items
from docmill.tasks.ingest.sources import resolve_sources, scan_sources
from docmill.tasks.records import ItemRejected

CAPSH = shutil.which("capsh")
# Root reads everything through these two capabilities; without them permissions apply.
DROP_OVERRIDE = "--drop=cap_dac_override,cap_dac_read_search"


def outcomes(
    root: Path, source: str | None = None, *, details: bool = False, timeout: float = 10.0
) -> dict[str, str]:
    """Plan and read `source` (default: the folder `root`): item path relative to `root` ->
    "document" or the reject reason (with `details`, "reason: detail"). Fails, instead of
    hanging, when planning blocks."""
    result: dict[str, str] = {}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            items = list(plan_items(resolve_sources([source or str(root)])))
            for item, outcome in read_items(items):
                _, hash_mark, record = item.source_uri.partition("#")
                name = os.path.relpath(item.path, root) + hash_mark + record
                if not isinstance(outcome, ItemRejected):
                    result[name] = "document"
                else:
                    result[name] = str(outcome) if details else outcome.reason
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        _unblock_fifos(root)
        worker.join(5)
        pytest.fail(f"planning {root} did not finish within {timeout} s")
    if errors:
        raise errors[0]
    return result


def _unblock_fifos(root: Path) -> None:
    """Open every FIFO under `root` for writing, so a reader blocked in open() gets EOF."""
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.exists(path) and not os.path.isfile(path) and not os.path.islink(path):
                with contextlib.suppress(OSError):
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def good(folder: Path, name: str = "good.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("A good file\n\nwith a body.\n")
    return path


def test_a_fifo_is_a_special_file_reject_and_planning_does_not_block(tmp_path: Path) -> None:
    good(tmp_path)
    os.mkfifo(tmp_path / "pipe.txt")
    started = time.perf_counter()
    got = outcomes(tmp_path)
    assert time.perf_counter() - started < 5
    assert got == {"good.txt": "document", "pipe.txt": "special_file"}


def test_a_socket_is_a_special_file_reject(tmp_path: Path) -> None:
    import socket

    good(tmp_path)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s.txt"))
        assert outcomes(tmp_path) == {"good.txt": "document", "s.txt": "special_file"}


def test_a_link_to_a_device_is_rejected_without_opening_it(tmp_path: Path) -> None:
    good(tmp_path)
    (tmp_path / "null.txt").symlink_to("/dev/null")
    assert outcomes(tmp_path) == {"good.txt": "document", "null.txt": "special_file"}


def test_special_file_detail_names_the_path_and_its_kind(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "null.txt").symlink_to("/dev/null")
    assert outcomes(tmp_path, details=True) == {
        "pipe.txt": f"special_file: {tmp_path / 'pipe.txt'} is a FIFO (named pipe), "
        "not a regular file; not opened",
        "null.txt": f"special_file: {tmp_path / 'null.txt'} (a link to /dev/null) is a "
        "character device, not a regular file; not opened",
    }


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        ({"loop.txt": "loop.txt"}, {"loop.txt": "symlink_loop"}),
        ({"a.txt": "b.txt", "b.txt": "a.txt"}, {"a.txt": "symlink_loop", "b.txt": "symlink_loop"}),
        ({"dangling.txt": "nowhere.txt"}, {"dangling.txt": "dangling_symlink"}),
        ({"alias.txt": "good.txt"}, {}),  # the same file as good.txt: one item
        ({"sub/back": ".."}, {"sub/back": "symlink_loop"}),
        ({"sub/self": "."}, {"sub/self": "symlink_loop"}),
        ({"twin": "sub"}, {"sub/inner.txt": "document"}),  # a folder reached twice: walked once
        ({"loop": "loop"}, {}),  # no supported suffix: skipped like any such file
    ],
)
def test_symbolic_links(tmp_path: Path, links: dict[str, str], expected: dict[str, str]) -> None:
    good(tmp_path)
    (tmp_path / "sub").mkdir()
    if "twin" in links:
        good(tmp_path / "sub", "inner.txt")
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    assert outcomes(tmp_path) == {"good.txt": "document", **expected}


def test_a_linked_folder_outside_the_source_is_followed(tmp_path: Path) -> None:
    outside = good(tmp_path / "outside", "far.txt")
    good(tmp_path / "src")
    (tmp_path / "src" / "linked").symlink_to(tmp_path / "outside")
    paths = resolve_sources([str(tmp_path / "src")])
    assert paths == [outside, tmp_path / "src" / "good.txt"]


@pytest.mark.parametrize(
    ("name", "reason", "detail"),
    [
        ("loop.txt", "symlink_loop", "{p} is a symbolic link that loops"),
        (
            "dangling.txt",
            "dangling_symlink",
            "{p} is a symbolic link to nowhere.txt, which does not exist",
        ),
    ],
)
def test_a_broken_link_named_as_a_source_is_a_reject(
    tmp_path: Path, name: str, reason: str, detail: str
) -> None:
    path = tmp_path / name
    path.symlink_to("nowhere.txt" if reason == "dangling_symlink" else name)
    (got,) = outcomes(tmp_path, str(path), details=True).items()
    assert got[0] == name
    assert got[1].startswith(f"{reason}: " + detail.format(p=path))


def test_a_loop_in_a_glob_is_a_reject(tmp_path: Path) -> None:
    good(tmp_path)
    (tmp_path / "loop.txt").symlink_to("loop.txt")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "back").symlink_to("..")
    got = outcomes(tmp_path, f"{tmp_path}/**/*.txt")
    assert got == {"good.txt": "document", "loop.txt": "symlink_loop", "sub/back": "symlink_loop"}


def test_a_fifo_matched_by_a_glob_is_a_reject(tmp_path: Path) -> None:
    good(tmp_path)
    os.mkfifo(tmp_path / "pipe.txt")
    assert outcomes(tmp_path, f"{tmp_path}/*.txt") == {
        "good.txt": "document",
        "pipe.txt": "special_file",
    }


# --- unreadable entries: root reads anything, so these drop its override capabilities --------

_PLAN_AND_READ = """
import json, os, sys
from docmill.tasks.ingest.read import plan_items, read_items
from docmill.tasks.ingest.sources import resolve_sources
from docmill.tasks.records import ItemRejected
root, source = sys.argv[1], sys.argv[2]
out = {}
for item, outcome in read_items(plan_items(resolve_sources([source]))):
    name = os.path.relpath(item.path, root)
    if isinstance(outcome, ItemRejected):
        out[name] = [outcome.reason, outcome.detail]
    else:
        out[name] = ["document", ""]
print(json.dumps(out))
"""


def plan_without_override(root: Path, source: str | None = None) -> dict[str, list[str]]:
    """`outcomes` in a subprocess that cannot bypass file permissions (capsh drops root's)."""
    if CAPSH is None:
        pytest.skip(
            "capsh (Debian's libcap2-bin) is needed to drop root's file-permission override"
        )
    if os.geteuid() != 0:
        args = [sys.executable, "-c", _PLAN_AND_READ, str(root), source or str(root)]
    else:
        command = " ".join(
            f"'{a}'" for a in (sys.executable, "-c", _PLAN_AND_READ, str(root), source or str(root))
        )
        args = [CAPSH, DROP_OVERRIDE, "--", "-c", command]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def locked(tmp_path: Path):
    """good.txt, locked/ (mode 000) holding two files, secret.txt (mode 000)."""
    good(tmp_path)
    good(tmp_path / "locked", "a.txt")
    good(tmp_path / "locked", "b.txt")
    good(tmp_path, "secret.txt").chmod(0)
    (tmp_path / "locked").chmod(0)
    yield tmp_path
    (tmp_path / "locked").chmod(0o755)


def test_an_unreadable_folder_is_one_reject_naming_it(locked: Path) -> None:
    got = plan_without_override(locked)
    assert {name: reason for name, (reason, _) in got.items()} == {
        "good.txt": "document",
        "locked": "unreadable_folder",
        "secret.txt": "unreadable",
    }
    assert got["locked"][1] == (
        f"folder {locked / 'locked'} could not be listed (Permission denied); "
        "none of its files were planned"
    )
    assert got["secret.txt"][1] == f"{locked / 'secret.txt'}: Permission denied"


def test_an_unreadable_folder_matched_by_a_glob_is_a_reject(locked: Path) -> None:
    got = plan_without_override(locked, f"{locked}/**/*.txt")
    assert {name: reason for name, (reason, _) in got.items()} == {
        "good.txt": "document",
        "locked": "unreadable_folder",
        "secret.txt": "unreadable",
    }


def test_an_unreadable_jsonl_file_says_why(tmp_path: Path) -> None:
    (tmp_path / "feed.jsonl").write_text('{"id": 1, "text": "x"}\n')
    (tmp_path / "feed.jsonl").chmod(0)
    got = plan_without_override(tmp_path)
    assert got == {"feed.jsonl": ["unreadable", f"{tmp_path / 'feed.jsonl'}: Permission denied"]}


def test_skipped_files_are_listed_and_entries_that_cannot_be_walked_are_not(tmp_path: Path) -> None:
    good(tmp_path)
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "back").symlink_to("..")
    scan = scan_sources([str(tmp_path)])
    assert scan.skipped == [tmp_path / "image.png"]
    assert scan.paths == [tmp_path / "good.txt", tmp_path / "sub" / "back"]


def test_a_file_swapped_for_a_fifo_after_planning_is_not_read(tmp_path: Path, monkeypatch) -> None:
    """Even if the stat check were passed (a race), the open cannot block and reads nothing."""
    from docmill.tasks.ingest import read

    path = good(tmp_path)
    (item,) = plan_items([path])
    path.unlink()
    os.mkfifo(path)
    monkeypatch.setattr(read, "entry_problem", lambda _: None)
    result: list = []
    worker = threading.Thread(target=lambda: result.extend(read_items([item])), daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():
        _unblock_fifos(tmp_path)
        pytest.fail("reading a FIFO swapped in after planning blocked")
    ((_, rejected),) = result
    assert (rejected.reason, rejected.detail) == (
        "special_file",
        f"{path} is no longer a regular file; not read",
    )


def test_files_left_out_for_their_suffix_are_named_before_a_run(tmp_path: Path) -> None:
    from docmill.flows.preflight import check_run

    corpus = tmp_path / "corpus"
    for name in ("story.txt", "scan.pdf", "SCAN2.PDF", "notes.docx", "deep/more.pdf"):
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text("text")
    checked = check_run([str(corpus)], None, data_dir=str(tmp_path / "data"))
    assert checked.left_out is not None
    assert checked.left_out.startswith("4 file(s) left out for their suffix (.pdf 3, .docx 1)")
    assert ".txt" in checked.left_out and ".jsonl" in checked.left_out
    named = check_run([str(corpus / "scan.pdf")], None, data_dir=str(tmp_path / "data"))
    assert named.left_out is None  # a file named itself is read as text


def test_nothing_left_out_says_nothing() -> None:
    from docmill.tasks.ingest.sources import describe_skipped

    assert describe_skipped([]) is None
    many = [Path(f"f{n}.x{n}") for n in range(7)]
    assert "(.x0 1, .x1 1, .x2 1, .x3 1, .x4 1, 2 other suffixes)" in describe_skipped(many)
