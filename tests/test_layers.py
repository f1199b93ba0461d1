"""The rules of which layer, and which room of `tasks`, may import which (docs/architecture.md):
`tasks` is plain Python that knows neither Prefect nor the views; `warehouse` reads the lake
through `tasks` and knows no flow; only `flows` wires Prefect in; `evaluation` measures the
pipeline as a user runs it (its flows included) and only the command line imports it. Inside
`tasks`, the rooms of the pipeline stand on the shared modules at its top and on nothing later
in the pipeline. spaCy lives in `tasks/nlp/`, and one module there loads a model."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

PRIVATE_TO_FLOWS = ("prefect", "prefect_dask", "dask")
FORBIDDEN = {
    "tasks": ("docmill.flows", "docmill.warehouse", "docmill.evaluation", *PRIVATE_TO_FLOWS),
    "warehouse": ("docmill.flows", "docmill.evaluation", *PRIVATE_TO_FLOWS),
}
# What each room of tasks/ may import besides itself and the shared modules at tasks/ top level.
ROOMS = {
    "ingest": set(),
    "clean": set(),
    "filters": set(),
    "nlp": set(),
    "lake": set(),
    "dedup": {"lake"},
    "passes": {"ingest", "clean", "filters", "dedup", "nlp", "lake"},
}
MODEL_LOADER = "tasks/nlp/pipeline.py"


def _modules(layer: str) -> list[Path]:
    return sorted((PROJECT_ROOT / layer).rglob("*.py"))


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports, at any depth (imports inside functions count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # `from docmill.tasks import lake` names a room, not a shared module
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["docmill", "tasks"] or len(parts) < 3:
        return None
    return parts[2] if (PROJECT_ROOT / "tasks" / parts[2]).is_dir() else None


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    breaches = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for path in _modules(layer)
        for line, module in _imports(path)
        if _within(module, FORBIDDEN[layer])
    ]
    assert breaches == []


def test_only_the_command_line_imports_evaluation() -> None:
    importers = {
        str(path.relative_to(PROJECT_ROOT))
        for layer in ("flows", "tasks", "warehouse")
        for path in _modules(layer)
        if any(_within(module, ("docmill.evaluation",)) for _, module in _imports(path))
    }
    assert importers <= {"flows/cli/measure.py"}


def test_every_room_of_tasks_has_a_rule() -> None:
    rooms = {path.name for path in (PROJECT_ROOT / "tasks").iterdir() if path.is_dir()}
    assert rooms - {"__pycache__"} == set(ROOMS)


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_a_room_imports_only_the_rooms_before_it(room: str) -> None:
    breaches = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for path in _modules(f"tasks/{room}")
        for line, module in _imports(path)
        if (other := _room_of(module)) not in (None, room) and other not in ROOMS[room]
    ]
    assert breaches == []


def test_the_shared_modules_of_tasks_import_no_room() -> None:
    breaches = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for path in sorted((PROJECT_ROOT / "tasks").glob("*.py"))
        for line, module in _imports(path)
        if _room_of(module) is not None
    ]
    assert breaches == []


def test_spacy_is_imported_in_the_nlp_room_and_loaded_in_one_module() -> None:
    importers = {
        str(path.relative_to(PROJECT_ROOT))
        for layer in ("flows", "tasks", "warehouse", "evaluation")
        for path in _modules(layer)
        if any(_within(module, ("spacy",)) for _, module in _imports(path))
    }
    assert importers and all(name.startswith("tasks/nlp/") for name in importers)
    loaders = {
        str(path.relative_to(PROJECT_ROOT))
        for layer in ("flows", "tasks", "warehouse", "evaluation")
        for path in _modules(layer)
        if "spacy.load(" in path.read_text()
    }
    assert loaders == {MODEL_LOADER}


def test_the_rule_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from prefect import flow\n    import docmill.flows.cli\n")
    assert _imports(module) == [(2, "prefect"), (2, "prefect.flow"), (3, "docmill.flows.cli")]


def test_a_room_named_in_a_from_import_counts(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from docmill.tasks import lake\n")
    assert [_room_of(name) for _, name in _imports(module)] == [None, "lake"]
