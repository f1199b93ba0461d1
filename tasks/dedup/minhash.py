"""Exact and near-duplicate detection, within a batch and against every earlier batch.

Exact duplicates share `content_hash` (the cleaned text, lower-cased, whitespace collapsed).
Near duplicates are found with MinHash LSH: word 5-gram shingles of the lower-cased text, each
hashed to 32 bits (CRC-32), 128 multiply-shift universal hashes ((a * h + b) mod 2^64, high 32
bits) from a fixed seed; LSH with a band layout chosen for recall at the Jaccard threshold (0.6:
25 bands of 5 rows); and every LSH candidate is checked against the threshold with the
signatures' estimated Jaccard similarity, so banding only finds candidates and never decides.

Written with numpy rather than taken from datasketch: the whole of datasketch is imported with
any of it (scipy included, 75 MiB per process), and every worker computes signatures.

Each batch publishes the signatures of its documents (table `signatures`), which is the
persisted index: a later batch reads the current signatures of every other batch from the
catalog. Only kept documents are indexed, so a duplicate always points at a kept document and
never at another duplicate, and reruns of a batch give the same answers.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from docmill.tasks.lake import filesystem
from docmill.tasks.lake.layout import Layout
from docmill.tasks.lake.recorded import other_batches_signatures
from docmill.tasks.options import DEFAULT_DEDUP, DedupMode

NUM_PERM = 128
SHINGLE_WORDS = 5
# A story republished with a paragraph added or its lead rewritten keeps 55-80 % of the word
# 5-grams of the longer version, while a follow-up that reuses a few background paragraphs
# keeps under half: on the BBC corpus, exact Jaccard over every pair finds same-story versions
# down to 0.56 and the closest different story at 0.47 (bench/near_duplicates.py). 0.6 sits
# three standard deviations of the 128-permutation estimate (about 0.044 there) above 0.47.
DEFAULT_THRESHOLD = 0.6
# Changing the seed, the shingle hash or the permutations makes stored signatures incomparable:
# bump PIPELINE_VERSION with them.
_SEED = 1
_SHIFT_32 = np.uint64(32)
_WORD_RE = re.compile(r"\w+")
# Every LSH candidate is verified against the threshold, so a false positive costs one signature
# comparison while a false negative is a missed duplicate: the band layout favours recall. At
# 0.6 that gives 25 bands of 5 rows: a pair at Jaccard 0.6 / 0.65 / 0.7 becomes a candidate with
# probability 0.87 / 0.95 / 0.99 (at 0.8, 14 bands of 9 rows: 0.87 / 0.97 / 0.999 at 0.8 / 0.85
# / 0.9).
_FALSE_POSITIVE_WEIGHT = 0.1


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    # Multiply-shift needs an odd multiplier; uint64 arithmetic wraps, which is the mod 2^64.
    a = rng.integers(0, 1 << 64, size=NUM_PERM, dtype=np.uint64, endpoint=False) | np.uint64(1)
    b = rng.integers(0, 1 << 64, size=NUM_PERM, dtype=np.uint64, endpoint=False)
    return a, b


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Why a document is a duplicate: the kept document, exact or near, and the similarity."""

    duplicate_of: str
    kind: str  # "exact" | "near"
    similarity: float


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What dedup needs of a document: its id, exact key and (optional) MinHash signature."""

    doc_id: str
    content_hash: str
    minhash: np.ndarray | None


def shingles(text: str, width: int = SHINGLE_WORDS) -> set[bytes]:
    """Word `width`-grams of the lower-cased text; a shorter text is one shingle."""
    words = _WORD_RE.findall(text.lower())
    if len(words) <= width:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + width]).encode() for i in range(len(words) - width + 1)}


def minhash_signature(text: str) -> np.ndarray | None:
    """The MinHash signature (NUM_PERM uint32 values) of a text; None for a text with no words."""
    grams = shingles(text)
    if not grams:
        return None
    hashes = np.fromiter(map(zlib.crc32, grams), dtype=np.uint64, count=len(grams))
    a, b = _permutations()
    return ((np.outer(hashes, a) + b) >> _SHIFT_32).min(axis=0).astype(np.uint32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal positions."""
    return float(np.count_nonzero(a == b)) / len(a)


def find_duplicates(
    batch: Sequence[Fingerprint],
    index: Iterable[Fingerprint] = (),
    *,
    threshold: float | None = DEFAULT_THRESHOLD,
) -> dict[str, Duplicate]:
    """doc_id -> Duplicate for the documents of `batch` that repeat an earlier one.

    `batch` is in plan order: the first of a group stays, the rest are its duplicates. `index`
    holds kept documents of earlier batches; they win over any document of this batch. With
    `threshold` None only exact duplicates are found; otherwise it must lie in [0.1, 0.98]
    (with 128 permutations LSH needs at least two bands).
    """
    in_batch = {fp.doc_id for fp in batch}
    kept_hashes: dict[str, str] = {}
    lsh = _LshIndex(*band_layout(threshold)) if threshold else None
    signatures: dict[str, np.ndarray] = {}
    order: dict[str, int] = {}

    def keep(fp: Fingerprint) -> None:
        kept_hashes.setdefault(fp.content_hash, fp.doc_id)
        order.setdefault(fp.doc_id, len(order))
        if lsh is not None and fp.minhash is not None and fp.doc_id not in signatures:
            signatures[fp.doc_id] = fp.minhash
            lsh.insert(fp.doc_id, fp.minhash)

    for fp in index:
        # The same document processed again here is a new version of it, not a duplicate.
        if fp.doc_id not in in_batch:
            keep(fp)

    found: dict[str, Duplicate] = {}
    for fp in batch:
        original = kept_hashes.get(fp.content_hash)
        if original is not None and original != fp.doc_id:
            found[fp.doc_id] = Duplicate(original, "exact", 1.0)
            continue
        if lsh is not None and fp.minhash is not None:
            best = _closest(fp, lsh.query(fp.minhash), signatures, order, threshold)
            if best is not None:
                found[fp.doc_id] = best
                continue
        keep(fp)
    return found


def _closest(
    fp: Fingerprint,
    candidates: Iterable[str],
    signatures: dict[str, np.ndarray],
    order: dict[str, int],
    threshold: float,
) -> Duplicate | None:
    scored = [
        (similarity(fp.minhash, signatures[doc_id]), -order[doc_id], doc_id)
        for doc_id in candidates
        if doc_id != fp.doc_id
    ]
    scored = [s for s in scored if s[0] >= threshold]
    if not scored:
        return None
    score, _, doc_id = max(scored)
    return Duplicate(doc_id, "near", round(score, 4))


@functools.cache
def band_layout(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm that minimise the weighted probability mass
    of false positives (similarity below `threshold` yet a shared band) and false negatives
    (above it, no shared band), integrated over similarity."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"near-duplicate threshold must lie between 0 and 1, got {threshold}")
    below = np.linspace(0.0, threshold, 200)
    above = np.linspace(threshold, 1.0, 200)
    best: tuple[float, int, int] | None = None
    for bands in range(2, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            false_pos = np.trapezoid(1 - (1 - below**rows) ** bands, below)
            false_neg = np.trapezoid((1 - above**rows) ** bands, above)
            cost = _FALSE_POSITIVE_WEIGHT * false_pos + (1 - _FALSE_POSITIVE_WEIGHT) * false_neg
            if best is None or cost < best[0]:
                best = (cost, bands, rows)
    return best[1], best[2]


class _LshIndex:
    """Signatures cut into bands; documents sharing any band are candidates."""

    def __init__(self, bands: int, rows: int) -> None:
        self.bands, self.rows = bands, rows
        self.buckets: list[dict[bytes, list[str]]] = [{} for _ in range(bands)]

    def _keys(self, signature: np.ndarray) -> list[bytes]:
        r = self.rows
        return [signature[i * r : (i + 1) * r].tobytes() for i in range(self.bands)]

    def insert(self, doc_id: str, signature: np.ndarray) -> None:
        for bucket, key in zip(self.buckets, self._keys(signature), strict=True):
            bucket.setdefault(key, []).append(doc_id)

    def query(self, signature: np.ndarray) -> set[str]:
        found: set[str] = set()
        for bucket, key in zip(self.buckets, self._keys(signature), strict=True):
            found.update(bucket.get(key, ()))
        return found


def read_fingerprints(
    paths: Iterable[filesystem.Location], *, kept_only: bool = False
) -> list[Fingerprint]:
    """Fingerprints from `signatures` or `prepared` Parquet files, in file and row order."""
    found: list[Fingerprint] = []
    columns = ["doc_id", "content_hash", "minhash"] + (["kept"] if kept_only else [])
    for path in paths:
        found += fingerprints(filesystem.read_parquet(path, columns=columns), kept_only=kept_only)
    return found


def fingerprints(table: pa.Table, *, kept_only: bool = False) -> list[Fingerprint]:
    """Fingerprints from the rows of a `signatures` or `prepared` table, in row order."""
    kept = table.column("kept").to_pylist() if kept_only else [True] * table.num_rows
    hashes = table.column("content_hash").to_pylist()
    lists = table.column("minhash").combine_chunks()
    offsets = lists.offsets.to_numpy()
    values = lists.values.to_numpy(zero_copy_only=False)
    valid = lists.is_valid().to_numpy(zero_copy_only=False)
    found = []
    for i, doc_id in enumerate(table.column("doc_id").to_pylist()):
        if not kept[i]:
            continue
        start, end = offsets[i], offsets[i + 1]
        signature = values[start:end] if valid[i] and end > start else None
        found.append(Fingerprint(doc_id, hashes[i], signature))
    return found


def batch_duplicates(
    layout: Layout,
    batch_id: str,
    prepared_files: Sequence[filesystem.Location],
    *,
    mode: DedupMode = DEFAULT_DEDUP,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, Duplicate]:
    """The duplicates of a batch whose prepared shards are `prepared_files` (in plan order),
    against itself and the current rows of every other published batch."""
    if mode == "off":
        return {}
    if mode not in ("near", "exact"):
        raise ValueError(f"unknown dedup mode {mode!r}; use near, exact or off")
    index = other_batches_signatures(layout, batch_id)
    return find_duplicates(
        read_fingerprints(prepared_files),
        fingerprints(index, kept_only=True),
        threshold=threshold if mode == "near" else None,
    )
