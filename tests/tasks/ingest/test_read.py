import gzip
import hashlib
import json
from pathlib import Path

import pytest
from conftest import SEEDS
from helpers.item_reader import read_item

from docmill.tasks.ingest.read import plan_items, read_items
from docmill.tasks.ingest.sources import SourceNotFound, resolve_sources, scan_sources
from docmill.tasks.records import ItemRejected


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def read_one(path: Path, **limits: int):
    (item,) = plan_items([path])
    return read_item(item, **limits)


def rejection(path: Path, **limits: int) -> ItemRejected:
    with pytest.raises(ItemRejected) as info:
        read_one(path, **limits)
    return info.value


# --- resolving sources ----------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(tmp_path / "a.txt", "a")
    write(tmp_path / "sub" / "b.jsonl", '{"text": "b"}\n')
    write(tmp_path / "sub" / "c.csv.gz", gzip.compress(b"text\nc\n"))
    write(tmp_path / "sub" / "image.png", b"\x89PNG")
    write(tmp_path / ".hidden" / "d.txt", "d")
    write(tmp_path / ".e.txt", "e")
    return tmp_path


def test_directory_is_searched_recursively_skipping_hidden_and_unsupported(tree: Path) -> None:
    scan = scan_sources([str(tree)])
    assert scan.paths == [tree / "a.txt", tree / "sub" / "b.jsonl", tree / "sub" / "c.csv.gz"]
    assert scan.skipped == [tree / "sub" / "image.png"]


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("*.txt", ["a.txt"]),
        ("**/*.jsonl", ["b.jsonl"]),
        ("sub/?.jsonl", ["b.jsonl"]),
        ("s[u]b", ["b.jsonl", "c.csv.gz"]),
    ],
)
def test_glob(tree: Path, pattern: str, names: list[str]) -> None:
    assert [p.name for p in resolve_sources([f"{tree}/{pattern}"])] == names


def test_sources_are_sorted_absolute_and_deduplicated(tree: Path, monkeypatch) -> None:
    monkeypatch.chdir(tree)
    paths = resolve_sources(["sub/b.jsonl", "a.txt", str(tree / "a.txt"), "sub"])
    assert paths == [tree / "a.txt", tree / "sub" / "b.jsonl", tree / "sub" / "c.csv.gz"]


def test_named_file_with_unknown_suffix_is_read_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.log", "Some notes.")
    assert resolve_sources([str(path)]) == [path]
    (item,) = plan_items([path])
    assert (item.fmt, read_item(item).text) == ("txt", "Some notes.")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("missing.txt", "no such file"),
        ("*.nothing", "matched no file"),
        ("empty_dir", "matched no file"),
        ("only_png", "none of its 1 file"),
    ],
)
def test_source_not_found_names_the_source(tmp_path: Path, source: str, expected: str) -> None:
    write(tmp_path / "only_png" / "x.png", b"png")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(SourceNotFound, match=expected) as info:
        resolve_sources([str(tmp_path / source)])
    assert str(tmp_path / source) in str(info.value)
    assert "expected a file, a directory or a glob" in str(info.value)
    assert isinstance(info.value, ValueError)


# --- planning -------------------------------------------------------------------------------


def test_doc_ids_are_stable_across_plans(tree: Path) -> None:
    first = list(plan_items(resolve_sources([str(tree)])))
    second = list(plan_items(resolve_sources([str(tree)])))
    assert first == second
    assert len({i.doc_id for i in first}) == 3


def test_item_identity_for_files(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"hello")
    (item,) = plan_items([path])
    assert item.source_uri == path.as_uri() == item.source_id
    assert item.doc_id == hashlib.sha256(f"uri:{path.as_uri()}".encode()).hexdigest()[:16]
    assert item.content_hash == hashlib.sha256(b"hello").hexdigest()[:16]
    assert (item.record_no, item.byte_offset, item.n_bytes) == (None, 0, 5)


def test_jsonl_items_use_the_record_id_line_and_offset(tmp_path: Path) -> None:
    lines = [b'{"id": 7, "text": "a"}', b"", b'{"text": "b"}']
    path = write(tmp_path / "w.jsonl", b"\n".join(lines) + b"\n")
    first, second = plan_items([path])
    assert (first.source_id, first.record_no, first.byte_offset) == ("7", 1, 0)
    assert first.source_uri == path.as_uri() + "#L1"
    assert first.doc_id == hashlib.sha256(b"id:7").hexdigest()[:16]
    assert first.content_hash == hashlib.sha256(lines[0]).hexdigest()[:16]
    assert (second.source_id, second.record_no, second.byte_offset) == (
        path.as_uri() + "#L3",
        3,
        len(lines[0]) + 2,
    )


def test_the_same_id_in_another_file_is_the_same_document(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", '{"id": "x1", "text": "old"}\n')
    b = write(tmp_path / "b.jsonl", '{"id": "x1", "text": "new"}\n')
    assert next(plan_items([a])).doc_id == next(plan_items([b])).doc_id


# --- reading and rejects --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "title", "text"),
    [
        ("Headline\n\nBody one.\n\nBody two.\n", "Headline", "Body one.\n\nBody two.\n"),
        ("Headline\r\n\r\nBody.", "Headline", "Body."),
        ("No blank line\nafter it.", None, "No blank line\nafter it."),
        ("\nStarts blank\n\nBody.", None, "\nStarts blank\n\nBody."),
        ("Only a title line\n\n", None, "Only a title line\n\n"),
        ("x" * 300 + "\n\nBody.", None, "x" * 300 + "\n\nBody."),
    ],
)
def test_txt_title_rule(tmp_path: Path, data: str, title: str | None, text: str) -> None:
    doc = read_one(write(tmp_path / "a.txt", data))
    assert (doc.title, doc.text) == (title, text)


@pytest.mark.parametrize(
    ("data", "title"),
    [
        ("# Heading\n\nBody.", "Heading"),
        ("## Heading ##\nBody.", "Heading"),
        ("Plain\n\nB", "Plain"),
    ],
)
def test_markdown_title(tmp_path: Path, data: str, title: str) -> None:
    assert read_one(write(tmp_path / "a.md", data)).title == title


def test_jsonl_fields(tmp_path: Path) -> None:
    record = {"id": "w1", "text": "Body.", "title": "T", "date": "2024-04-12", "source": "http://x"}
    path = write(tmp_path / "w.jsonl", json.dumps(record | {"lang": "en"}) + "\n")
    doc = read_one(path)
    assert (doc.source_id, doc.text, doc.title, doc.published_at) == (
        "w1",
        "Body.",
        "T",
        "2024-04-12",
    )
    assert doc.metadata == {"lang": "en", "url": "http://x"}
    assert doc.raw_hash == next(plan_items([path])).content_hash


def test_malformed_jsonl_line_is_rejected_and_good_lines_still_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "w.jsonl", '{"id": 1, "text": "good"}\n{"id": 2, "text": \n{"text": "ok"}\n'
    )
    results = [r for _, r in read_items(plan_items([path]))]
    assert [r.text for r in results if not isinstance(r, ItemRejected)] == ["good", "ok"]
    (bad,) = [r for r in results if isinstance(r, ItemRejected)]
    assert bad.reason == "malformed_json"
    assert bad.detail.startswith(f"{path} line 2: Expecting value at column")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b" \n\t\n", "empty"),
        ("nul.txt", b"PK\x03\x04\x00\x00binary", "binary"),
        ("no_text.jsonl", b'{"id": 1, "title": "T"}\n', "missing_text"),
        ("null_text.jsonl", b'{"text": null}\n', "missing_text"),
        ("number_text.jsonl", b'{"text": 5}\n', "missing_text"),
        ("blank_text.jsonl", b'{"text": "  "}\n', "empty"),
        ("array.jsonl", b"[1, 2]\n", "malformed_json"),
        ("no_text_column.csv", b"id,title\n1,T\n", "missing_text"),
        ("only_script.html", b"<script>var x = 1;</script>", "empty"),
    ],
)
def test_reject_reasons(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    assert rejection(write(tmp_path / name, data)).reason == reason


def test_too_large(tmp_path: Path) -> None:
    assert rejection(write(tmp_path / "a.txt", "x" * 100), max_bytes=50).reason == "too_large"


def test_gzip_over_the_decompressed_cap_is_too_large(tmp_path: Path) -> None:
    path = write(tmp_path / "bomb.txt.gz", gzip.compress(b"x" * 10_000))
    (item,) = plan_items([path], max_gzip_bytes=1000)
    with pytest.raises(ItemRejected, match="too_large"):
        read_item(item, max_gzip_bytes=1000)


def test_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "text")
    (item,) = plan_items([path])
    path.unlink()
    with pytest.raises(ItemRejected) as info:
        read_item(item)
    assert info.value.reason == "unreadable"


def test_changed_after_planning(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", '{"text": "one"}\n')
    (item,) = plan_items([path])
    write(path, '{"text": "two"}\n')
    with pytest.raises(ItemRejected, match="changed"):
        read_item(item)


def test_latin1_file_decodes_with_a_note(tmp_path: Path) -> None:
    doc = read_one(write(tmp_path / "a.txt", b"caf\xe9 \xa3300"))
    assert (doc.text, doc.encoding) == ("café £300", "cp1252")
    assert doc.decode_note == "invalid UTF-8 at byte 3; decoded as cp1252"


def test_latin1_jsonl_line(tmp_path: Path) -> None:
    doc = read_one(write(tmp_path / "a.jsonl", b'{"id": "x", "text": "caf\xe9"}\n'))
    assert (doc.source_id, doc.text, doc.encoding) == ("x", "café", "cp1252")


def test_a_2mb_document_reads_fine(tmp_path: Path) -> None:
    body = "A sentence of ordinary news text, repeated many times.\n" * 40_000
    doc = read_one(write(tmp_path / "big.txt", "Big\n\n" + body))
    assert len(doc.text) == len(body) > 2_000_000


def test_csv_rows(tmp_path: Path) -> None:
    data = b'id,text,title,date,url,extra\n1,"First, with\nnewline",T1,2024-01-02,http://a,x\n,,,,,\n2,Second,,,,\n'
    path = write(tmp_path / "a.csv", data)
    items = list(plan_items([path]))
    assert [(i.record_no, i.source_id) for i in items] == [(2, "1"), (4, "2")]
    assert items[0].source_uri.endswith("a.csv#R2")
    assert data[items[1].byte_offset :].startswith(b"2,Second")
    first, second = (read_item(i) for i in items)
    assert (first.text, first.title, first.published_at) == (
        "First, with\nnewline",
        "T1",
        "2024-01-02",
    )
    assert first.metadata == {"url": "http://a", "extra": "x"}
    assert (second.text, second.title) == ("Second", None)


def test_gzip_files(tmp_path: Path) -> None:
    txt = read_one(write(tmp_path / "a.txt.gz", gzip.compress(b"Title\n\nBody.")))
    assert (txt.title, txt.text) == ("Title", "Body.")
    lines = b"".join(b'{"id": %d, "text": "t%d"}\n' % (n, n) for n in range(5))
    path = write(tmp_path / "b.jsonl.gz", gzip.compress(lines))
    results = [r for _, r in read_items(plan_items([path]))]
    assert [r.text for r in results] == [f"t{n}" for n in range(5)]


def test_seeds_read_without_rejects() -> None:
    items = list(plan_items(resolve_sources([str(SEEDS)])))
    docs = [read_item(item) for item in items]
    assert len(docs) == 6
    assert docs[0].source_uri.endswith("000_fa70326514a1b195.txt")
    assert "Xi Jinping" in docs[0].text


def test_utf16_file_is_text_not_binary(tmp_path: Path) -> None:
    doc = read_one(write(tmp_path / "a.txt", "Title\n\nBody, naïve.".encode("utf-16")))
    assert (doc.title, doc.text, doc.encoding) == ("Title", "Body, naïve.", "utf-16")


def test_read_items_reports_each_item_once(tmp_path: Path) -> None:
    good = write(tmp_path / "a.txt", "fine")
    items = list(plan_items([good, write(tmp_path / "b.txt", b""), good]))
    results = [(item.source_uri, type(r).__name__) for item, r in read_items(items)]
    uri = good.as_uri()
    assert results == [
        (uri, "Document"),
        (tmp_path.joinpath("b.txt").as_uri(), "ItemRejected"),
        (uri, "Document"),
    ]


def test_utf16_without_bom_is_read_not_rejected_as_binary(tmp_path: Path) -> None:
    doc = read_one(write(tmp_path / "a.txt", "Title\n\nBody, naïve.".encode("utf-16-le")))
    assert (doc.title, doc.text, doc.encoding) == ("Title", "Body, naïve.", "utf-16-le")
    assert doc.decode_note == "no byte-order mark; UTF-16-LE recognised by its NUL bytes"


def test_a_file_mixing_utf8_and_latin1_lines_has_no_mojibake(tmp_path: Path) -> None:
    data = "Le café\n\n".encode() + "Un garçon naïf.\n".encode("latin-1")
    doc = read_one(write(tmp_path / "a.txt", data))
    assert (doc.title, doc.text, doc.encoding) == ("Le café", "Un garçon naïf.\n", "utf-8+cp1252")
    assert doc.decode_note == "mixed encodings: 1 line UTF-8, 1 line cp1252 (first at line 3)"
