"""Parallel, sharded execution changes nothing and costs Prefect one task run per shard."""

from __future__ import annotations

import pytest
from conftest import SEEDS
from helpers.corpus_factory import write_corpus

from docmill.flows.process import process_documents
from docmill.tasks.nlp.annotate import tag_in_chunks
from docmill.tasks.records import Document
from docmill.warehouse.query import connect_read_only

pytestmark = [pytest.mark.prefect, pytest.mark.model]


@pytest.fixture(scope="module")
def parallel_run(prefect_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("parallel")
    write_corpus(root / "generated", 300, seed=11)
    summary = process_documents(
        sources=[str(SEEDS), str(root / "generated")],
        batch_id="parallel",
        data_dir=str(root / "data"),
        workers=2,
    )
    return root / "data", summary


def test_two_workers_tag_exactly_like_one_in_process_pipe(parallel_run, nlp):
    """Tokens, tags and entities equal those of one in-process pass of the same tagging code
    (one `nlp.pipe` over every paragraph, one chunk) over the same cleaned texts."""
    data_dir, summary = parallel_run
    assert summary["n_shards"] >= 4
    con = connect_read_only(data_dir)
    docs = {
        doc_id: Document(doc_id=doc_id, source_id=doc_id, source_uri="", text=text)
        for doc_id, text in con.execute("select doc_id, text from documents").fetchall()
    }
    for doc_id, start, end in con.execute(
        "select doc_id, start_char, end_char from paragraphs order by doc_id, para_idx"
    ).fetchall():
        docs[doc_id].paragraphs.append((start, end))
    token_cols = "doc_id, tok_idx, start_char, end_char, tag, pos, dep, head_idx, lemma, "
    token_cols += "ent_type, ent_iob"
    entity_cols = "doc_id, start_char, end_char, label, canonical"
    written_tokens = sorted(con.execute(f"select {token_cols} from tokens").fetchall())
    written_entities = sorted(con.execute(f"select {entity_cols} from entities").fetchall())
    con.close()

    [(_, reference)] = list(tag_in_chunks(nlp, list(docs.values()), chunk_docs=len(docs)))
    expected_tokens = sorted(reference.tokens.select(token_cols.split(", ")).to_pylist(), key=_key)
    expected_entities = reference.entities.select(entity_cols.split(", ")).to_pylist()
    assert len(written_tokens) > 10_000
    assert written_tokens == [tuple(row.values()) for row in expected_tokens]
    assert written_entities == sorted(tuple(row.values()) for row in expected_entities)


def _key(row: dict) -> tuple:
    return tuple(row.values())


def test_task_runs_grow_with_shards_not_documents(parallel_run, prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )

    _, summary = parallel_run
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[summary["flow_run_id"]])
            )
        )
        run_ids = [summary["flow_run_id"], *(str(c.id) for c in children)]
        task_runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=run_ids)),
            limit=200,
        )
    shard_runs = [t for t in task_runs if t.name.startswith("shard-")]
    prepare_runs = [t for t in task_runs if t.name.startswith("prepare-")]
    assert len(shard_runs) == len(prepare_runs) == summary["n_shards"]
    # Besides two runs per shard (prepare, tag), only a fixed few (dedup, publish, views).
    assert len(task_runs) - len(shard_runs) - len(prepare_runs) <= 4
    assert summary["n_shards"] * 5 < summary["n_documents"]
