"""`docmill eval`: score the real pipeline and bare spaCy on gold data, with one scorer.

The gold file is rebuilt into raw documents (`tasks.gold`), written as JSONL into a temporary
directory and processed by the `process-documents` flow exactly like user input (clean,
segment, tag, entity repairs); the outputs are read back from the warehouse views. Bare spaCy
runs `nlp.pipe` over the same raw texts with the plain model. Cleaning may change whitespace
(CoNLL lines become paragraphs), so pipeline offsets are mapped back to the raw text through
the non-whitespace characters, which cleaning must leave alone: any document where it did not
is reported in `text_mismatches` and scored as predicting nothing.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from docmill.evaluation.gold import ONTONOTES_TO_CONLL, GoldDocument, GoldSet, load_gold
from docmill.evaluation.scoring import Prediction, offset_map, score
from docmill.tasks.options import DEFAULT_MODEL, DEFAULT_PROFILE, Profile


def evaluate(
    kind: str,
    path: Path,
    *,
    model: str = DEFAULT_MODEL,
    profile: Profile = DEFAULT_PROFILE,
    limit: int | None = None,
) -> dict:
    """Figures of both systems on the gold file `path` of `kind` ("ud" or "conll")."""
    gold = load_gold(kind, path)
    if limit is not None:
        gold.documents = gold.documents[:limit]
    label_map = ONTONOTES_TO_CONLL if "entities" in gold.layers else None
    pipeline, mismatches = pipeline_predictions(gold, model=model, profile=profile)
    bare = spacy_predictions(gold.documents, model=model)
    return {
        "gold": {"kind": gold.kind, "file": gold.source, "documents": len(gold.documents)},
        "model": model,
        "profile": profile,
        "systems": {
            name: score(gold.documents, preds, layers=gold.layers, label_map=label_map)
            for name, preds in (("docmill", pipeline), ("spacy", bare))
        },
        "text_mismatches": mismatches,
    }


def pipeline_predictions(
    gold: GoldSet, *, model: str, profile: str
) -> tuple[dict[str, Prediction], list[str]]:
    """Run the documents through `process-documents` and read the views back."""
    from docmill.flows.process import process_documents
    from docmill.warehouse.query import connect_read_only

    raw = {doc.doc_id: doc.text for doc in gold.documents}
    with tempfile.TemporaryDirectory(prefix="docmill-eval-") as tmp:
        source = Path(tmp) / f"{gold.kind}.jsonl"
        with source.open("w", encoding="utf-8") as out:
            for doc in gold.documents:
                out.write(json.dumps({"id": doc.doc_id, "text": doc.text}) + "\n")
        data_dir = Path(tmp) / "data"
        process_documents(
            sources=[str(source)],
            data_dir=str(data_dir),
            batch_id="eval",
            model=model,
            profile=profile,
            # Every gold document must be tagged to be scored, repeated texts included.
            dedup="off",
        )
        con = connect_read_only(data_dir)
        try:
            docs = con.execute("select doc_id, source_id, text from documents").fetchall()
            rows = {
                table: con.execute(
                    f"select doc_id, start_char, end_char{extra} from {table}"
                ).fetchall()
                for table, extra in (
                    ("sentences", ""),
                    ("tokens", ", pos"),
                    ("entities", ", label"),
                )
            }
        finally:
            con.close()
    by_doc: dict[str, Prediction] = {}
    for table, found in rows.items():
        for doc_id, *values in found:
            getattr(by_doc.setdefault(doc_id, Prediction()), table).append(tuple(values))
    predictions: dict[str, Prediction] = {}
    mismatches: list[str] = []
    for doc_id, source_id, text in docs:
        offsets = offset_map(text, raw[source_id])
        if offsets is None:
            mismatches.append(source_id)
            continue
        predictions[source_id] = _mapped(by_doc.get(doc_id, Prediction()), offsets)
    return predictions, mismatches


def _mapped(pred: Prediction, offsets: list[int]) -> Prediction:
    def span(s: int, e: int) -> tuple[int, int]:
        # The end maps through the last character, so trailing whitespace does not stretch it.
        return offsets[s], offsets[e - 1] + 1 if e > s else offsets[s]

    return Prediction(
        sentences=[span(s, e) for s, e in pred.sentences],
        tokens=[(*span(s, e), pos) for s, e, pos in pred.tokens],
        entities=[(*span(s, e), label) for s, e, label in pred.entities],
    )


def spacy_predictions(docs: list[GoldDocument], *, model: str) -> dict[str, Prediction]:
    """Bare spaCy: the plain pipeline of `model` (spaCy's own components) over the raw texts,
    nothing around it."""
    from docmill.tasks.nlp.pipeline import load_pipeline

    nlp = load_pipeline(model, "accurate", batch_components=False)
    predictions = {}
    for gold, doc in zip(docs, nlp.pipe(d.text for d in docs), strict=True):
        predictions[gold.doc_id] = Prediction(
            sentences=[(sent.start_char, sent.end_char) for sent in doc.sents],
            tokens=[(t.idx, t.idx + len(t), t.pos_) for t in doc if not t.is_space],
            entities=[(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents],
        )
    return predictions


_COLUMNS = (
    ("sentence P", ("sentences", "precision")),
    ("sentence R", ("sentences", "recall")),
    ("sentence F1", ("sentences", "f1")),
    ("sent-end F1", ("sentence_ends", "f1")),
    ("token F1", ("tokens", "f1")),
    ("UPOS acc", ("upos", "accuracy")),
    ("entity P", ("entities", "precision")),
    ("entity R", ("entities", "recall")),
    ("entity F1", ("entities", "f1")),
    ("ents across \\n", ("entities_crossing_line_breaks", None)),
)


def format_report(report: dict) -> str:
    """A plain-text table: one row per system, the columns the gold set can score."""
    systems = report["systems"]
    first = next(iter(systems.values()))
    columns = [(title, path) for title, path in _COLUMNS if path[0] in first]
    header = ["system", *(title for title, _ in columns)]
    rows = [header]
    for name, figures in systems.items():
        cells = [name]
        for _, (section, key) in columns:
            value = figures[section] if key is None else figures[section][key]
            cells.append(f"{value:.4f}" if isinstance(value, float) else str(value))
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        f"{report['gold']['kind']} gold: {report['gold']['file']} "
        f"({report['gold']['documents']} documents), model {report['model']}, "
        f"profile {report['profile']}"
    ]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    if "entities_by_type" in first:
        lines.append("entity F1 by type:")
        labels = sorted({label for fig in systems.values() for label in fig["entities_by_type"]})
        for name, figures in systems.items():
            by_type = figures["entities_by_type"]
            cells = [f"{label} {by_type[label]['f1']:.4f}" for label in labels if label in by_type]
            lines.append(f"  {name:<8} " + "  ".join(cells))
    if report["text_mismatches"]:
        shown = ", ".join(report["text_mismatches"][:5])
        lines.append(
            f"warning: cleaning changed more than whitespace in {len(report['text_mismatches'])} "
            f"documents (scored as empty for docmill): {shown}"
        )
    return "\n".join(lines)
