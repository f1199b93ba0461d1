"""Parallel, sharded execution changes nothing and costs Prefect one task run per shard."""

from __future__ import annotations

import pytest
from conftest import SEEDS
from corpus_factory import write_corpus

from docmill.flows.process import process_documents
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
    """Tokens, tags and model entities equal those of `nlp.pipe` over the same paragraphs."""
    data_dir, summary = parallel_run
    assert summary["n_shards"] >= 4
    con = connect_read_only(data_dir)
    texts = dict(con.execute("select doc_id, text from documents").fetchall())
    paragraphs = con.execute(
        "select doc_id, start_char, end_char from paragraphs order by doc_id, para_idx"
    ).fetchall()
    tokens = sorted(
        con.execute(
            "select doc_id, start_char, end_char, tag, pos, dep, lemma, ent_type, ent_iob "
            "from tokens"
        ).fetchall()
    )
    entities = sorted(
        con.execute("select doc_id, start_char, end_char, label from entities").fetchall()
    )
    con.close()

    expected_tokens, expected_entities = [], []
    pieces = [(texts[d][s:e], (d, s)) for d, s, e in paragraphs]
    for doc, (doc_id, offset) in nlp.pipe(pieces, as_tuples=True, batch_size=64):
        for token in doc:
            if token.is_space:
                continue
            start = offset + token.idx
            expected_tokens.append(
                (
                    doc_id,
                    start,
                    start + len(token.text),
                    token.tag_,
                    token.pos_,
                    token.dep_,
                    token.lemma_,
                    token.ent_type_,
                    token.ent_iob_,
                )
            )
        for ent in doc.ents:
            expected_entities.append(
                (doc_id, offset + ent.start_char, offset + ent.end_char, ent.label_)
            )
    assert len(tokens) > 10_000
    assert tokens == sorted(expected_tokens)
    assert entities == sorted(expected_entities)


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
    assert len(shard_runs) == summary["n_shards"]
    assert len(task_runs) <= summary["n_shards"] + 5
    assert summary["n_documents"] > 10 * len(task_runs)
