"""Exact and near-duplicate detection, within a batch and against every earlier batch.

Exact duplicates share `content_hash` (the cleaned text, lower-cased, whitespace collapsed).
Near duplicates are found with MinHash LSH (datasketch): word 5-gram shingles of the lower-cased
text, 128 permutations, LSH banding tuned by datasketch for the Jaccard threshold (0.8 by default:
9 bands of 13 rows), and every LSH candidate checked against the threshold with the signatures'
estimated Jaccard similarity, so banding only finds candidates and never decides alone.

Each batch publishes the signatures of its documents (table `signatures`), which is the
persisted index: a later batch reads the signatures of the current version of every other
batch. Only kept documents are indexed, so a duplicate always points at a kept document and
never at another duplicate, and reruns of a batch give the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from datasketch import LeanMinHash, MinHash, MinHashLSH

from docmill.tasks.store import Layout, current_version_dirs

NUM_PERM = 128
SHINGLE_WORDS = 5
DEFAULT_THRESHOLD = 0.8
_SEED = 1
# datasketch 2's default scheme; stored signatures are only comparable under the same one.
_SCHEME = "affine32"
_WORD_RE = re.compile(r"\w+")
# datasketch derives its permutations from the seed; one template per process reuses them.
_TEMPLATE: MinHash | None = None


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
    global _TEMPLATE
    grams = shingles(text)
    if not grams:
        return None
    if _TEMPLATE is None:
        _TEMPLATE = MinHash(num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME)
    sketch = _TEMPLATE.copy()
    sketch.update_batch(list(grams))
    return sketch.hashvalues.astype(np.uint32)


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
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM) if threshold else None
    signatures: dict[str, np.ndarray] = {}
    order: dict[str, int] = {}

    def keep(fp: Fingerprint) -> None:
        kept_hashes.setdefault(fp.content_hash, fp.doc_id)
        order.setdefault(fp.doc_id, len(order))
        if lsh is not None and fp.minhash is not None and fp.doc_id not in signatures:
            signatures[fp.doc_id] = fp.minhash
            lsh.insert(fp.doc_id, _lean(fp.minhash))

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
            best = _closest(fp, lsh.query(_lean(fp.minhash)), signatures, order, threshold)
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


def _lean(signature: np.ndarray) -> LeanMinHash:
    return LeanMinHash(seed=_SEED, hashvalues=signature, scheme=_SCHEME)


def read_fingerprints(paths: Iterable[Path], *, kept_only: bool = False) -> list[Fingerprint]:
    """Fingerprints from `signatures` or `prepared` Parquet files, in file and row order."""
    found: list[Fingerprint] = []
    for path in paths:
        columns = ["doc_id", "content_hash", "minhash"] + (["kept"] if kept_only else [])
        table = pq.read_table(path, columns=columns)
        kept = table.column("kept").to_pylist() if kept_only else [True] * table.num_rows
        hashes = table.column("content_hash").to_pylist()
        lists = table.column("minhash").combine_chunks()
        offsets = lists.offsets.to_numpy()
        values = lists.values.to_numpy(zero_copy_only=False)
        valid = lists.is_valid().to_numpy(zero_copy_only=False)
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
    prepared_files: Sequence[Path],
    *,
    mode: str = "near",
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, Duplicate]:
    """The duplicates of a batch whose prepared shards are `prepared_files` (in plan order),
    against itself and the current version of every other published batch."""
    if mode == "off":
        return {}
    if mode not in ("near", "exact"):
        raise ValueError(f"unknown dedup mode {mode!r}; use near, exact or off")
    index_files = [
        path
        for other, version_dir in sorted(current_version_dirs(layout).items())
        if other != batch_id
        for path in sorted((version_dir / "signatures").glob("*.parquet"))
    ]
    return find_duplicates(
        read_fingerprints(prepared_files),
        read_fingerprints(index_files, kept_only=True),
        threshold=threshold if mode == "near" else None,
    )
