"""spaCy's own attribute ruler and lemmatizer against docmill's batch versions on a corpus:
the same token attributes for every paragraph, and the time each component takes.

    python bench/batch_components.py ../shared/corpus/bbc [--profile fast] [--limit N]
        [--json FILE]

Every component runs over the whole corpus (paragraphs, as the flow tags them) one after the
other, timed on its own; then both pipelines' outputs are compared attribute by attribute
(ORTH, LEMMA, POS, TAG, DEP, MORPH, HEAD, ENT_TYPE, ENT_IOB, SENT_START, plus the lemma and
morphology strings).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from spacy.attrs import DEP, ENT_IOB, ENT_TYPE, HEAD, LEMMA, MORPH, ORTH, POS, SENT_START, TAG

from docmill.evaluation.bench import load_corpus
from docmill.tasks.clean.steps import paragraph_spans
from docmill.tasks.nlp.pipeline import load_pipeline
from docmill.tasks.options import DEFAULT_MODEL

COMPARED = [ORTH, LEMMA, POS, TAG, DEP, MORPH, HEAD, ENT_TYPE, ENT_IOB, SENT_START]


def component_seconds(nlp, texts: list[str]) -> tuple[dict[str, float], list]:
    """Seconds per component over `texts` and the annotations of every paragraph."""
    seconds: dict[str, float] = {}
    with nlp.memory_zone():
        start = time.perf_counter()
        docs = [nlp.make_doc(text) for text in texts]
        seconds["tokenizer"] = time.perf_counter() - start
        for name, component in nlp.pipeline:
            start = time.perf_counter()
            docs = list(component.pipe(docs, batch_size=64))
            seconds[name] = time.perf_counter() - start
        annotations = [
            (doc.to_array(COMPARED), [str(t.morph) for t in doc], [t.lemma_ for t in doc])
            for doc in docs
        ]
    return seconds, annotations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--profile", choices=["accurate", "fast"], default="accurate")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=r"\[W108\]")

    _, cleaned = load_corpus(args.corpus)
    cleaned = cleaned[: args.limit] if args.limit else cleaned
    paragraphs = [text[s:e] for text in cleaned for s, e in paragraph_spans(text)]
    words = sum(len(text.split()) for text in cleaned)
    results = {}
    for label, batch in (("spacy", False), ("docmill", True)):
        nlp = load_pipeline(args.model, args.profile, batch)
        list(nlp.pipe(paragraphs[:200]))  # warm-up, as in a worker after its first shard
        seconds, annotations = component_seconds(nlp, paragraphs)
        total = sum(seconds.values())
        results[label] = (seconds, annotations)
        shown = ", ".join(f"{name} {s:.2f}" for name, s in seconds.items())
        print(f"{label}: {total:.1f} s, {words / total:,.0f} words/s ({shown})")

    mismatched = 0
    for (a, a_morph, a_lemma), (b, b_morph, b_lemma) in zip(
        results["spacy"][1], results["docmill"][1], strict=True
    ):
        if not (np.array_equal(a, b) and a_morph == b_morph and a_lemma == b_lemma):
            mismatched += 1
    tokens = sum(len(row[1]) for row in results["spacy"][1])
    print(f"{len(paragraphs):,} paragraphs, {tokens:,} tokens: {mismatched} differ")
    speedup = sum(results["spacy"][0].values()) / sum(results["docmill"][0].values())
    print(f"docmill pipeline / spaCy pipeline: {speedup:.3f} x")
    if args.json:
        figures = {
            "corpus": args.corpus,
            "profile": args.profile,
            "documents": len(cleaned),
            "paragraphs": len(paragraphs),
            "tokens": tokens,
            "words": words,
            "paragraphs_differing": mismatched,
            "seconds_spacy": {k: round(v, 3) for k, v in results["spacy"][0].items()},
            "seconds_docmill": {k: round(v, 3) for k, v in results["docmill"][0].items()},
            "speedup": round(speedup, 3),
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if mismatched:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
