"""A data directory in an S3-compatible object store: moto's server on 127.0.0.1, started and
stopped here; the pipeline writes through pyarrow's S3 filesystem and the views read through
DuckDB's httpfs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from conftest import PROJECT_ROOT, SEED_ARTICLE, SEEDS
from helpers.corpus_factory import write_corpus

from docmill.flows.maintenance import rebuild_warehouse
from docmill.tasks import schemas
from docmill.tasks.lake import filesystem
from docmill.tasks.lake.filesystem import ObjectPath
from docmill.tasks.lake.layout import Layout
from docmill.warehouse.history import snapshots
from docmill.warehouse.query import connect_read_only

BUCKET = "docmill-test"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "docmill-test-key",
    "AWS_SECRET_ACCESS_KEY": "docmill-test-secret",
    "AWS_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode with one empty bucket; the AWS variables point at it meanwhile."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    names = [*CREDENTIALS, "AWS_ENDPOINT_URL"]
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
    filesystem.object_filesystem.cache_clear()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "moto server exited"
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.2)
        admin = pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{port}",
            scheme="http",
            region="us-east-1",
            access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            allow_bucket_creation=True,
        )
        admin.create_dir(BUCKET)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        filesystem.object_filesystem.cache_clear()


@pytest.fixture
def prefix(request) -> str:
    return f"s3://{BUCKET}/{request.node.name.replace('[', '-').rstrip(']')}"


@pytest.fixture
def local_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "local"
    monkeypatch.setenv("DOCMILL_LOCAL_DIR", str(path))
    return path


def test_location_parses_paths_and_uris(tmp_path):
    assert filesystem.location(str(tmp_path)) == tmp_path.resolve()
    assert filesystem.location(f"file://{tmp_path}") == tmp_path.resolve()
    assert filesystem.location("s3://bucket/a/b/") == ObjectPath("s3", "bucket/a/b")
    assert (
        str(filesystem.location("s3://bucket/a") / "lake" / "x.parquet")
        == "s3://bucket/a/lake/x.parquet"
    )
    with pytest.raises(filesystem.StorageError, match="gs://bucket"):
        filesystem.location("gs://bucket/a")
    with pytest.raises(filesystem.StorageError, match="names no bucket"):
        filesystem.location("s3://")
    with pytest.raises(filesystem.StorageError, match="did you mean s3://bucket/a"):
        filesystem.location("s3:/bucket/a")


def test_local_state_is_kept_per_prefix(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCMILL_LOCAL_DIR", str(tmp_path))
    prod = Layout.at("s3://bucket/prod")
    staging = Layout.at("s3://bucket/staging")
    assert prod.catalog.location == str(tmp_path / "s3" / "bucket" / "prod" / "catalog.sqlite")
    assert prod.catalog.data_path == "s3://bucket/prod/tables/"
    assert prod.catalog != staging.catalog and prod.lock_file("b") != staging.lock_file("b")
    local = Layout.at(tmp_path / "data")
    assert local.catalog.location == str(tmp_path / "data" / "catalog.sqlite")


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("minio:9000", "is not http"),
        ("http://key:secret@minio:9000", "not in the endpoint URL"),
    ],
)
def test_an_unusable_endpoint_is_refused_without_echoing_credentials(
    monkeypatch, endpoint, message
):
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    with pytest.raises(filesystem.StorageError, match=message) as refused:
        filesystem.endpoint_url()
    assert "secret" not in str(refused.value)


def test_object_paths_behave_like_the_local_ones(s3_endpoint, prefix):
    root = filesystem.location(prefix)
    assert not root.exists() and root.glob("*") == [] and filesystem.walk_files(root) == []
    (root / "a" / "x.json").write_text('{"k": 1}')
    (root / "a" / "y.json").write_text("{}")
    (root / "b" / "c" / "z.json").write_text("{}")
    assert root.is_dir() and (root / "a").is_dir() and (root / "a" / "x.json").is_file()
    assert (root / "a" / "x.json").read_text() == '{"k": 1}'
    assert [p.name for p in root.glob("*/*.json")] == ["x.json", "y.json"]
    assert [str(p) for p in root.glob("b/*/z.json")] == [f"{prefix}/b/c/z.json"]
    assert sorted(filesystem.walk_files(root)) == ["a/x.json", "a/y.json", "b/c/z.json"]
    filesystem.copy_file(root / "a" / "x.json", root / "copy" / "x.json")
    assert (root / "copy" / "x.json").read_text() == '{"k": 1}'
    table = pa.table({"n": [1, 2]})
    filesystem.write_parquet_file(table, root / "t.parquet")
    assert filesystem.read_parquet(root / "t.parquet").equals(table)
    filesystem.remove_tree(root / "a")
    assert not (root / "a").exists() and (root / "b" / "c" / "z.json").is_file()
    with pytest.raises(FileNotFoundError):
        (root / "a" / "x.json").read_text()


def test_a_missing_bucket_is_named_before_any_work(s3_endpoint):
    filesystem.check_reachable(filesystem.location(f"s3://{BUCKET}/anything"))
    with pytest.raises(filesystem.StorageError, match="bucket 'no-such-bucket' does not exist"):
        filesystem.check_reachable(filesystem.location("s3://no-such-bucket/data"))


def _env(api_url: str, data_dir: str, local_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DOCMILL_DATA_DIR=data_dir,
        DOCMILL_LOCAL_DIR=str(local_dir),
        DOCMILL_GC_GRACE_SECONDS="0",
        # Every table's rows as files in the bucket, none kept in the catalog.
        DOCMILL_INLINE_ROWS="0",
        **extra,
    )
    return env


def _docmill(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "docmill.flows.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _rows(data_dir: str, sql: str) -> list[tuple]:
    con = connect_read_only(data_dir)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _snapshot(data_dir: str) -> dict[str, list]:
    return {
        "documents": sorted(_rows(data_dir, "select doc_id, text from documents")),
        "sentences": sorted(_rows(data_dir, "select doc_id, sent_idx, text from sentences")),
        "entities": sorted(_rows(data_dir, "select doc_id, start_char, label from entities")),
        "tokens": _rows(data_dir, "select count(*), sum(start_char) from tokens"),
    }


def _no_duplicates(data_dir: str) -> bool:
    [(n, distinct)] = _rows(data_dir, "select count(*), count(distinct doc_id) from documents")
    [(t, t_distinct)] = _rows(
        data_dir, "select count(*), count(distinct (doc_id, tok_idx)) from tokens"
    )
    return n == distinct and t == t_distinct


def test_a_batch_in_object_storage_reads_back_and_reruns_without_duplicates(
    s3_endpoint, prefect_server, prefix, local_dir, tmp_path, monkeypatch
):
    env = _env(prefect_server, prefix, local_dir)
    monkeypatch.setenv("DOCMILL_SNAPSHOT_RETENTION_DAYS", "0")
    monkeypatch.setenv("DOCMILL_GC_GRACE_SECONDS", "0")
    # seeds/ is one shard: with --workers 2 too the flow's process writes it into the bucket.
    first = _docmill(env, "run", str(SEEDS), "--batch-id", "seeds", "--workers", "2")
    assert first.returncode == 0, first.stderr
    on_disk = str(tmp_path / "on-disk")
    local = _docmill({**env, "DOCMILL_DATA_DIR": on_disk}, "run", str(SEEDS), "--batch-id", "seeds")
    assert local.returncode == 0, local.stderr
    [(n_seeds,)] = _rows(on_disk, "select count(*) from documents")

    layout = Layout.at(prefix)
    # The data files are in the bucket; the catalog, the report and the lock on this machine.
    state = local_dir / "s3" / layout.data_dir.key
    assert layout.local_dir == state and layout.catalog.location == str(state / "catalog.sqlite")
    assert (state / "catalog.sqlite").is_file() and (state / "report" / "index.html").is_file()
    assert sorted(p.name for p in local_dir.rglob("*.parquet")) == []
    in_bucket = filesystem.walk_files(layout.tables)
    assert any(name.startswith("stored/tokens/") for name in in_bucket)
    assert not layout.staging("seeds").exists()

    [(documents, batch)] = _rows(prefix, "select count(*), any_value(batch_id) from documents")
    assert (documents, batch) == (n_seeds, "seeds")
    before = _snapshot(prefix)
    assert before == _snapshot(on_disk)  # the same rows as the same batch on a local disk
    assert before["entities"] and _no_duplicates(prefix)
    [(runs,)] = _rows(prefix, "select count(*) from runs where status = 'completed'")
    assert runs == 1
    # The catalog holds s3:// paths, never the credentials.
    stored_catalog = (state / "catalog.sqlite").read_bytes()
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"].encode() not in stored_catalog
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in first.stdout + first.stderr

    # A second batch is checked for duplicates against the first one's index in the bucket.
    second = tmp_path / "second"
    write_corpus(second, 3)
    shutil.copy(SEED_ARTICLE, second / "copy-of-a-seed.txt")
    for target in (prefix, on_disk):
        done = _docmill({**env, "DOCMILL_DATA_DIR": target}, "run", str(second), "--batch-id", "b2")
        assert done.returncode == 0, done.stderr
    duplicates_sql = (
        "select source_uri, duplicate_of, duplicate_kind from documents where batch_id = 'b2' "
        "order by source_uri"
    )
    found = _rows(prefix, duplicates_sql)
    assert found == _rows(on_disk, duplicates_sql)
    assert [kind for _uri, _of, kind in found if kind] == ["exact"]
    both = _snapshot(prefix)
    assert both == _snapshot(on_disk)

    rerun = _docmill(env, "run", str(SEEDS), "--batch-id", "seeds", "--force")
    assert rerun.returncode == 0, rerun.stderr
    assert _snapshot(prefix) == both and _no_duplicates(prefix)
    assert len(snapshots(prefix, "seeds")) == 2

    sql = _docmill(env, "sql", "select count(*) as n from documents", "--format", "csv")
    assert sql.returncode == 0, sql.stderr
    assert sql.stdout.split() == ["n", str(n_seeds + 4)]

    # The maintenance flow rebuilds the views, expires the replaced version (retention 0) and
    # deletes its files from the bucket, and leaves the published data alone.
    files_before = len(filesystem.walk_files(layout.tables))
    maintained = rebuild_warehouse(data_dir=prefix)
    assert maintained["files_deleted"] > 0
    assert len(filesystem.walk_files(layout.tables)) == files_before - maintained["files_deleted"]
    assert "documents" in maintained["views"] and _snapshot(prefix) == both
    report = _docmill(env, "report", "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report" / "index.html").read_text()
    assert f"Warehouse <code>{prefix}</code>" in html and ">b2<" in html


@pytest.mark.parametrize("crash_at", ["publish_before_commit", "shard_before_marker"])
def test_killed_before_publishing_leaves_the_previous_version_readable(
    s3_endpoint, prefect_server, prefix, local_dir, tmp_path, crash_at
):
    env = _env(prefect_server, prefix, local_dir)
    first = _docmill(env, "run", str(SEEDS), "--batch-id", "news")
    assert first.returncode == 0, first.stderr
    before = _snapshot(prefix)
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 12)

    crashed = _docmill(
        {**env, "DOCMILL_CRASH_AT": crash_at}, "run", str(corpus), "--batch-id", "news"
    )
    assert crashed.returncode == -signal.SIGKILL

    layout = Layout.at(prefix)
    if crash_at == "publish_before_commit":
        # The new version's files were written to the bucket, but no snapshot holds them.
        with connect_read_only(prefix) as con:
            listed = {
                row[0].rsplit("/", 1)[-1]
                for table in schemas.STORED_TABLES
                for row in con.execute(
                    "select data_file from ducklake_list_files('docmill', ?, schema => 'stored')",
                    [table],
                ).fetchall()
            }
        in_bucket = {name.rsplit("/", 1)[-1] for name in filesystem.walk_files(layout.tables)}
        assert in_bucket - listed
    assert _snapshot(prefix) == before and _no_duplicates(prefix)

    # No sources: the retry processes the items the killed run recorded in the bucket.
    rerun = _docmill(env, "run", "--batch-id", "news")
    assert rerun.returncode == 0, rerun.stderr
    [(documents,)] = _rows(prefix, "select count(*) from documents where batch_id = 'news'")
    assert documents == 12 and _no_duplicates(prefix)
    [(reused,)] = _rows(prefix, "select max_by(n_shards_reused, finished_at) from runs")
    assert reused >= (1 if crash_at == "publish_before_commit" else 0)
    [current] = _rows(prefix, "select version from stored.batches where batch_id = 'news'")
    assert current[0] == snapshots(prefix, "news")[-1].version
