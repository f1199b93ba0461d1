"""`docmill sql` only reads: every attempt to write, reconfigure, load code or read outside the
data directory is refused with exit code 2 and one line saying why, and changes nothing on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers.lake_factory import Doc, Mention, write_version

from docmill.flows.cli import main
from docmill.tasks.lake import catalog, duckdb_extensions
from docmill.warehouse.build import build_warehouse
from docmill.warehouse.upkeep import upkeep

V1 = "20260101T000000000000Z-00000001"
V2 = "20260102T000000000000Z-00000002"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake whose rows live in Parquet files, with files scheduled for deletion (replaced by
    compaction, kept for running readers) that a clean-up would delete."""
    data_dir = tmp_path_factory.mktemp("template") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(catalog.INLINE_ROWS_ENV, "0")
        for version, title in ((V1, "first"), (V2, "second")):
            write_version(
                data_dir,
                batch_id="b1",
                version=version,
                docs=[
                    Doc("d1", ["Xi Jinping visited Seoul ."], [XI], title=title),
                    Doc("d2", ["Han Duck-soo spoke ."], [HAN], title=title),
                ],
            )
        write_version(data_dir, batch_id="b2", version=V1, docs=[Doc("d3", ["Seoul ."])])
        build_warehouse(data_dir)
        upkeep(data_dir, merge=True, retention_days=0, grace_seconds=3600)
    return data_dir


XI = Mention(0, "Xi Jinping", "PERSON")
HAN = Mention(0, "Han Duck-soo", "PERSON")


@pytest.fixture
def lake(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A fresh copy of the template, a folder outside it and a private home (where DuckDB would
    install extensions and store persistent secrets)."""
    data_dir = tmp_path / "data"
    shutil.copytree(template, data_dir)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the password is swordfish\n")
    (outside / "other.csv").write_text("doc_id,score\nd1,0.5\n")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return {"data": data_dir, "outside": outside, "home": home, "root": tmp_path}


def disk_state(root: Path) -> dict[str, str]:
    """Every file under `root` with a hash of its bytes; the SQLite catalog by its contents
    (a reader may fold SQLite's write-ahead log into the file without changing a row)."""
    state = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith(catalog.CATALOG_FILE):
            state[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    for path in root.rglob(catalog.CATALOG_FILE):
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            dump = "\n".join(db.iterdump())
        state[f"{path.relative_to(root)} (rows)"] = hashlib.sha256(dump.encode()).hexdigest()
    return state


def published_file(data_dir: Path) -> Path:
    return next((data_dir / "tables" / "stored" / "documents").glob("*.parquet"))


def scheduled_for_deletion(data_dir: Path) -> int:
    with contextlib.closing(sqlite3.connect(data_dir / catalog.CATALOG_FILE)) as db:
        return db.execute("select count(*) from ducklake_files_scheduled_for_deletion").fetchone()[
            0
        ]


def httpfs_binary() -> str:
    binary = duckdb_extensions.packaged_binary("httpfs")
    return binary.as_posix() if binary else "httpfs"


# (name, SQL with {data} {catalog} {tables} {outside} {published} {httpfs}, words the refusal
# must contain). Each was a way to change the lake, the disk or the session before.
ATTACKS = [
    (
        "the issue's: another database in use, the lake detached and attached read-write",
        "ATTACH '{data}/other.duckdb' AS m; USE m; DETACH docmill; "
        "ATTACH 'ducklake:sqlite:{catalog}' AS w (DATA_PATH '{tables}', OVERRIDE_DATA_PATH true); "
        "CREATE VIEW w.main.pwned AS SELECT 1",
        ["ATTACH"],
    ),
    (
        "the catalog attached read-write under another name, a view dropped",
        "ATTACH 'ducklake:sqlite:{catalog}' AS w (DATA_PATH '{tables}', OVERRIDE_DATA_PATH true); "
        "DROP VIEW w.main.documents",
        ["ATTACH"],
    ),
    (
        "the catalog's SQLite file attached directly, its snapshots deleted",
        "ATTACH '{catalog}' AS raw (TYPE sqlite); DELETE FROM raw.ducklake_snapshot",
        ["ATTACH"],
    ),
    (
        "a published Parquet file rewritten with a forged title",
        "COPY (SELECT * REPLACE ('forged' AS title) FROM stored.documents) "
        "TO '{published}' (FORMAT parquet)",
        ["COPY"],
    ),
    (
        "COPY TO a file outside the data directory",
        "COPY (SELECT 1) TO '{outside}/out.csv'",
        ["COPY"],
    ),
    (
        "a harmless query, then a COPY into the table folder",
        "SELECT 1; COPY (SELECT 1 AS x) TO '{tables}/stored/documents/extra.parquet'",
        ["statement 2 of 2", "COPY"],
    ),
    (
        "a new database file in the data directory with a table",
        "ATTACH '{data}/extra.duckdb' AS x; CREATE TABLE x.t AS SELECT 1",
        ["ATTACH"],
    ),
    ("CREATE TABLE", "CREATE TABLE t AS SELECT 1", ["CREATE"]),
    ("INSERT into a stored table", "INSERT INTO stored.runs (run_id) VALUES ('x')", ["INSERT"]),
    ("LOAD of an extension binary", "LOAD '{httpfs}'", ["LOAD"]),
    ("INSTALL of an extension (into the home folder)", "INSTALL '{httpfs}'", ["INSTALL"]),
    (
        "SET: file access turned back on",
        "SET enable_external_access = true; SELECT 1",
        ["SET"],
    ),
    (
        "PRAGMA: profiling output written to a file",
        "PRAGMA enable_profiling = 'json'; PRAGMA profiling_output = '{data}/profile.json'; "
        "SELECT count(*) FROM documents",
        ["SET"],
    ),
    ("EXPORT DATABASE", "EXPORT DATABASE '{outside}/dump'", ["EXPORT"]),
    (
        "CALL of DuckLake's snapshot expiry",
        "CALL ducklake_expire_snapshots('docmill', versions => [1])",
        ["CALL"],
    ),
    (
        "DuckLake's clean-up called from a SELECT (deletes files readers may still need)",
        "SELECT * FROM ducklake_cleanup_old_files('docmill', cleanup_all => true)",
        ["ducklake_cleanup_old_files"],
    ),
    (
        "DuckLake's merge through the catalog's own macro, inside a subquery",
        "SELECT (SELECT count(*) FROM docmill.merge_adjacent_files()) AS n",
        ["merge_adjacent_files"],
    ),
    ("CHECKPOINT", "CHECKPOINT", ["CHECKPOINT"]),
    (
        "a persistent secret (written into the home folder)",
        "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')",
        ["CREATE"],
    ),
    (
        "EXPLAIN ANALYZE runs the statement it explains",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO '{data}/x.csv'",
        ["COPY"],
    ),
    (
        "SQL given as text to query()",
        "SELECT * FROM query('FROM ducklake_cleanup_old_files(''docmill'', cleanup_all => true)')",
        ["query"],
    ),
    (
        "the lake copied into a new database file",
        "ATTACH '{outside}/copy.duckdb' AS c; COPY FROM DATABASE docmill TO c",
        ["ATTACH"],
    ),
    (
        "a file outside the data directory read",
        "SELECT * FROM read_text('{outside}/secret.txt')",
        [],
    ),
    ("VACUUM", "VACUUM", ["VACUUM"]),
]


def attack_sql(template_sql: str, lake: dict[str, Path]) -> str:
    data = lake["data"]
    return template_sql.format(
        data=data,
        catalog=data / catalog.CATALOG_FILE,
        tables=f"{data}/tables/",
        outside=lake["outside"],
        published=published_file(data),
        httpfs=httpfs_binary(),
    )


@pytest.mark.parametrize(("name", "sql", "words"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_an_attempt_to_write_is_refused_and_changes_nothing(
    lake: dict[str, Path], capsys: pytest.CaptureFixture[str], name: str, sql: str, words: list
) -> None:
    before = disk_state(lake["root"])
    scheduled = scheduled_for_deletion(lake["data"])
    code = main(["sql", attack_sql(sql, lake), "--data-dir", str(lake["data"])])
    captured = capsys.readouterr()
    assert disk_state(lake["root"]) == before
    assert scheduled_for_deletion(lake["data"]) == scheduled > 0
    assert code == 2, captured
    assert "swordfish" not in captured.out
    [line] = captured.err.strip().splitlines()
    assert line.startswith("docmill: ") and "Traceback" not in line
    for word in words:
        assert word in line


def test_after_an_attempt_the_lake_reads_as_before(
    lake: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    query = ["sql", "select doc_id, title from documents order by 1", "--format", "csv"]
    query += ["--data-dir", str(lake["data"])]
    assert main(query) == 0
    before = capsys.readouterr().out
    for _name, sql, _words in ATTACKS:
        main(["sql", attack_sql(sql, lake), "--data-dir", str(lake["data"])])
    capsys.readouterr()
    assert main(query) == 0
    assert capsys.readouterr().out == before == "doc_id,title\nd1,second\nd2,second\nd3,\n"


READING = [
    "select count(*) from documents",
    "with t as (select title from documents) select * from t",
    "describe documents",
    "show tables",
    "summarize documents",
    "pragma table_info('documents')",
    "explain select * from tokens where batch_id = 'b1'",
    "explain analyze select count(*) from tokens",
    "select count(*) from docmill.snapshots()",
    "select count(*) from ducklake_list_files('docmill', 'tokens', schema => 'stored')",
    "select sum(record_count) from __ducklake_metadata_docmill.ducklake_data_file",
    "select count(*) from stored.tokens",
    "select count(*) from glob('{data}/tables/**')",
    "select 1; select 2",
]


@pytest.mark.parametrize("sql", READING)
def test_reading_statements_run(lake: dict[str, Path], capsys, sql: str) -> None:
    code = main(["sql", attack_sql(sql, lake), "--data-dir", str(lake["data"])])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""


def test_files_outside_the_data_directory_are_read_only_when_allowed(
    lake: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "select d.doc_id, o.score from documents d "
        f"join read_csv('{lake['outside']}/other.csv') o using (doc_id)"
    )
    args = ["sql", sql, "--data-dir", str(lake["data"]), "--format", "csv"]
    assert main(args) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "outside the data directory" in line and "--allow-file-access" in line
    assert main([*args, "--allow-file-access"]) == 0
    assert capsys.readouterr().out == "doc_id,score\nd1,0.5\n"
    before = disk_state(lake["root"])
    copy = f"COPY (SELECT 1) TO '{lake['outside']}/out.csv'"
    assert main(["sql", copy, "--data-dir", str(lake["data"]), "--allow-file-access"]) == 2
    assert "COPY" in capsys.readouterr().err
    load = f"LOAD '{httpfs_binary()}'"
    assert main(["sql", load, "--data-dir", str(lake["data"]), "--allow-file-access"]) == 2
    assert disk_state(lake["root"]) == before


def test_time_travel_queries_are_checked_too(
    lake: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = disk_state(lake["root"])
    from docmill.warehouse.history import snapshots

    first = snapshots(lake["data"])[0].snapshot_id
    sql = f"COPY (SELECT 1) TO '{lake['data']}/x.csv'"
    assert main(["sql", sql, "--data-dir", str(lake["data"]), "--snapshot", str(first)]) == 2
    assert "COPY" in capsys.readouterr().err
    assert disk_state(lake["root"]) == before


def test_unparseable_sql_is_a_query_error_not_a_refusal(
    lake: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sql", "selec 1", "--data-dir", str(lake["data"])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("docmill: query failed: ") and "syntax error" in err
    assert "Traceback" not in err


def test_a_postgresql_catalog_is_read_through_the_locked_connection_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers.postgres_server import postgres_cluster

    with postgres_cluster() as url:
        monkeypatch.setenv(catalog.CATALOG_ENV, url)
        data_dir = tmp_path / "data"
        write_version(data_dir, batch_id="b1", version=V1, docs=[Doc("d1", ["Seoul ."])])
        build_warehouse(data_dir)
        args = ["--data-dir", str(data_dir), "--format", "csv"]
        assert main(["sql", "select doc_id from documents", *args]) == 0
        assert capsys.readouterr().out == "doc_id\nd1\n"
        attack = f"ATTACH 'ducklake:postgres:{url}' AS w; DROP VIEW w.main.documents"
        assert main(["sql", attack, *args]) == 2
        assert "ATTACH" in capsys.readouterr().err
        assert main(["sql", "select count(*) as n from documents", *args]) == 0
        assert capsys.readouterr().out == "n\n1\n"
