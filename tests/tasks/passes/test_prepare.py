"""The first pass through the real flow: language, quality thresholds and the cleaning audit
as analysts see them in the views."""

import json
from pathlib import Path

import pytest

from docmill.tasks.passes.prepare import PrepareSpec, ProcessingOptions, prepare_shard

GERMAN = (
    "Die Bundesregierung hat am Mittwoch ein neues Gesetz zur Förderung erneuerbarer Energien "
    "beschlossen. Nach Angaben des Wirtschaftsministeriums sollen damit bis zum Ende des "
    "Jahrzehnts deutlich mehr Windräder und Solaranlagen gebaut werden als bisher geplant."
)
ENGLISH = (
    "The city council approved a new budget on Tuesday that increases spending on public "
    "transport and road repairs, after a long debate about how to pay for the plans."
)


def _write_inputs(folder: Path) -> None:
    folder.mkdir()
    (folder / "de.txt").write_text("Neues Energiegesetz\n\n" + GERMAN + "\n")
    (folder / "en.txt").write_text("Budget approved\n\n" + ENGLISH + "\n")
    (folder / "short.txt").write_text("Scores\n\nArsenal won\n")
    # mojibake and a leftover entity: the audit must show both repairs
    (folder / "mojibake.txt").write_text("CafÃ© opens\n\nThe cafÃ© said it&amp;#39;s open.\n")


def test_prepare_shard_stages_languages_signals_and_rejects(tmp_path: Path):
    from docmill.tasks.ingest.read import plan_items
    from docmill.tasks.ingest.sources import resolve_sources

    _write_inputs(tmp_path / "in")
    items = tuple(plan_items(resolve_sources([str(tmp_path / "in")])))
    options = ProcessingOptions(model="m", model_id="m-1", quality_thresholds=(("min_words", 5.0),))
    spec = PrepareSpec("b", 0, "k", str(tmp_path / "data"), "run", items, options)
    result = prepare_shard(spec)
    assert (result.n_input, result.n_documents, result.n_rejected) == (4, 3, 1)
    assert result.rejects_by_reason == {"low_quality": 1}
    assert result.languages == {"de": 1, "en": 2}
    # a second call with the same key reuses the staged result
    assert prepare_shard(spec).reused


@pytest.mark.prefect
@pytest.mark.model
def test_languages_quality_and_cleaning_audit_in_the_views(prefect_server, tmp_path: Path):
    from docmill.flows.process import process_documents
    from docmill.warehouse.query import connect_read_only

    _write_inputs(tmp_path / "in")
    data_dir = tmp_path / "data"
    summary = process_documents(
        sources=[str(tmp_path / "in")],
        batch_id="mixed",
        data_dir=str(data_dir),
        quality_thresholds={"min_words": 5},
    )
    assert (summary["n_input"], summary["n_documents"], summary["n_rejected"]) == (4, 3, 1)
    con = connect_read_only(data_dir)
    docs = dict(
        (name, rest)
        for name, *rest in con.execute(
            "select split_part(source_uri, '/', -1), lang, tagged, not_tagged_reason, "
            "n_tokens, n_words from documents"
        ).fetchall()
    )
    [(reason, detail)] = con.execute("select reason, detail from rejects").fetchall()
    audit = con.execute(
        "select op, before_sample, after_sample, detail from cleaning c join documents d "
        "using (doc_id) where d.source_uri like '%mojibake.txt' order by step_idx"
    ).fetchall()
    [(counters_json,)] = con.execute(
        "select counters_json from runs where status = 'completed'"
    ).fetchall()
    para_langs = con.execute(
        "select distinct p.lang from paragraphs p join documents d using (doc_id) "
        "where d.source_uri like '%de.txt' and p.kind = 'body'"
    ).fetchall()
    con.close()

    # the German document is kept, not tagged, and says why
    assert docs["de.txt"][:4] == ["de", False, "language de", 0]
    assert docs["en.txt"][:2] == ["en", True] and docs["en.txt"][3] > 0
    assert para_langs == [("de",)]
    assert (reason, detail) == ("low_quality", "n_words 3 < min_words 5")
    ops = [op for op, *_ in audit]
    assert "fix_mojibake" in ops and "unescape_html" in ops
    mojibake = next(row for row in audit if row[0] == "fix_mojibake")
    assert "Ã©" in mojibake[1] and "é" in mojibake[2]
    assert "decode utf-8" in mojibake[3]  # ftfy's explanation
    # per-step counters of the run, as the artifact shows them
    counters = json.loads(counters_json)
    assert counters["clean_ops"]["fix_mojibake"] == 1
    assert counters["languages"] == {"de": 1, "en": 2}
    assert counters["rejects"] == {"low_quality": 1}
    assert counters["not_tagged"] == {"duplicate": 0, "language": 1}
