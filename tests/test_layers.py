"""The rule of which layer may import which (docs/architecture.md): `tasks` is plain Python
that knows neither Prefect nor the views; `warehouse` reads the lake through `tasks` and knows
no flow; only `flows` wires Prefect in. spaCy is loaded in one module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

FORBIDDEN = {
    "tasks": ("docmill.flows", "docmill.warehouse", "prefect", "prefect_dask", "dask"),
    "warehouse": ("docmill.flows", "prefect", "prefect_dask", "dask"),
}
SPACY_IMPORTERS = {"tasks/nlp.py", "tasks/batch_components.py"}


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
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    breaches = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for path in _modules(layer)
        for line, module in _imports(path)
        if _within(module, FORBIDDEN[layer])
    ]
    assert breaches == []


def test_spacy_is_imported_in_one_place() -> None:
    importers = {
        str(path.relative_to(PROJECT_ROOT))
        for layer in ("flows", "tasks", "warehouse")
        for path in _modules(layer)
        if any(_within(module, ("spacy",)) for _, module in _imports(path))
    }
    assert importers == SPACY_IMPORTERS


def test_the_rule_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from prefect import flow\n    import docmill.flows.cli\n")
    assert _imports(module) == [(2, "prefect"), (3, "docmill.flows.cli")]
