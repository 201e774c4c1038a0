"""ml_pipeline's concerns stay in layers: each sub-package imports only from those before it, none imports Airflow
or the DAG side (task_runtime), so the logic can be tested and reused without a scheduler."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dags" / "ml_pipeline"
# Lowest first, as ml_pipeline/__init__ says.
LAYERS = ("config", "store", "data", "monitoring", "training", "registry", "scoring", "segments", "deployment")
SHARED = ("errors", "contract")  # below every layer
FORBIDDEN = ("airflow", "task_runtime")


def layer(module: str) -> int:
    """0 for the shared modules, then 1, 2, ... in LAYERS' order."""
    part = module.split(".")[1] if module.count(".") else ""
    return 0 if part in ("", *SHARED) else LAYERS.index(part) + 1


def imports(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {
                f"{node.module}.{alias.name}" if node.module == "ml_pipeline" else node.module for alias in node.names
            }
    return found


MODULES = {
    ".".join(("ml_pipeline", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"): path
    for path in sorted(PACKAGE.rglob("*.py"))
}


def test_every_sub_package_is_a_layer():
    assert {module.split(".")[1] for module in MODULES if module.count(".") > 1} == set(LAYERS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_those_below(module):
    own = layer(module)
    for imported in imports(MODULES[module]):
        assert not imported.startswith(FORBIDDEN), f"{module} imports {imported}: ml_pipeline stays free of Airflow"
        if imported.startswith("ml_pipeline."):
            assert layer(imported) <= own, f"{module} (layer {own}) imports {imported} (layer {layer(imported)})"
