"""Sources -> planned items (`SourceItem`, stable ids, content hashes) -> raw Documents."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from docmill.tasks.ingest.decode import decode_bytes, looks_binary
from docmill.tasks.ingest.html import HtmlExtraction, HtmlOptions, declared_charset, extract_html
from docmill.tasks.ingest.sources import (
    entry_problem,
    file_format,
    identity_path,
)
from docmill.tasks.records import Document, ItemRejected, SourceItem

RECORD_FORMATS = frozenset({"jsonl", "csv"})
MAX_BYTES = 50_000_000
MAX_GZIP_BYTES = 64 * 1024 * 1024
MAX_TITLE_CHARS = 300
_CHUNK = 1 << 20
_HTML_DEFAULTS = HtmlOptions()


def _digest(data: bytes | str) -> str:
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]


def _open(path: Path, gzipped: bool) -> IO[bytes]:
    """Open a regular file for reading; anything else raises ItemRejected without being opened."""
    if (problem := entry_problem(path)) is not None:
        raise problem
    raw = open(path, "rb", opener=_open_regular)  # noqa: SIM115 - closed by the caller
    return _GzipReader(raw) if gzipped else raw


def _open_regular(path: str, flags: int) -> int:
    # Non-blocking, so an entry swapped for a FIFO after the check cannot hang the open; the
    # descriptor's own type is checked before any read.
    fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ItemRejected("special_file", f"{path} is no longer a regular file; not read")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class _GzipReader(gzip.GzipFile):
    """A GzipFile that also closes the file it reads (GzipFile leaves a given file open)."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def _item(path: Path, fmt: str, digest: str, n_bytes: int, record: tuple = ()) -> SourceItem:
    """A SourceItem; `record` is (record_no, byte_offset, id) for a JSONL line or CSV row."""
    record_no, offset, record_id = record or (None, 0, None)
    uri = path.as_uri() + (f"#{'L' if fmt == 'jsonl' else 'R'}{record_no}" if record else "")
    record_id = "" if record_id is None else str(record_id).strip()
    doc_id = _digest(f"id:{record_id}" if record_id else f"uri:{uri}")
    return SourceItem(
        uri, str(path), fmt, record_no, record_id or uri, doc_id, digest, n_bytes, offset
    )


def plan_items(
    paths: Iterable[Path], *, max_gzip_bytes: int = MAX_GZIP_BYTES
) -> Iterator[SourceItem]:
    """One item per file, or per non-empty JSONL line / CSV data row, streaming, in path order.

    An unreadable or oversized file still becomes an item, rejected when read: nothing is lost.
    So does every other entry `resolve_sources` returns (a FIFO, a broken link, a folder that
    could not be listed): it is never opened, and reading it raises the reason.
    """
    for path in paths:
        path = identity_path(path)
        fmt, gzipped = file_format(path)
        fmt = fmt or "txt"  # named explicitly, whatever its suffix
        if entry_problem(path) is not None:
            yield _item(path, fmt, "", 0)
            continue
        try:
            digest, size = "", 0
            if gzipped or fmt not in RECORD_FORMATS:
                digest, size = _hash_file(path, gzipped, max_gzip_bytes if gzipped else None)
            if fmt in RECORD_FORMATS and size <= max_gzip_bytes:
                with _open(path, gzipped) as f:
                    records = _jsonl_records(f) if fmt == "jsonl" else _csv_records(f)
                    for raw, record in records:
                        yield _item(path, fmt, _digest(raw), len(raw), record)
            else:
                yield _item(path, fmt, digest, size)
        except (OSError, EOFError, csv.Error, ItemRejected):
            yield _item(path, fmt, "", 0)


def _hash_file(path: Path, gzipped: bool, cap: int | None) -> tuple[str, int]:
    """(content hash, size) of the file's (decompressed) bytes; stops reading beyond `cap`."""
    hasher, size = hashlib.sha256(), 0
    with _open(path, gzipped) as f:
        while (chunk := f.read(_CHUNK)) and (cap is None or size <= cap):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest()[:16], size


_Record = tuple[bytes, tuple[int, int, object]]  # raw bytes, (record_no, byte offset, id)


def _jsonl_records(f: IO[bytes]) -> Iterator[_Record]:
    """Each non-empty line without its line end; record_no is the line number."""
    offset = 0
    for line_no, line in enumerate(f, start=1):
        if (raw := line.rstrip(b"\r\n")).strip():
            yield raw, (line_no, offset, _json_id(raw))
        offset += len(line)


def _json_id(raw: bytes) -> object:
    try:
        record = json.loads(raw)
    except UnicodeDecodeError:
        return _json_id(decode_bytes(raw)[0].encode())
    except ValueError:
        return None  # reported as malformed_json when the item is read
    return record.get("id") if isinstance(record, dict) else None


class _Lines:
    """Feeds a csv reader decoded lines, keeping the offset and raw bytes of what it has read."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.offset, self.raw = f, 0, bytearray()

    def __iter__(self) -> Iterator[str]:
        for line in self.f:
            self.offset += len(line)
            self.raw += line
            yield decode_bytes(line)[0]


def _csv_records(f: IO[bytes]) -> Iterator[_Record]:
    """Each non-blank data row; record_no is the row number, the header being row 1."""
    lines = _Lines(f)
    header = _csv_header(f, lines)
    reader = csv.reader(lines)
    id_col = header.index("id") if "id" in header else len(header)
    start = lines.offset
    for row_no, row in enumerate(reader, start=2):
        raw, lines.raw = bytes(lines.raw[len(lines.raw) - (lines.offset - start) :]), bytearray()
        if any(cell.strip() for cell in row):
            yield raw, (row_no, start, row[id_col] if id_col < len(row) else None)
        start = lines.offset


def read_items(
    items: Iterable[SourceItem],
    *,
    max_bytes: int = MAX_BYTES,
    max_gzip_bytes: int = MAX_GZIP_BYTES,
    html: HtmlOptions = _HTML_DEFAULTS,
) -> Iterator[tuple[SourceItem, Document | ItemRejected]]:
    """Read, decode and parse planned items into raw (uncleaned) Documents, or the ItemRejected
    that says why not (empty, binary, malformed_json, missing_text, too_large, unreadable, or
    changed: the file no longer matches its plan). Keeps a file open across its records (gzip
    cannot seek back).

    `html` says how HTML pages are extracted (trafilatura or not, time limit per page).
    """
    opened: tuple[str, IO[bytes], list[str]] | None = None  # path, file, CSV header
    try:
        for item in items:
            gzipped = item.path.lower().endswith(".gz")
            limit = min(max_bytes, max_gzip_bytes) if gzipped else max_bytes
            try:
                if item.n_bytes > limit:
                    raise ItemRejected("too_large", _too_large(item.n_bytes, limit, item))
                if item.fmt in RECORD_FORMATS and item.record_no is None:
                    _open(Path(item.path), gzipped).close()  # raises why, if it still fails
                    detail = f"{item.path} could not be read as {item.fmt} when planned"
                    raise ItemRejected("unreadable", detail)
                if opened and (opened[0] != item.path or opened[1].tell() > item.byte_offset):
                    opened[1].close()
                    opened = None
                if opened is None:
                    f = _open(Path(item.path), gzipped)
                    opened = (item.path, f, [])  # closed by `finally` if the header fails
                    opened = (item.path, f, _csv_header(f) if item.fmt == "csv" else [])
                yield item, _read(item, opened[1], opened[2], limit, html)
            except ItemRejected as rejected:
                yield item, rejected
            except (OSError, EOFError) as exc:
                if opened:  # a failed read may leave the file unusable for the next item
                    opened[1].close()
                opened = None
                yield item, ItemRejected("unreadable", f"{item.path}: {_what_failed(exc)}")
    finally:
        if opened:
            opened[1].close()


def _what_failed(exc: BaseException) -> str:
    # "Permission denied", not "[Errno 13] Permission denied: '<the path again>'".
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _csv_header(f: IO[bytes], lines: _Lines | None = None) -> list[str]:
    csv.field_size_limit(MAX_BYTES)  # the default 128 KiB is less than a long article
    return [name.strip().lower() for name in next(csv.reader(lines or _Lines(f)), [])]


def _too_large(n_bytes: int | None, limit: int, item: SourceItem) -> str:
    # Planning and reading stop at a gzip file's limit: its full size is never known.
    if item.path.lower().endswith(".gz"):
        return f"decompressed size exceeds {limit} bytes in {item.path} (reading stopped there)"
    size = f"over {limit} bytes" if n_bytes is None else f"{n_bytes} bytes (limit {limit})"
    return f"{item.path}: {size}"


def _where(item: SourceItem) -> str:
    """The item in a reject's detail: its file, and its line or row."""
    if item.record_no is None:
        return item.path
    return f"{item.path} {'line' if item.fmt == 'jsonl' else 'row'} {item.record_no}"


def _read(
    item: SourceItem, f: IO[bytes], header: list[str], limit: int, html: HtmlOptions
) -> Document:
    f.seek(item.byte_offset)
    raw = f.read(limit + 1 if item.record_no is None else item.n_bytes)
    if len(raw) > limit:  # grew since it was planned
        raise ItemRejected("too_large", _too_large(None, limit, item))
    if _digest(raw) != item.content_hash:
        raise ItemRejected("changed", f"{item.path} changed after it was planned; plan it again")
    if looks_binary(raw):
        raise ItemRejected("binary", f"{item.path} looks like binary data, not text")
    declared = declared_charset(raw) if item.fmt == "html" else None
    text, encoding, note = decode_bytes(raw, declared=declared)
    doc = Document(item.doc_id, item.source_id, item.source_uri, "", encoding=encoding)
    doc.decode_note, doc.raw_hash = note, item.content_hash
    if item.fmt == "jsonl":
        _fill_record(doc, _parse_json(text, item), item)
    elif item.fmt == "csv":
        _fill_record(doc, _parse_csv_row(text, header), item)
    elif item.fmt == "html":
        page = extract_html(
            text, time_limit_s=html.time_limit_s, use_trafilatura=html.use_trafilatura
        )
        _fill_html(doc, page)
    else:
        doc.title, doc.text = _split_title(text, markdown=item.fmt == "md")
    if not doc.text.strip():
        raise ItemRejected("empty", f"{_where(item)}: no text after stripping whitespace")
    return doc


_TITLE_RE = re.compile(r"\A[ \t]*([^\r\n]+?)[ \t]*(?:\r?\n[ \t]*){2,}(?=\S)")
_MD_HEADING_RE = re.compile(r"\A[ \t]*#{1,6}[ \t]+([^\r\n]+?)[ \t#]*(?:\r?\n|\Z)")


def _split_title(text: str, *, markdown: bool) -> tuple[str | None, str]:
    """(title, body): the first line is a title when short and followed by a blank line."""
    match = (_MD_HEADING_RE.match(text) if markdown else None) or _TITLE_RE.match(text)
    if match is None or len(match.group(1)) >= MAX_TITLE_CHARS or not text[match.end() :].strip():
        return None, text
    title = match.group(1).lstrip("#").strip() if markdown else match.group(1)
    return title or None, text[match.end() :]


def _fill_html(doc: Document, page: HtmlExtraction) -> None:
    doc.title, doc.text, doc.extraction = page.title, page.text, page.method
    if page.published_at:
        doc.published_at = page.published_at
    if page.note:
        doc.metadata["extraction_note"] = page.note
    if page.url:  # where a record keeps its own url: source_stats groups by its host
        doc.metadata["url"] = page.url


def _parse_json(text: str, item: SourceItem) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        detail = f"{_where(item)}: {exc.msg} at column {exc.colno}"
        raise ItemRejected("malformed_json", detail) from exc
    if not isinstance(record, dict):
        detail = f"{_where(item)}: expected a JSON object, got {type(record).__name__}"
        raise ItemRejected("malformed_json", detail)
    return record


def _parse_csv_row(text: str, header: list[str]) -> dict[str, Any]:
    row = next(csv.reader(io.StringIO(text, newline="")), [])
    pairs = zip(header, row, strict=False)
    record: dict[str, Any] = {k: v for k, v in pairs if k and (v != "" or k == "text")}
    if len(row) > len(header):
        record["extra_fields"] = row[len(header) :]
    return record


# Record field -> Document field; "date" and "source" are accepted aliases.
_FIELDS = {"id": "id", "text": "text", "title": "title", "published_at": "published_at"}
_FIELDS |= {"date": "published_at", "url": "url", "source": "url"}


def _fill_record(doc: Document, record: dict[str, Any], item: SourceItem) -> None:
    """Set text, title, published_at and metadata (url and every unknown field) from a record."""
    if not isinstance(text := record.get("text"), str):
        what = "no 'text' field" if text is None else f"a {type(text).__name__} as 'text'"
        raise ItemRejected("missing_text", f"{_where(item)}: the record has {what}")
    fields: dict[str, str | None] = {}
    for key, value in record.items():
        if (name := _FIELDS.get(key)) is None or name in fields:
            doc.metadata[key] = value
        else:
            fields[name] = None if value is None or str(value).strip() == "" else str(value)
    doc.text, doc.title, doc.published_at = text, fields.get("title"), fields.get("published_at")
    if fields.get("url"):
        doc.metadata["url"] = fields["url"]
