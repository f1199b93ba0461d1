"""Every warehouse view as a data contract, declared as data: unique not-null keys, not-null
columns, relationships to other views, row rules and totals that must agree with the views they
summarise. Checked over a real pipeline run on the seeds and over a generated multi-batch lake.
Then the reporting views' exact rows over a tiny hand-built batch, and docs/views.md up to date.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from conftest import PROJECT_ROOT, SEED_ARTICLE, SEEDS
from helpers.lake_factory import PROCESSED_AT, Doc, Mention, write_run, write_version

from docmill.warehouse import docs
from docmill.warehouse.build import MACROS, VIEW_NAMES, build_warehouse
from docmill.warehouse.query import connect_read_only

UTC = dt.UTC
CONTENT_POS = "('NOUN', 'PROPN', 'VERB', 'ADJ', 'ADV')"


@dataclass(frozen=True)
class Ref:
    """Every non-null `columns` of the view appears as `to_columns` (default: the same names)
    in the view `to`."""

    columns: str
    to: str
    to_columns: str | None = None


@dataclass(frozen=True)
class Contract:
    key: str  # unique, and never null
    not_null: str = ""
    refs: tuple[Ref, ...] = ()
    never: tuple[str, ...] = ()  # predicates no row may satisfy
    totals: tuple[tuple[str, str], ...] = ()  # (aggregate over the view, the query it equals)
    queries: tuple[str, ...] = ()  # any other check: a query that returns the offending rows


SHOWN_VERSION = Ref("doc_id, batch_id, batch_snapshot", "documents")
SANE_SPAN = "start_char < 0 or end_char < start_char"
IN_ENTITY_COUNTS = (
    Ref("a, a_label", "entity_counts", "canonical, label"),
    Ref("b, b_label", "entity_counts", "canonical, label"),
)
PUBLISHED_DAILY = "(from entity_mentions_daily where day_source = 'published')"
LATEST_DAY = f"(select max(day) from {PUBLISHED_DAILY})"

CONTRACTS: dict[str, Contract] = {
    "documents": Contract(
        key="doc_id",
        not_null="source_id, batch_id, batch_snapshot, source_uri, text, n_chars, processed_at",
        refs=(Ref("duplicate_of", "documents", "doc_id"),),
        never=("n_chars <> length(text)",),
    ),
    "paragraphs": Contract(
        key="doc_id, para_idx",
        not_null="start_char, end_char",
        refs=(SHOWN_VERSION,),
        never=(SANE_SPAN,),
    ),
    "sentences": Contract(
        key="doc_id, sent_idx",
        not_null="start_char, end_char, text",
        refs=(SHOWN_VERSION, Ref("doc_id, para_idx", "paragraphs")),
        never=(SANE_SPAN,),
    ),
    "tokens": Contract(
        key="doc_id, tok_idx",
        not_null="start_char, end_char, text",
        refs=(SHOWN_VERSION, Ref("doc_id, sent_idx", "sentences")),
        never=(SANE_SPAN,),
    ),
    "entities": Contract(
        key="doc_id, ent_idx",
        not_null="start_char, end_char, text, label",
        refs=(SHOWN_VERSION, Ref("doc_id, sent_idx", "sentences")),
        never=(SANE_SPAN,),
    ),
    "noun_chunks": Contract(
        key="doc_id, chunk_idx",
        not_null="start_char, end_char, text",
        refs=(SHOWN_VERSION, Ref("doc_id, sent_idx", "sentences")),
        never=(SANE_SPAN,),
    ),
    "cleaning": Contract(key="doc_id, step_idx", not_null="op", refs=(SHOWN_VERSION,)),
    "rejects": Contract(key="batch_id, source_uri", not_null="reason, batch_snapshot"),
    "duplicates": Contract(
        key="cluster_id, doc_id",
        not_null="cluster_size, kind",
        refs=(Ref("cluster_id", "documents", "doc_id"), Ref("doc_id", "documents")),
        never=(
            "kind not in ('kept', 'exact', 'near')",
            "(kind = 'kept') <> (doc_id = cluster_id)",
            "cluster_size < 2",
        ),
    ),
    "runs": Contract(key="run_id", not_null="batch_id, status"),
    "entity_counts": Contract(
        key="canonical, label",
        never=("documents < 1 or mentions < documents",),
        totals=(("sum(mentions)", "select count(*) from entities"),),
    ),
    "entity_cooccurrence": Contract(
        key="a, a_label, b, b_label",
        refs=IN_ENTITY_COUNTS,
        never=("a >= b", "documents < 1 or sentences < documents"),
    ),
    "doc_stats": Contract(
        key="doc_id",
        refs=(Ref("doc_id", "documents"),),
        totals=(
            ("count(*)", "select count(*) from documents"),
            ("sum(n_tokens)", "select count(*) from tokens"),
            ("sum(n_entities)", "select count(*) from entities"),
        ),
    ),
    "entity_mentions_daily": Contract(
        key="canonical, label, day, day_source",
        not_null="mentions, documents",
        refs=(Ref("canonical, label", "entity_counts"),),
        never=(
            "documents < 1 or mentions < documents",
            "day_source not in ('published', 'processed')",
        ),
        totals=(("sum(mentions)", "select count(*) from entities"),),
        queries=(
            """select canonical, label, daily.mentions, entity_counts.mentions
            from (select canonical, label, sum(mentions) as mentions
                  from entity_mentions_daily group by all) as daily
            join entity_counts using (canonical, label)
            where daily.mentions <> entity_counts.mentions""",
        ),
    ),
    "trending_entities": Contract(
        key="canonical, label",
        not_null="recent_mentions, previous_mentions, change, growth, window_days, window_end",
        refs=(Ref("canonical, label", "entity_counts"),),
        never=(
            "recent_mentions + previous_mentions = 0",
            "change <> recent_mentions - previous_mentions",
            "abs(growth - (recent_mentions + 1) / (previous_mentions + 1)) > 1e-9",
            "window_days <> 7",
            f"window_end <> {LATEST_DAY}",
        ),
        totals=(
            (
                "sum(recent_mentions)",
                f"select coalesce(sum(mentions), 0) from {PUBLISHED_DAILY} "
                f"where day > {LATEST_DAY} - 7",
            ),
            (
                "sum(previous_mentions)",
                f"select coalesce(sum(mentions), 0) from {PUBLISHED_DAILY} "
                f"where day > {LATEST_DAY} - 14 and day <= {LATEST_DAY} - 7",
            ),
        ),
    ),
    "entity_cooccurrence_documents": Contract(
        key="a, a_label, b, b_label",
        refs=IN_ENTITY_COUNTS,
        never=("a >= b", "documents < 1"),
        queries=(
            # a pair in one sentence is also a pair in that sentence's document
            """select in_sentence.*
            from entity_cooccurrence as in_sentence
            left join entity_cooccurrence_documents as in_document using (a, a_label, b, b_label)
            where in_document.documents is null or in_document.documents < in_sentence.documents
            """,
        ),
    ),
    "source_stats": Contract(
        key="source",
        not_null="documents, tagged_documents, duplicates, rejects, n_tokens, n_entities, batches",
        never=(
            "documents + rejects = 0",
            "tagged_documents > documents or duplicates > documents",
            "first_published_at > last_published_at",
            "batches < 1",
        ),
        totals=(
            ("sum(documents)", "select count(*) from documents"),
            ("sum(tagged_documents)", "select count(*) from documents where tagged"),
            ("sum(duplicates)", "select count(duplicate_of) from documents"),
            ("sum(rejects)", "select count(*) from rejects"),
            ("sum(n_tokens)", "select count(*) from tokens"),
            ("sum(n_entities)", "select count(*) from entities"),
            ("min(first_published_at)", "select min(published_at) from documents"),
        ),
    ),
    "lemma_counts": Contract(
        key="lemma, pos",
        never=(
            f"pos not in {CONTENT_POS}",
            r"not regexp_matches(lemma, '\pL')",
            "pos <> 'PROPN' and lemma <> lower(lemma)",
            "documents < 1 or occurrences < documents",
        ),
    ),
    "rejects_by_reason": Contract(
        key="batch_id, reason",
        not_null="items",
        refs=(
            Ref("batch_id, reason", "rejects"),
            Ref("batch_id, reason, example_source_uri", "rejects", "batch_id, reason, source_uri"),
        ),
        never=(
            """example_source_uri > (select min(source_uri) from rejects
                where rejects.batch_id = rejects_by_reason.batch_id
                and rejects.reason = rejects_by_reason.reason)""",
        ),
        totals=(("sum(items)", "select count(*) from rejects"),),
    ),
    "run_stats": Contract(
        key="run_id",
        refs=(Ref("run_id", "runs"),),
        never=(
            "coalesce(duration_s, 0) = 0 and (docs_per_s is not null or tokens_per_s is not null)",
            "duration_s > 0 and abs(docs_per_s - n_documents / duration_s) > 1e-9",
        ),
        totals=(("count(*)", "select count(*) from runs"),),
    ),
}


def _names(columns: str) -> list[str]:
    return [column.strip() for column in columns.split(",") if column.strip()]


def contract_checks(view: str, contract: Contract) -> Iterator[tuple[str, str]]:
    """(check id, query returning the rows that break it) for every clause of a contract."""
    key = _names(contract.key)
    yield (
        "key unique",
        f'select {", ".join(key)}, count(*) from "{view}" group by all having count(*) > 1',
    )
    not_null = key + _names(contract.not_null)
    nulls = " or ".join(f"{column} is null" for column in not_null)
    yield "not null", f'select * from "{view}" where {nulls}'
    for ref in contract.refs:
        columns, to_columns = _names(ref.columns), _names(ref.to_columns or ref.columns)
        present = " and ".join(f"child.{column} is not null" for column in columns)
        on = " and ".join(
            f"child.{c} = parent.{p}" for c, p in zip(columns, to_columns, strict=True)
        )
        yield (
            f"{ref.columns} in {ref.to}",
            f'select child.* from "{view}" as child anti join "{ref.to}" as parent on {on} '
            f"where {present}",
        )
    for predicate in contract.never:
        yield f"never {predicate}", f'select * from "{view}" where {predicate}'
    for aggregate, query in contract.totals:
        yield (
            f"{aggregate} matches",
            f'select got, want from (select {aggregate} as got from "{view}") '
            f"cross join ({query}) as other(want) where got is distinct from want",
        )
    for n, query in enumerate(contract.queries):
        yield f"query {n}", query


ALL_CHECKS = [
    pytest.param(view, query, id=f"{view}: {check}")
    for view, contract in CONTRACTS.items()
    for check, query in contract_checks(view, contract)
]


def test_every_view_has_a_contract() -> None:
    assert set(CONTRACTS) == set(VIEW_NAMES)


# ---------------------------------------------------------------- the warehouses


def connect(data_dir: Path) -> duckdb.DuckDBPyConnection:
    return connect_read_only(data_dir)


def _bad_and_repeated_inputs(folder: Path) -> None:
    """Rejects of several reasons, a JSONL feed with its own urls, and an exact copy of a seed."""
    folder.mkdir()
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.txt").write_text("   \n")
    (folder / "feed.jsonl").write_text(
        '{"id": "ok-1", "text": "Reuters reported that Acme Corp grew in Berlin.", '
        '"url": "https://www.reuters.example/acme", "published_at": "2024-04-15T08:00:00Z"}\n'
        '{"id": "broken", "text": \n'
    )
    shutil.copy(SEED_ARTICLE, folder / "copy-of-seed.txt")


@pytest.fixture(scope="module")
def seeds_dir(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds as one batch, then a second batch of bad input and an exact repeat."""
    from docmill.flows.process import process_documents

    data_dir = tmp_path_factory.mktemp("seeds-contracts")
    process_documents(sources=[str(SEEDS)], data_dir=str(data_dir), batch_id="seeds")
    inputs = tmp_path_factory.mktemp("more") / "in"
    _bad_and_repeated_inputs(inputs)
    process_documents(sources=[str(inputs)], data_dir=str(data_dir), batch_id="more")
    return data_dir


ENTITY_POOL = [
    ("Xi Jinping", "PERSON"),
    ("Kim Jong-un", "PERSON"),
    ("Seoul", "GPE"),
    ("Pyongyang", "GPE"),
    ("Acme Corp", "ORG"),
]
FOLDERS = ("business", "sport", "tech")


def generated_doc(n: int, revision: int) -> Doc:
    """Document `d<n>` as revision `revision` publishes it: two sentences, two entities each."""
    sentences, mentions, pos = [], [], {"met": "VERB", "in": "ADP", "round": "NOUN", ".": "PUNCT"}
    for sent_idx in range(2):
        first = ENTITY_POOL[(n + sent_idx) % len(ENTITY_POOL)]
        second = ENTITY_POOL[(n + sent_idx + revision + 1) % len(ENTITY_POOL)]
        sentences.append(f"{first[0]} met {second[0]} in round {revision} .")
        mentions += [Mention(sent_idx, *first), Mention(sent_idx, *second)]
        pos |= {word: "PROPN" for name, _ in (first, second) for word in name.split()}
    published = None
    if n % 3:
        published = dt.datetime(2025, 12, 1, tzinfo=UTC) + dt.timedelta(days=2 * n % 40, hours=n)
    kind = n % 3
    source_uri = {
        0: f"file:///corpus/bbc/{FOLDERS[n // 3 % 3]}/{n:03d}.txt",
        1: f"https://www.example.com/news/{n}",
        2: f"file:///feeds/wire.jsonl#L{n}",
    }[kind]
    repeat = n % 5 == 4  # a repeat of d1, which every version of batch 0 keeps
    return Doc(
        f"d{n}",
        sentences,
        [] if repeat else mentions,
        title=f"d{n} r{revision}",
        duplicate_of="d1" if repeat else None,
        published_at=published,
        source_uri=source_uri,
        url=f"https://wire{n % 2}.example.com/{n}" if kind == 2 else None,
        pos=pos,
        lemmas={"met": "meet"},
        tagged=not repeat,
        null_canonical=n % 4 == 0,
    )


def version_name(day: int, n: int) -> str:
    return f"202601{day:02d}T000000000000Z-{n:08d}"


def build_generated_lake(data_dir: Path) -> None:
    """Four batches of six documents; each batch reprocesses two of the previous one. Batches
    0-2 are published twice: the second version changes every text and entity, drops the first
    document and replaces the rejects. Runs: one per version, one failed, one of 0 s."""
    started = dt.datetime(2026, 1, 1, 9, tzinfo=UTC)
    for batch in range(4):
        batch_id = f"b{batch}"
        ids = range(4 * batch, 4 * batch + 6)
        versions = [
            (
                [generated_doc(n, 0) for n in ids],
                [
                    {
                        "source_uri": f"file:///corpus/bbc/sport/bad-{batch}-{k}.txt",
                        "reason": "empty",
                    }
                    for k in range(2)
                ],
            )
        ]
        if batch < 3:
            versions.append(
                (
                    [generated_doc(n, 1) for n in ids[1:]],
                    [{"source_uri": f"https://news.example.org/{batch}", "reason": "binary"}],
                )
            )
        for revision, (version_docs, rejects) in enumerate(versions):
            version = version_name(batch + 1, 2 * batch + revision)
            write_version(
                data_dir, batch_id=batch_id, version=version, docs=version_docs, rejects=rejects
            )
            begin = started + dt.timedelta(hours=2 * batch + revision)
            write_run(
                data_dir,
                run_id=f"run-{version}",
                batch_id=batch_id,
                batch_version=version,
                status="completed",
                started_at=begin,
                finished_at=begin + dt.timedelta(seconds=batch),
                n_input=len(version_docs) + len(rejects),
                n_documents=len(version_docs),
                n_rejected=len(rejects),
                n_tokens=sum(len(s.split()) for d in version_docs for s in d.sentences),
            )
    write_run(data_dir, run_id="run-failed", batch_id="b3", status="failed", started_at=started)


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("generated")
    build_generated_lake(data_dir)
    build_warehouse(data_dir)
    return data_dir


@pytest.fixture(scope="module")
def generated(generated_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with connect(generated_dir) as con:
        yield con


@pytest.fixture(scope="module")
def seeds(seeds_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with connect(seeds_dir) as con:
        yield con


def violations(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple]:
    return con.execute(query).fetchmany(5)


@pytest.mark.parametrize(("view", "query"), ALL_CHECKS)
def test_contract_on_generated_lake(
    generated: duckdb.DuckDBPyConnection, view: str, query: str
) -> None:
    assert violations(generated, query) == [], view


@pytest.mark.prefect
@pytest.mark.model
@pytest.mark.parametrize(("view", "query"), ALL_CHECKS)
def test_contract_on_seeds_run(seeds: duckdb.DuckDBPyConnection, view: str, query: str) -> None:
    assert violations(seeds, query) == [], view


def count_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {
        view: con.execute(f'select count(*) from "{view}"').fetchone()[0] for view in VIEW_NAMES
    }


def test_generated_lake_fills_every_view_it_can(generated: duckdb.DuckDBPyConnection) -> None:
    """So the contracts above are not checked on empty views; the factory writes no cleaning
    steps or noun chunks (the seeds run has them)."""
    empty = {view for view, n in count_rows(generated).items() if n == 0}
    assert empty == {"cleaning", "noun_chunks"}


def test_generated_lake_shows_latest_versions(generated: duckdb.DuckDBPyConnection) -> None:
    shown = dict(generated.execute("select doc_id, batch_id from documents").fetchall())
    # d0 is dropped by b0's second version, d4 by b1's (so b0 still shows it); d5 is
    # reprocessed by b1, d12 by b3, whose only version is newer than b2's
    assert sorted(shown, key=lambda doc_id: int(doc_id[1:])) == [f"d{n}" for n in range(1, 18)]
    assert (shown["d4"], shown["d5"], shown["d8"], shown["d12"]) == ("b0", "b1", "b1", "b3")
    titles = dict(generated.execute("select doc_id, title from documents").fetchall())
    assert (titles["d5"], titles["d13"]) == ("d5 r1", "d13 r0")
    rejects = generated.execute("select batch_id, reason, count(*) from rejects group by all")
    assert sorted(rejects.fetchall()) == [
        ("b0", "binary", 1),
        ("b1", "binary", 1),
        ("b2", "binary", 1),
        ("b3", "empty", 2),
    ]


@pytest.mark.prefect
@pytest.mark.model
def test_seeds_run_fills_every_view_it_can(seeds: duckdb.DuckDBPyConnection) -> None:
    assert {view for view, n in count_rows(seeds).items() if n == 0} == set()


@pytest.mark.prefect
@pytest.mark.model
def test_seeds_sources_follow_the_source_rule(seeds: duckdb.DuckDBPyConnection) -> None:
    stats = {
        source: (documents, duplicates, rejects)
        for source, documents, duplicates, rejects in seeds.execute(
            "select source, documents, duplicates, rejects from source_stats"
        ).fetchall()
    }
    # seeds/: three files; their JSONL records name wire.example.com; in/: the second batch
    assert stats == {
        "seeds": (3, 0, 0),
        "wire.example.com": (3, 0, 0),
        "reuters.example": (1, 0, 0),
        "in": (1, 1, 3),
    }


def test_every_view_has_an_example() -> None:
    assert [view for view in VIEW_NAMES if not docs.sql_header(view).example] == []


EXAMPLES = [
    pytest.param(example, id=name)
    for name in (*VIEW_NAMES, *MACROS)
    if (example := docs.sql_header(name).example)
]


@pytest.mark.prefect
@pytest.mark.model
@pytest.mark.parametrize("example", EXAMPLES)
def test_documented_example_runs(seeds: duckdb.DuckDBPyConnection, example: str) -> None:
    assert seeds.execute(example).fetchall() is not None


@pytest.mark.parametrize("name", [*VIEW_NAMES, *MACROS])
def test_views_and_macros_read_no_files(name: str) -> None:
    """Only the generated `lake` views touch Parquet; the SQL files read views."""
    sql = (PROJECT_ROOT / "warehouse" / f"{name}.sql").read_text(encoding="utf-8").lower()
    assert not any(token in sql for token in ("read_parquet", "glob(", "{lake}", "{runs}"))


# ---------------------------------------------------------------- exact rows, by hand


V1 = version_name(1, 1)
V2 = version_name(2, 2)
SEOUL = Mention(0, "Seoul", "GPE")
KIM = Mention(0, "Kim", "PERSON", "Kim Jong-un")


def build_tiny_lake(data_dir: Path) -> None:
    """Five documents from four sources in two batches; see each test for the sums."""
    d1 = Doc(
        "d1",
        ["Xi Jinping met Kim in Seoul .", "Seoul welcomed Xi ."],
        [
            Mention(0, "Xi Jinping", "PERSON"),
            KIM,
            SEOUL,
            Mention(1, "Seoul", "GPE"),
            Mention(1, "Xi", "PERSON", "Xi Jinping"),
        ],
        # 23:30 in New York is already the next day in UTC
        published_at=dt.datetime(2025, 12, 30, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        source_uri="https://www.Example.com/news/1",
        pos={"Xi": "PROPN", "Jinping": "PROPN", "met": "VERB", "Kim": "PROPN", "in": "ADP"}
        | {"Seoul": "PROPN", "welcomed": "VERB", ".": "PUNCT"},
        lemmas={"met": "meet", "welcomed": "welcome"},
    )
    d2 = Doc(
        "d2",
        ["Talks in Seoul resumed ."],
        [SEOUL],
        source_uri="file:///corpus/bbc/sport/002.txt",
        pos={"Talks": "NOUN", "in": "ADP", "Seoul": "PROPN", "resumed": "VERB", ".": "PUNCT"},
        lemmas={"Talks": "Talks", "resumed": "resume"},
        null_canonical=True,
    )
    d3 = Doc(
        "d3",
        ["Kim Jong-un visited Seoul ."],
        [Mention(0, "Kim Jong-un", "PERSON"), SEOUL],
        published_at=dt.datetime(2025, 12, 24, 10, tzinfo=UTC),
        source_uri="file:///feeds/wire.jsonl#L1",
        url="https://wire.example.com/2025/12/24/kim",
        pos={"Kim": "PROPN", "Jong-un": "PROPN", "visited": "VERB", "Seoul": "PROPN", ".": "PUNCT"},
        lemmas={"visited": "visit"},
    )
    d4 = Doc(
        "d4",
        ["Talks in Seoul resumed ."],
        source_uri="file:///corpus/bbc/sport/004.txt",
        duplicate_of="d2",
        tagged=False,
    )
    write_version(
        data_dir,
        batch_id="b1",
        version=V1,
        docs=[d1, d2, d3, d4],
        rejects=[
            {
                "source_uri": "file:///corpus/bbc/sport/zz.txt",
                "reason": "empty",
                "detail": "no text",
            },
            {"source_uri": "file:///corpus/bbc/sport/aa.txt", "reason": "empty", "detail": "blank"},
            {
                "source_uri": "file:///feeds/wire.jsonl#L2",
                "reason": "malformed_json",
                "detail": "L2",
            },
        ],
    )
    d5 = Doc(
        "d5",
        ["Pyongyang replied quickly on 42 ."],
        [Mention(0, "Pyongyang", "GPE")],
        published_at=dt.datetime(2025, 12, 1, 12, tzinfo=UTC),
        source_uri="https://news.example.org/p/5",
        # "on" is a stop word and "42" has no letter: neither is a content word
        pos={"Pyongyang": "PROPN", "replied": "VERB", "quickly": "ADV", "on": "ADV", "42": "NOUN"},
        lemmas={"replied": "reply"},
    )
    d6 = Doc(
        "d6",
        ["Kim spoke ."],
        [KIM],
        published_at=dt.datetime(2025, 12, 31, 8, tzinfo=UTC),
        source_uri="https://www.example.com/news/6",
        pos={"Kim": "PROPN", "spoke": "VERB", ".": "PUNCT"},
        lemmas={"spoke": "speak"},
    )
    write_version(
        data_dir,
        batch_id="b2",
        version=V2,
        docs=[d5, d6],
        rejects=[{"source_uri": "https://news.example.org/q", "reason": "binary", "detail": None}],
    )
    ten_am = dt.datetime(2026, 1, 1, 10, tzinfo=UTC)
    write_run(
        data_dir,
        run_id="r1",
        batch_id="b1",
        status="completed",
        started_at=ten_am,
        finished_at=ten_am + dt.timedelta(seconds=10),
        n_input=7,
        n_documents=4,
        n_rejected=3,
        n_duplicates=1,
        n_tokens=25,
        n_entities=8,
        n_shards=2,
        n_shards_reused=1,
        model="en_core_web_sm",
        pipeline_version="0.2.0",
    )
    write_run(data_dir, run_id="r2", batch_id="b2", status="failed", started_at=ten_am, n_input=3)
    write_run(
        data_dir,
        run_id="r3",
        batch_id="b2",
        status="completed",
        started_at=ten_am,
        finished_at=ten_am,
        n_documents=2,
        n_tokens=9,
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    data_dir = tmp_path_factory.mktemp("tiny")
    build_tiny_lake(data_dir)
    build_warehouse(data_dir)
    with connect(data_dir) as con:
        yield con


def rows(con: duckdb.DuckDBPyConnection, view: str) -> list[tuple]:
    return sorted(con.execute(f'select * from "{view}"').fetchall(), key=repr)


def expected(*values: tuple) -> list[tuple]:
    return sorted(values, key=repr)


DEC_24, DEC_31, JAN_1 = dt.date(2025, 12, 24), dt.date(2025, 12, 31), dt.date(2026, 1, 1)


def test_entity_mentions_daily(tiny: duckdb.DuckDBPyConnection) -> None:
    assert PROCESSED_AT.date() == JAN_1  # d2 has no publication date: its processing day counts
    assert rows(tiny, "entity_mentions_daily") == expected(
        ("Kim Jong-un", "PERSON", DEC_24, "published", 1, 1),
        ("Seoul", "GPE", DEC_24, "published", 1, 1),
        ("Kim Jong-un", "PERSON", DEC_31, "published", 2, 2),
        ("Seoul", "GPE", DEC_31, "published", 2, 1),
        ("Xi Jinping", "PERSON", DEC_31, "published", 2, 1),
        ("Seoul", "GPE", JAN_1, "processed", 1, 1),  # canonical NULL: counted under its text
        ("Pyongyang", "GPE", dt.date(2025, 12, 1), "published", 1, 1),
    )


def test_trending_entities_count_publication_days_only(tiny: duckdb.DuckDBPyConnection) -> None:
    # The windows end at the latest publication day, Dec 31 (d2's processing day, Jan 1, is no
    # news day): recent Dec 25 - 31, previous Dec 18 - 24; Pyongyang (Dec 1) is in neither.
    assert rows(tiny, "trending_entities") == expected(
        ("Kim Jong-un", "PERSON", 2, 1, 1, 1.5, 7, DEC_31),
        ("Seoul", "GPE", 2, 1, 1, 1.5, 7, DEC_31),
        ("Xi Jinping", "PERSON", 2, 0, 2, 3.0, 7, DEC_31),
    )


def test_trending_entities_over_other_windows(tiny: duckdb.DuckDBPyConnection) -> None:
    over = tiny.execute(
        "select * from trending_entities_over(30, '2025-12-24') order by canonical"
    ).fetchall()
    assert over == [
        ("Kim Jong-un", "PERSON", 1, 0, 1, 2.0, 30, DEC_24),
        ("Pyongyang", "GPE", 1, 0, 1, 2.0, 30, DEC_24),
        ("Seoul", "GPE", 1, 0, 1, 2.0, 30, DEC_24),
    ]
    one_day = "select canonical, recent_mentions, previous_mentions from trending_entities_over(1)"
    # recent: Dec 31 only; previous: Dec 30 (nothing)
    assert sorted(tiny.execute(one_day).fetchall()) == [
        ("Kim Jong-un", 2, 0),
        ("Seoul", 2, 0),
        ("Xi Jinping", 2, 0),
    ]


def test_a_corpus_without_dates_has_no_trends(tmp_path: Path) -> None:
    """BBC-like: no publication dates, so nothing rises on the day it was processed."""
    undated = [
        Doc(f"u{n}", [f"Seoul welcomed Kim in round {n} ."], [SEOUL, Mention(0, "Kim", "PERSON")])
        for n in range(3)
    ]
    write_version(tmp_path, batch_id="bbc", version=V1, docs=undated)
    build_warehouse(tmp_path)
    with connect(tmp_path) as con:
        daily = con.execute(
            "select day_source, sum(mentions) from entity_mentions_daily group by 1"
        )
        assert daily.fetchall() == [("processed", 6)]
        assert con.execute("select count(*) from trending_entities").fetchone() == (0,)
        assert con.execute("from trending_entities_over(30)").fetchall() == []


def test_entity_cooccurrence_documents(tiny: duckdb.DuckDBPyConnection) -> None:
    assert rows(tiny, "entity_cooccurrence_documents") == expected(
        ("Kim Jong-un", "PERSON", "Seoul", "GPE", 2),
        ("Kim Jong-un", "PERSON", "Xi Jinping", "PERSON", 1),
        ("Seoul", "GPE", "Xi Jinping", "PERSON", 1),
    )


def test_source_stats(tiny: duckdb.DuckDBPyConnection) -> None:
    d1_published = dt.datetime(2025, 12, 31, 4, 30, tzinfo=UTC)
    d6_published = dt.datetime(2025, 12, 31, 8, tzinfo=UTC)
    d3_published = dt.datetime(2025, 12, 24, 10, tzinfo=UTC)
    d5_published = dt.datetime(2025, 12, 1, 12, tzinfo=UTC)
    # source, documents, tagged, duplicates, rejects, tokens, entities, first, last, batches
    assert rows(tiny, "source_stats") == expected(
        ("example.com", 2, 2, 0, 0, 11 + 3, 5 + 1, d1_published, d6_published, 2),
        ("sport", 2, 1, 1, 2, 5 + 5, 1, None, None, 1),
        ("wire.example.com", 1, 1, 0, 0, 5, 2, d3_published, d3_published, 1),
        ("feeds", 0, 0, 0, 1, 0, 0, None, None, 1),  # the rejected JSONL line: its folder
        ("news.example.org", 1, 1, 0, 1, 6, 1, d5_published, d5_published, 1),
    )


@pytest.mark.parametrize(
    ("uri", "item_url", "source"),
    [
        ("https://WWW.BBC.co.uk/news/1", None, "bbc.co.uk"),
        ("http://user@www.example.com:8080/a", "https://other.example/x", "example.com"),
        ("file:///data/bbc/business/001.txt", None, "business"),
        ("file:///data/my%20folder/001.txt", None, "my folder"),
        ("file:///feeds/wire.jsonl#L3", "https://www.Wire.example.com/a", "wire.example.com"),
        ("file:///feeds/wire.jsonl#L3", " Reuters ", "reuters"),
        ("file:///feeds/wire.jsonl#L3", "", "feeds"),
        ("/data/bbc/sport/1.txt", None, "sport"),
        ("C:\\data\\bbc\\tech\\1.txt", None, "tech"),
        ("file:///top.txt", None, "(unknown)"),
        (None, None, "(unknown)"),
    ],
)
def test_source_of(tiny: duckdb.DuckDBPyConnection, uri, item_url, source) -> None:
    assert tiny.execute("select source_of(?, ?)", [uri, item_url]).fetchone() == (source,)


def test_lemma_counts(tiny: duckdb.DuckDBPyConnection) -> None:
    assert rows(tiny, "lemma_counts") == expected(
        ("Xi", "PROPN", 2, 1),
        ("Jinping", "PROPN", 1, 1),
        ("Kim", "PROPN", 3, 3),
        ("Jong-un", "PROPN", 1, 1),
        ("Seoul", "PROPN", 4, 3),
        ("Pyongyang", "PROPN", 1, 1),
        ("meet", "VERB", 1, 1),
        ("welcome", "VERB", 1, 1),
        ("resume", "VERB", 1, 1),
        ("visit", "VERB", 1, 1),
        ("reply", "VERB", 1, 1),
        ("speak", "VERB", 1, 1),
        ("talks", "NOUN", 1, 1),  # lemma "Talks" lower-cased: not a proper noun
        ("quickly", "ADV", 1, 1),
    )


def test_rejects_by_reason(tiny: duckdb.DuckDBPyConnection) -> None:
    assert rows(tiny, "rejects_by_reason") == expected(
        ("b1", "empty", 2, "file:///corpus/bbc/sport/aa.txt", "blank"),
        ("b1", "malformed_json", 1, "file:///feeds/wire.jsonl#L2", "L2"),
        ("b2", "binary", 1, "https://news.example.org/q", None),
    )


def test_run_stats(tiny: duckdb.DuckDBPyConnection) -> None:
    ten_am = dt.datetime(2026, 1, 1, 10, tzinfo=UTC)
    ten_s = ten_am + dt.timedelta(seconds=10)
    model = ("en_core_web_sm", "0.2.0")
    assert rows(tiny, "run_stats") == expected(
        ("r1", "b1", "completed", ten_am, ten_s, 10.0, 7, 4, 3, 1, 25, 8, 0.4, 2.5, 2, 1, *model),
        ("r2", "b2", "failed", ten_am, None, None, 3, *[None] * 11),
        ("r3", "b2", "completed", ten_am, ten_am, 0.0, None, 2, None, None, 9, *[None] * 7),
    )


# ---------------------------------------------------------------- docs/views.md


def test_docs_views_md_is_up_to_date() -> None:
    output = PROJECT_ROOT / "docs" / "views.md"
    assert docs.main(["--check", "--output", str(output)]) == 0, (
        "docs/views.md is stale: run `python -m docmill.warehouse.docs`"
    )


def test_docs_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "views.md"
    stale.write_text("# Warehouse views\n")
    assert docs.main(["--check", "--output", str(stale)]) == 1
    assert docs.main(["--output", str(stale)]) == 0
    assert docs.main(["--check", "--output", str(stale)]) == 0


def test_read_header() -> None:
    header = docs.read_header(
        "-- things: one row per thing.\n-- Second line.\n-- example: select 1\nselect 1\n-- late\n"
    )
    assert header == docs.Header("One row per thing. Second line.", "select 1")
