"""What `docmill run` checks before Prefect starts.

Starting Prefect (its import, and with no server configured its temporary server) costs 5 to
15 seconds, and a mistake found inside the flow comes back wrapped in Prefect's log lines. So
everything that can be known beforehand is checked here, with nothing heavier than the
settings, the catalog and the file system: no Prefect, no spaCy. Each problem is one line
naming the input and what to do (`RunRefused`, exit code 2). The flow checks the same things
again for runs started elsewhere (the Prefect UI, a schedule).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_settings import SettingsError

from docmill.flows.settings import Settings, load_settings
from docmill.tasks.ingest.sources import SourceNotFound, SourceScan, describe_skipped, scan_sources
from docmill.tasks.lake import filesystem
from docmill.tasks.lake.catalog import CatalogError
from docmill.tasks.lake.layout import InvalidBatchId, Layout, validate_batch_id
from docmill.tasks.lake.recorded import batch_manifest
from docmill.tasks.lake.staging import read_staged_plan
from docmill.tasks.nlp.pipeline import ModelNotInstalled, check_model_installed
from docmill.tasks.passes.plan import default_batch_id

# The options that set each setting, for messages; other settings are named by variable only.
OPTIONS = {
    "data_dir": "--data-dir",
    "catalog": "--catalog",
    "model": "--model",
    "workers": "--workers",
    "task_runner": "--task-runner",
    "dask_address": "--dask-address",
    "profile": "--profile",
    "dedup": "--dedup",
    "clean_steps": "--clean-steps",
    "quality_thresholds": "--quality",
}
DASK_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


class RunRefused(ValueError):
    """A run that cannot start as given; the message names the input and what to do."""


@dataclass(frozen=True, slots=True)
class RunChecked:
    settings: Settings
    batch_id: str
    data_dir: filesystem.Location
    left_out: str | None = None  # the files of folders and globs skipped for their suffix


def check_run(sources: Sequence[str], batch_id: str | None, **overrides: object) -> RunChecked:
    """The settings, batch id and data directory of a run, or RunRefused naming what is wrong.

    `overrides` are the command line's settings (None: not given). A damaged record of the
    batch's items raises store.DamagedRecord, and a catalog that cannot be read CatalogError:
    neither is a usage error.
    """
    settings = _settings(overrides)
    if not sources and not batch_id:
        raise RunRefused("give at least one SOURCE, or --batch-id to rerun a batch")
    try:
        scan = scan_sources(sources) if sources else SourceScan([], [])
        paths = scan.paths
        # Derived here too so that the flow run is named after the batch.
        batch_id = validate_batch_id(batch_id or default_batch_id(paths))
        data_dir = filesystem.location(settings.data_dir)
        filesystem.check_usable(data_dir, writing=True)
        if filesystem.is_object_store(data_dir):
            filesystem.endpoint_url()
        check_model_installed(settings.model)
    except (InvalidBatchId, SourceNotFound, filesystem.StorageError, ModelNotInstalled) as err:
        raise RunRefused(str(err)) from None
    if settings.task_runner == "dask" and settings.dask_address:
        check_dask_address(settings.dask_address)
    if not sources:
        _check_recorded(Layout.at(data_dir), batch_id)
    return RunChecked(settings, batch_id, data_dir, describe_skipped(scan.skipped))


def _settings(overrides: dict[str, object]) -> Settings:
    try:
        return load_settings(**overrides)
    except ValidationError as err:
        raise RunRefused(describe_invalid(err)) from None
    except (CatalogError, filesystem.StorageError) as err:
        # Raised by a validator as it is (pydantic wraps only ValueError): a malformed
        # --catalog or --data-dir.
        raise RunRefused(str(err)) from None
    except SettingsError as err:
        field = re.search(r'field "(\w+)"', str(err))
        variable = f"DOCMILL_{field[1].upper()}" if field else "a DOCMILL_* variable"
        raise RunRefused(
            f"{variable} does not parse: a list or mapping setting is JSON, e.g. "
            '{"min_words": 50} or ["fix_mojibake", "normalize_whitespace"]'
        ) from None


def describe_invalid(error: ValidationError) -> str:
    """One line for the settings pydantic refused: the option (or variable) and why."""
    problems = []
    for problem in error.errors(include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        variable = f"DOCMILL_{field.upper()}"
        where = f"{OPTIONS[field]} (or {variable})" if field in OPTIONS else variable
        reason = problem["msg"].removeprefix("Value error, ")
        if problem["type"] != "value_error":
            reason += f", got {problem.get('input')!r}"
        problems.append(f"{where}: {reason}")
    return "; ".join(problems)


def check_dask_address(address: str) -> None:
    """A scheduler address Dask can connect to: [tcp://]host:port (tls, ws, wss, ucx too)."""
    given = address if "://" in address else f"tcp://{address}"
    parts = urlsplit(given)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in DASK_SCHEMES or not parts.hostname or port is None or parts.path:
        raise RunRefused(
            f"--dask-address (or DOCMILL_DASK_ADDRESS) {address!r} is not a scheduler address: "
            "give tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
        )


def _check_recorded(layout: Layout, batch_id: str) -> None:
    """A rerun without sources needs the batch's items: an unfinished attempt's plan or the
    published version's manifest."""

    if read_staged_plan(layout, batch_id) is not None:
        return
    if batch_manifest(layout, batch_id) is not None:
        return
    raise RunRefused(
        f"batch {batch_id!r} has no recorded items in {layout.data_dir} (it was never run "
        "there): give its SOURCEs, or the --data-dir that holds it"
    )
