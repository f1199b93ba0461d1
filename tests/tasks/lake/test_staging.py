import multiprocessing
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from docmill.tasks import schemas
from docmill.tasks.lake.layout import InvalidBatchId, Layout, validate_batch_id
from docmill.tasks.lake.locks import BatchBusy, batch_lock
from docmill.tasks.lake.staging import ShardWriter, completed_shard


@pytest.mark.parametrize(
    "batch_id", ["../x", "a/b", "", ".hidden", "a..b", "x" * 129, "a b", "a=b", "-lead", "é"]
)
def test_unsafe_batch_ids_are_refused(batch_id):
    with pytest.raises(InvalidBatchId, match="invalid batch id"):
        validate_batch_id(batch_id)


@pytest.mark.parametrize("batch_id", ["2026-11-26", "news_01", "B.1", "x" * 128])
def test_plain_batch_ids_pass(batch_id):
    assert validate_batch_id(batch_id) == batch_id


def _entities(n: int) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "doc_id": "d",
                "batch_id": "b",
                "ent_idx": i,
                "sent_idx": 0,
                "start_char": 0,
                "end_char": 1,
                "text": "X",
                "label": "ORG",
                "canonical": "X",
            }
            for i in range(n)
        ],
        schema=schemas.ENTITIES,
    )


def test_shard_writer_writes_every_table_with_version_metadata(tmp_path):
    final = tmp_path / "shard"
    writer = ShardWriter(final)
    writer.write("entities", _entities(3))
    writer.write("entities", _entities(2))
    writer.commit({"n": 1})
    assert completed_shard(final) == {"n": 1}
    assert pq.read_table(final / "entities.parquet").num_rows == 5
    for name in schemas.BATCH_TABLES:
        meta = pq.read_schema(final / f"{name}.parquet").metadata
        assert meta[b"docmill.table"] == name.encode()
        assert meta[b"docmill.schema_version"] == str(schemas.SCHEMA_VERSION).encode()
    assert not list(tmp_path.glob("*.tmp-*"))


def test_aborted_shard_leaves_nothing_behind(tmp_path):
    writer = ShardWriter(tmp_path / "shard")
    writer.write("entities", _entities(1))
    writer.abort()
    assert completed_shard(tmp_path / "shard") is None
    assert list(tmp_path.iterdir()) == []


def test_shard_without_marker_is_not_complete(tmp_path):
    (tmp_path / "shard").mkdir()
    pq.write_table(_entities(1), tmp_path / "shard" / "entities.parquet")
    assert completed_shard(tmp_path / "shard") is None


def test_shard_writer_gives_every_row_its_batch(tmp_path):
    final = tmp_path / "shard"
    writer = ShardWriter(final, batch_id="b7")
    writer.write("entities", _entities(2).drop_columns(["batch_id"]))
    writer.commit({})
    for name in schemas.BATCH_TABLES:
        assert "batch_id" in pq.read_schema(final / f"{name}.parquet").names
    assert pq.read_table(final / "entities.parquet")["batch_id"].to_pylist() == ["b7", "b7"]


def _hold_lock(data_dir: str, ready, release) -> None:
    with batch_lock(Layout(Path(data_dir)), "b1"):
        ready.set()
        release.wait(30)


def test_second_run_of_a_batch_is_refused_clearly(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        busy = pytest.raises(BatchBusy, match="being processed by another run")
        with busy, batch_lock(Layout(tmp_path), "b1"):
            pass
        with batch_lock(Layout(tmp_path), "b2"):
            pass
    finally:
        release.set()
        holder.join(30)
    with batch_lock(Layout(tmp_path), "b1", wait_seconds=5):
        pass


def test_lock_of_a_killed_holder_is_released(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(30)
    holder.kill()
    holder.join(30)
    started = time.monotonic()
    with batch_lock(Layout(tmp_path), "b1", wait_seconds=5):
        assert time.monotonic() - started < 5
