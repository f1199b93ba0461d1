from pathlib import Path

import pytest

from docmill.tasks.passes.plan import default_batch_id, plan_batch, shard_key, shard_size
from docmill.tasks.passes.prepare import ProcessingOptions
from docmill.tasks.records import SourceItem


def _item(n: int, *, content: str | None = None, doc_id: str | None = None) -> SourceItem:
    uri = f"file:///in/{n}.txt"
    return SourceItem(
        source_uri=uri,
        path=f"/in/{n}.txt",
        fmt="txt",
        record_no=None,
        source_id=uri,
        doc_id=doc_id or f"d{n}",
        content_hash=content or f"h{n}",
        n_bytes=10,
    )


def test_byte_identical_items_are_all_planned_for_dedup_to_judge():
    plan = plan_batch("b", [_item(1, content="x"), _item(2), _item(3, content="x")])
    assert [i.doc_id for i in plan.items] == ["d1", "d2", "d3"]


def test_repeated_doc_id_is_rejected_with_reason():
    plan = plan_batch("b", [_item(1, doc_id="same"), _item(2, doc_id="same")])
    assert [i.source_uri for i in plan.items] == ["file:///in/1.txt"]
    assert [(r.source_uri, r.reason) for r in plan.rejects] == [
        ("file:///in/2.txt", "duplicate_id")
    ]
    assert plan.n_input == 2


def test_every_item_lands_in_exactly_one_shard():
    items = [_item(n) for n in range(1, 1001)]
    plan = plan_batch("b", items, max_shard_docs=200, min_shard_docs=10)
    flat = [i.doc_id for shard in plan.shards for i in shard]
    assert flat == [i.doc_id for i in items]
    assert max(len(s) for s in plan.shards) <= 200


@pytest.mark.parametrize(
    ("n_items", "expected"), [(0, 10), (5, 10), (80, 10), (800, 25), (2225, 70), (100_000, 200)]
)
def test_shard_size_bounds(n_items, expected):
    assert shard_size(n_items, max_shard_docs=200, min_shard_docs=10) == expected


def test_shard_key_is_stable_and_sensitive_to_model_and_content():
    options = ProcessingOptions(model="m", model_id="m-1.0")
    items = [_item(1), _item(2)]
    key = shard_key("b", items, options)
    assert key == shard_key("b", list(items), options)
    assert key != shard_key("b", items, ProcessingOptions(model="m", model_id="m-1.1"))
    assert key != shard_key("b", [_item(1), _item(2, content="changed")], options)
    assert key != shard_key("b", items, options, decisions=[("d2", "d1")])
    assert key != shard_key("other", items, options)


def test_default_batch_id_is_derived_from_the_sources():
    paths = [Path("/corpus/news/a.txt"), Path("/corpus/news/b.txt")]
    assert default_batch_id(paths) == default_batch_id(list(reversed(paths)))
    assert default_batch_id(paths).startswith("news-")
    assert default_batch_id(paths) != default_batch_id(paths[:1])


def _id_digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(f"id:{text}".encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    ("raw_id", "source_id"),
    [('"5"', "5"), ("5", "5"), ('" 5 "', "5"), ('"x-1"', "x-1"), ("true", "True")],
)
def test_json_ids_keep_the_doc_id_they_always_had(tmp_path, raw_id, source_id):
    """Invariant 6: the doc_id of an id that worked before does not change, number or string."""
    from docmill.tasks.ingest.read import plan_items

    path = tmp_path / "a.jsonl"
    path.write_text(f'{{"id": {raw_id}, "text": "t"}}\n')
    (item,) = plan_items([path])
    assert (item.source_id, item.doc_id) == (source_id, _id_digest(source_id))


def test_a_number_and_a_string_with_the_same_digits_are_one_id_and_the_reject_says_so(tmp_path):
    from docmill.tasks.ingest.read import plan_items

    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "5", "text": "a"}\n{"id": 5, "text": "b"}\n{"id": "x", "text": "c"}\n')
    extra = tmp_path / "b.jsonl"
    extra.write_text('{"id": "x", "text": "d"}\n')
    plan = plan_batch("b", plan_items([path, extra]))
    assert [i.source_uri.rsplit("/", 1)[1] for i in plan.items] == ["a.jsonl#L1", "a.jsonl#L3"]
    assert [(r.source_uri.rsplit("/", 1)[1], r.reason, r.detail) for r in plan.rejects] == [
        (
            "a.jsonl#L2",
            "duplicate_id",
            f"id '5' was already given by {path.as_uri()}#L1 (ids are compared as text: "
            'the number 5 and the string "5" are one id)',
        ),
        ("b.jsonl#L1", "duplicate_id", f"id 'x' was already given by {path.as_uri()}#L3"),
    ]
