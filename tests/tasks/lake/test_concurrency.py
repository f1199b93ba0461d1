"""Several writers and a reader on one catalog, embedded (SQLite) and on a real PostgreSQL
server: two processes publish two batches at once, then the same batch at once, while a third
process reads in a loop. Every read sees each batch whole and consistent across tables, no
read fails, and in the end each batch holds exactly one version with no duplicates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT
from helpers.postgres_server import postgres_cluster

from docmill.tasks.lake import catalog
from docmill.warehouse.build import build_warehouse
from docmill.warehouse.query import connect_read_only

TESTS = PROJECT_ROOT / "tests"
PUBLISHES = 4

# Version k of a batch written by writer w: 2 + k % 3 documents titled "<w>-<k>", each with
# 1 + k % 2 sentences that carry the same mark, so a read can tell which version it saw.
WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from helpers.lake_factory import Doc, write_version
    data_dir, batch_id, writer, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    for k in range(n):
        mark = f"{{writer}}-{{k}}"
        docs = [
            Doc(f"{{batch_id}}-{{i}}", [f"Mark {{mark}} s{{j}} ." for j in range(1 + k % 2)],
                title=mark)
            for i in range(2 + k % 3)
        ]
        write_version(data_dir, batch_id=batch_id, version=f"v-{{mark}}", docs=docs)
    """
).format(tests=str(TESTS))

READER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from docmill.warehouse.query import connect_read_only
    data_dir, stop = sys.argv[1], Path(sys.argv[2])
    reads = failed = inconsistent = 0
    query = '''
        with docs as (
            select batch_id, count(*) as n_docs, count(distinct title) as marks,
                   any_value(title) as mark
            from documents group by batch_id
        ),
        sents as (
            select d.batch_id, count(*) as n_sents,
                   count(distinct split_part(s.text, ' ', 2)) as marks,
                   any_value(split_part(s.text, ' ', 2)) as mark
            from sentences s join documents d using (doc_id) group by d.batch_id
        )
        select docs.*, sents.n_sents, sents.marks, sents.mark
        from docs left join sents using (batch_id)
    '''
    while not stop.exists():
        try:
            with connect_read_only(data_dir) as con:
                rows = con.execute(query).fetchall()
            reads += 1
        except Exception as err:
            failed += 1
            print("failed read:", err, file=sys.stderr, flush=True)
            continue
        for batch, n_docs, marks, mark, n_sents, sent_marks, sent_mark in rows:
            k = int(mark.rsplit("-", 1)[1])
            whole = (
                marks == 1 and sent_marks == 1 and mark == sent_mark
                and n_docs == 2 + k % 3 and n_sents == n_docs * (1 + k % 2)
            )
            if not whole:
                inconsistent += 1
                print("inconsistent:", batch, rows, file=sys.stderr, flush=True)
    print(json.dumps({{"reads": reads, "failed": failed, "inconsistent": inconsistent}}))
    """
).format()


def _writers(data_dir: Path, env: dict, jobs: list[tuple[str, str]]) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data_dir), batch_id, writer, str(PUBLISHES)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for batch_id, writer in jobs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err


def _check_concurrent_publishing(data_dir: Path, env: dict) -> None:
    build_warehouse(data_dir)
    stop = data_dir / "stop-reading"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(data_dir), str(stop)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _writers(data_dir, env, [("two", "w1"), ("batches", "w2")])
        _writers(data_dir, env, [("same", "w1"), ("same", "w2")])
    finally:
        stop.parent.mkdir(parents=True, exist_ok=True)
        stop.touch()
        out, err = reader.communicate(timeout=120)
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["failed"] == 0, err
    assert figures["inconsistent"] == 0, err
    assert figures["reads"] >= 3, err

    last = PUBLISHES - 1
    with connect_read_only(data_dir) as con:
        [(n, distinct)] = con.execute(
            "select count(*), count(distinct doc_id) from documents"
        ).fetchall()
        assert n == distinct == 3 * (2 + last % 3)
        marks = dict(
            con.execute("select batch_id, any_value(title) from documents group by 1").fetchall()
        )
        assert marks["two"] == f"w1-{last}" and marks["batches"] == f"w2-{last}"
        assert marks["same"] in (f"w1-{last}", f"w2-{last}")
        [(stored,)] = con.execute("select count(*) from stored.documents").fetchall()
        assert stored == n  # nothing of a replaced version is left in the current snapshot
        publishes = con.execute(
            "select count(*) from docmill.snapshots() where commit_message like 'publish%'"
        ).fetchone()
        assert publishes == (4 * PUBLISHES,)  # every publish committed once: none lost


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    env.update(PYTHONPATH=str(TESTS), **extra)
    return env


def test_concurrent_publishes_on_the_embedded_catalog(tmp_path: Path) -> None:
    _check_concurrent_publishing(tmp_path / "data", _env())


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_cluster() as url:
        yield url


def test_concurrent_publishes_on_a_postgresql_catalog(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(catalog.CATALOG_ENV, postgres_url)
    data_dir = tmp_path / "data"
    _check_concurrent_publishing(data_dir, _env(DOCMILL_CATALOG=postgres_url))
    assert not (data_dir / catalog.CATALOG_FILE).exists()
    assert catalog.target_for(data_dir).describe().startswith("postgresql: host=127.0.0.1")


SQL_LOOP = textwrap.dedent(
    """
    import subprocess, sys
    from pathlib import Path
    data_dir, stop = sys.argv[1], Path(sys.argv[2])
    query = (
        "select count(*), count(distinct doc_id), (select count(*) from sentences) "
        "from documents"
    )
    while not stop.exists():
        done = subprocess.run(
            [sys.executable, "-m", "docmill.flows.cli", "sql", query, "--data-dir", data_dir,
             "--format", "csv"],
            capture_output=True, text=True,
        )
        if done.returncode:
            print("FAILED", done.stderr.strip().replace("\\n", " "), flush=True)
        else:
            print("OK", done.stdout.split()[-1], flush=True)
    """
)


@pytest.mark.prefect
@pytest.mark.model
def test_docmill_sql_in_a_loop_during_a_run_never_fails(prefect_server, tmp_path: Path) -> None:
    """An analyst runs `docmill sql` over and over while a batch is rerun with other inputs:
    no read fails, and each answer is the old batch or the new one, whole."""
    from helpers.corpus_factory import write_corpus

    data_dir = tmp_path / "data"
    old, new = tmp_path / "old", tmp_path / "new"
    write_corpus(old, 5)
    write_corpus(new, 40)
    env = {**_env(), "PREFECT_API_URL": prefect_server, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    run = [sys.executable, "-m", "docmill.flows.cli", "run", "--data-dir", str(data_dir)]
    first = subprocess.run(
        [*run, str(old), "--batch-id", "x"], env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    with connect_read_only(data_dir) as con:
        old_answer = con.execute(
            "select count(*), count(distinct doc_id), (select count(*) from sentences) "
            "from documents"
        ).fetchone()
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", SQL_LOOP, str(data_dir), str(stop)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )
    try:
        second = subprocess.run(
            [*run, str(new), "--batch-id", "x", "--workers", "2"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert second.returncode == 0, second.stderr
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=120)
    with connect_read_only(data_dir) as con:
        new_answer = con.execute(
            "select count(*), count(distinct doc_id), (select count(*) from sentences) "
            "from documents"
        ).fetchone()
    lines = out.splitlines()
    assert lines and not [line for line in lines if line.startswith("FAILED")], lines
    allowed = {",".join(map(str, old_answer)), ",".join(map(str, new_answer))}
    assert {line.split()[1] for line in lines} <= allowed, (lines, allowed)
