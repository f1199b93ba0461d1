"""The one settings object: defaults, overridden by `DOCMILL_*` environment variables, then by
flow parameters or command-line options. Validated once, at the edge.

The flows' parameters take their defaults from here too (`flow_defaults`), so the Prefect run
form shows each default as a value and a choice as a dropdown of the types below.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from docmill.tasks.clean.steps import DEFAULT_STEPS, resolve_steps
from docmill.tasks.dedup.minhash import DEFAULT_THRESHOLD
from docmill.tasks.filters.quality import QualityThresholds
from docmill.tasks.lake import catalog, filesystem
from docmill.tasks.options import (
    CHUNK_DOCS,
    DEFAULT_DEDUP,
    DEFAULT_MODEL,
    DEFAULT_PROFILE,
    DEFAULT_TASK_RUNNER,
    MAX_SEGMENT_CHARS,
    NLP_BATCH_SIZE,
    DedupMode,
    Profile,
    TaskRunnerKind,
)

Workers = Annotated[int, Field(ge=1, le=64)]
Seconds = Annotated[float, Field(ge=0)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCMILL_", extra="ignore")

    data_dir: str = Field(
        "data", description="Where the lake and runs live: a local path or s3://bucket/prefix."
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (default: AWS_ENDPOINT_URL, else AWS)."
    )
    s3_region: str | None = Field(None, description="S3 region (default: AWS_REGION).")
    model: str = Field(DEFAULT_MODEL, description="Installed spaCy package or path.")
    profile: Profile = DEFAULT_PROFILE
    workers: Workers = Field(1, description="Worker processes for tagging.")
    task_runner: TaskRunnerKind = Field(
        DEFAULT_TASK_RUNNER,
        description="local: worker processes on this machine; dask: a Dask cluster.",
    )
    dask_address: str = Field(
        "",
        description="Scheduler of an existing Dask cluster (tcp://host:8786); empty: a "
        "LocalCluster of `workers` single-threaded worker processes on 127.0.0.1.",
    )
    max_shard_docs: int = Field(200, ge=1)
    min_shard_docs: int = Field(10, ge=1)
    nlp_batch_size: int = Field(NLP_BATCH_SIZE, ge=1)
    chunk_docs: int = Field(
        CHUNK_DOCS, ge=1, description="Most documents per spaCy memory zone (one row group each)."
    )
    max_segment_chars: int = Field(
        MAX_SEGMENT_CHARS, ge=100, description="Longest text given to spaCy."
    )
    tag_duplicates: bool = Field(False, description="Tag duplicate documents too.")
    clean_steps: list[str] = Field(
        list(DEFAULT_STEPS), description="Cleaning steps by name, in order (tasks/clean/steps.py)."
    )
    dedup: DedupMode = Field(
        DEFAULT_DEDUP, description="near: exact + MinHash LSH; exact: same cleaned text only; off."
    )
    near_duplicate_threshold: float = Field(
        DEFAULT_THRESHOLD,
        ge=0.1,
        le=0.98,
        description="Estimated Jaccard similarity of word 5-gram shingles (0.1 to 0.98).",
    )
    languages: list[str] = Field([], description="Languages to tag; default: the model's language.")
    min_language_score: float = Field(
        0.8, ge=0, le=1, description="Below this confidence a document is tagged anyway."
    )
    quality_thresholds: dict[str, float] = Field(
        {}, description='Quality thresholds, e.g. {"min_words": 50}; failing docs are rejected.'
    )
    use_trafilatura: bool = Field(
        True, description="Extract HTML main text with trafilatura (else: all visible text)."
    )
    html_time_limit_s: float = Field(10.0, gt=0, description="Per-page HTML extraction limit.")
    refresh_report: bool = Field(
        True, description="Rewrite <data dir>/report/index.html after each published batch."
    )
    catalog: str | None = Field(
        None,
        description="Catalog: postgresql://user@host:port/db for several machines, or a SQLite "
        "file; default: catalog.sqlite in the data directory (or its local state directory).",
    )
    gc_grace_seconds: Seconds = Field(
        600.0, description="How long an unused data file stays for running readers."
    )
    snapshot_retention_days: float = Field(
        30.0, ge=0, description="How long snapshots (time travel, replaced versions) are kept."
    )
    lock_wait_seconds: float = Field(0.0, ge=0, description="Wait this long for a busy batch.")
    inbox: str = Field("inbox", description="Folder or glob the process-inbox deployment reads.")
    inbox_cron: str = Field("*/15 * * * *", description="Schedule of process-inbox.")
    maintenance_cron: str = Field("30 3 * * *", description="Schedule of rebuild-warehouse.")
    compaction_cron: str = Field("0 4 * * 0", description="Schedule of compact-warehouse.")

    @field_validator("data_dir", mode="before")
    @classmethod
    def _usable_location(cls, value: object) -> str:
        text = str(value)
        filesystem.location(text)  # raises a clear error for an unsupported scheme
        return text

    @field_validator("catalog")
    @classmethod
    def _usable_catalog(cls, value: str | None) -> str | None:
        if value:
            catalog.parse_catalog(value)  # raises a clear error for a malformed URL
        return value or None

    @field_validator("clean_steps")
    @classmethod
    def _known_steps(cls, steps: list[str]) -> list[str]:
        resolve_steps(steps)
        return steps

    @field_validator("quality_thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        QualityThresholds.from_mapping(thresholds)
        return thresholds


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment with explicit, non-None overrides on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    settings = Settings(**given)
    # As environment variables, so worker processes started later use the same object store
    # and catalog.
    filesystem.configure_object_store(settings.s3_endpoint_url, settings.s3_region)
    catalog.configure_catalog(settings.catalog)
    return settings


def flow_defaults() -> Settings:
    """The defaults of the flows' parameters: the settings as this process's `DOCMILL_*` make them.

    A flow module reads them once, when it is imported: in `docmill serve` and `prefect deploy`
    (whose run forms show them) and in a flow-run process (for a parameter the run leaves out,
    as a scheduled run does). Not `load_settings`: importing a flow must not configure storage.
    """
    return Settings()
