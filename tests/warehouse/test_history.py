"""Time travel through the real pipeline: a batch rerun with one input changed; the lake as of
before the rerun shows the old rows, after it the new ones, and `docmill diff` names exactly
that change."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from docmill.flows.cli import main
from docmill.flows.process import process_documents
from docmill.warehouse.history import diff_batch, snapshots

pytestmark = [pytest.mark.prefect, pytest.mark.model]

UNCHANGED = (
    "Kenya's tea exports rose in the first quarter, the Tea Board of Kenya said in Nairobi.",
    "Shipping lines added services between Shanghai and Rotterdam in March.",
)
BEFORE = "The talks in Geneva ended without an agreement on Tuesday."
AFTER = BEFORE + " Angela Merkel said she would return to Geneva next month."


def _corpus(folder: Path, changed: str) -> None:
    folder.mkdir(exist_ok=True)
    for n, text in enumerate(UNCHANGED):
        (folder / f"{n}.txt").write_text(text + "\n")
    (folder / "changed.txt").write_text(changed + "\n")


def test_as_of_and_diff_follow_a_rerun_with_one_changed_input(
    prefect_server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, corpus = tmp_path / "data", tmp_path / "corpus"
    _corpus(corpus, BEFORE)
    process_documents(sources=[str(corpus)], batch_id="tt", data_dir=str(data_dir))
    time.sleep(1.1)
    between = dt.datetime.now(dt.UTC)
    time.sleep(1.1)
    _corpus(corpus, AFTER)
    process_documents(sources=[str(corpus)], batch_id="tt", data_dir=str(data_dir))

    query = ["sql", "select text from documents where source_uri like '%changed.txt'"]
    args = [*query, "--data-dir", str(data_dir), "--format", "csv"]
    assert main([*args, "--as-of", between.isoformat()]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1:] == [BEFORE]
    assert main(args) == 0
    assert capsys.readouterr().out.strip().splitlines()[1:] == [AFTER]
    first, second = snapshots(data_dir, "tt")
    assert main([*args, "--snapshot", str(first.snapshot_id)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1:] == [BEFORE]

    diff = diff_batch(data_dir, "tt")
    assert (diff.before.snapshot_id, diff.after.snapshot_id) == (
        first.snapshot_id,
        second.snapshot_id,
    )
    assert diff.added == diff.removed == []
    assert len(diff.changed) == 1 and diff.unchanged == len(UNCHANGED)
    assert ("Angela Merkel", "PERSON", 1) in diff.gained
    assert all(name in ("Angela Merkel", "Geneva", "next month") for name, _, _ in diff.gained)
    assert diff.lost == []
    assert main(["diff", "tt", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert (
        "0 added, 0 removed, 1 changed, 2 unchanged" in out and "+1 Angela Merkel (PERSON)" in out
    )
