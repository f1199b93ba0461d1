"""Near-duplicate recall of docmill's MinHash LSH against exact Jaccard similarity, brute force.

    .venv/bin/python bench/near_duplicates.py ../shared/corpus/bbc [--threshold T] [--floor F]
        [--json FILE]

Reads and cleans every document as a batch run does (plan order: sorted paths), decides its
duplicates with docmill's own `find_duplicates` (exact content hash, then MinHash LSH verified
by the signatures' estimated similarity) at the threshold (default: docmill's), and then
compares every pair of documents that share at least one shingle by the exact Jaccard
similarity of their word 5-gram shingle sets (`tasks/dedup.shingles`). Pairs sharing no shingle
have similarity 0, so no pair above the floor is left out.

Prints the documents flagged (exact, near), the documents an exact-Jaccard decision would flag
at the same threshold with the same keep-first rule, and every pair at or above the floor that
is not an exact duplicate: its exact similarity, docmill's estimate, whether docmill put the two
in one cluster, and the title and first words of each text, for judging by eye. Pairs at or above
the threshold that docmill left apart are its misses; pairs it joined below the threshold are
the estimate's doing. Nothing here is needed by the tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from docmill.tasks.clean.steps import clean_document
from docmill.tasks.dedup.minhash import (
    DEFAULT_THRESHOLD,
    Fingerprint,
    find_duplicates,
    minhash_signature,
    shingles,
    similarity,
)
from docmill.tasks.ingest.read import plan_items, read_items
from docmill.tasks.ingest.sources import resolve_sources
from docmill.tasks.records import ItemRejected

_EXCERPT_WORDS = 12


@dataclass(frozen=True, slots=True)
class CleanedDocument:
    name: str  # path below the corpus folder
    text: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    jaccard: float
    estimate: float
    same_cluster: bool
    a_excerpt: str
    b_excerpt: str


def read_corpus(corpus: Path) -> list[CleanedDocument]:
    """Every document of `corpus` cleaned with the default steps, in plan order."""
    docs = []
    for item, outcome in read_items(plan_items(resolve_sources([str(corpus)]))):
        if isinstance(outcome, ItemRejected):
            print(f"rejected {item.path}: {outcome.reason}", file=sys.stderr)
            continue
        doc = clean_document(outcome)
        if doc.text:
            name = str(Path(item.path).relative_to(corpus.resolve()))
            docs.append(CleanedDocument(name, doc.text, doc.content_hash))
    return docs


def shared_shingle_pairs(shingle_sets: list[set[bytes]]) -> dict[tuple[int, int], int]:
    """(i, j) with i < j -> number of shingles documents i and j share, for every pair sharing
    at least one (an inverted index: no pair with a common shingle is missed)."""
    postings: dict[bytes, list[int]] = defaultdict(list)
    for i, grams in enumerate(shingle_sets):
        for gram in grams:
            postings[gram].append(i)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for docs in postings.values():
        for x, i in enumerate(docs):
            for j in docs[x + 1 :]:
                shared[i, j] += 1
    return shared


def exact_decision(
    docs: list[CleanedDocument], jaccard: dict[tuple[int, int], float], threshold: float
) -> set[int]:
    """Documents flagged when near duplicates are decided by exact Jaccard instead of MinHash,
    with docmill's rule: in plan order, compared with kept documents only."""
    kept_hashes: set[str] = set()
    kept: list[int] = []
    flagged: set[int] = set()
    for i, doc in enumerate(docs):
        if doc.content_hash in kept_hashes or any(
            jaccard.get((k, i), 0.0) >= threshold for k in kept
        ):
            flagged.add(i)
            continue
        kept_hashes.add(doc.content_hash)
        kept.append(i)
    return flagged


def excerpt(text: str) -> str:
    title, _, body = text.partition("\n\n")
    return f"{title} | {' '.join(body.split()[:_EXCERPT_WORDS])} …"


def measure(corpus: Path, *, threshold: float, floor: float) -> dict:
    clock = time.perf_counter()
    docs = read_corpus(corpus)
    shingle_sets = [shingles(doc.text) for doc in docs]
    signatures = [minhash_signature(doc.text) for doc in docs]
    found = find_duplicates(
        [
            Fingerprint(doc.name, doc.content_hash, signature)
            for doc, signature in zip(docs, signatures, strict=True)
        ],
        threshold=threshold,
    )
    kept_of = {
        doc.name: found[doc.name].duplicate_of if doc.name in found else doc.name for doc in docs
    }
    jaccard = {
        (i, j): n / len(shingle_sets[i] | shingle_sets[j])
        for (i, j), n in shared_shingle_pairs(shingle_sets).items()
    }
    pairs = [
        Pair(
            docs[i].name,
            docs[j].name,
            round(value, 4),
            round(similarity(signatures[i], signatures[j]), 4),
            kept_of[docs[i].name] == kept_of[docs[j].name],
            excerpt(docs[i].text),
            excerpt(docs[j].text),
        )
        for (i, j), value in jaccard.items()
        if value >= floor and docs[i].content_hash != docs[j].content_hash
    ]
    pairs.sort(key=lambda p: (-p.jaccard, p.a, p.b))
    exact_flagged = exact_decision(docs, jaccard, threshold)
    return {
        "corpus": str(corpus),
        "threshold": threshold,
        "floor": floor,
        "documents": len(docs),
        "flagged": len(found),
        "flagged_exact": sum(d.kind == "exact" for d in found.values()),
        "flagged_near": sum(d.kind == "near" for d in found.values()),
        "flagged_by_exact_jaccard": len(exact_flagged),
        "missed": [asdict(p) for p in pairs if p.jaccard >= threshold and not p.same_cluster],
        "joined_below_threshold": [
            asdict(p) for p in pairs if p.jaccard < threshold and p.same_cluster
        ],
        "pairs": [asdict(p) for p in pairs],
        "seconds": round(time.perf_counter() - clock, 1),
    }


def _print(figures: dict) -> None:
    t = figures["threshold"]
    print(
        f"{figures['documents']} documents; docmill at {t}: {figures['flagged']} flagged "
        f"({figures['flagged_exact']} exact, {figures['flagged_near']} near); exact Jaccard "
        f"at {t}: {figures['flagged_by_exact_jaccard']}; {figures['seconds']} s"
    )
    print(f"\npairs with Jaccard >= {figures['floor']} (not exact duplicates):")
    for p in figures["pairs"]:
        mark = "same cluster" if p["same_cluster"] else "apart"
        print(f"  {p['jaccard']:.3f} (estimate {p['estimate']:.3f}, {mark}) {p['a']} ~ {p['b']}")
        print(f"      {p['a_excerpt']}\n      {p['b_excerpt']}")
    print(f"\nmissed (Jaccard >= {t}, apart): {len(figures['missed'])}")
    for p in figures["missed"]:
        print(f"  {p['jaccard']:.3f} {p['a']} ~ {p['b']}")
    print(f"joined below {t} by the estimate: {len(figures['joined_below_threshold'])}")
    for p in figures["joined_below_threshold"]:
        print(f"  {p['jaccard']:.3f} (estimate {p['estimate']:.3f}) {p['a']} ~ {p['b']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "corpus", type=Path, help="a folder of documents (e.g. ../shared/corpus/bbc)"
    )
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--floor", type=float, default=0.4, help="list pairs from this Jaccard")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        parser.error(f"{args.corpus} is not a folder")
    figures = measure(args.corpus, threshold=args.threshold, floor=args.floor)
    _print(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
