"""scripts/local_airflow/airflow_internals.py: each Airflow internal the harness uses is still where it was, with what
the harness passes to it or reads from it, and no other script imports one. An Airflow upgrade that moves one fails
here, naming it, instead of breaking `make run` silently."""

from __future__ import annotations

import ast
import inspect
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from local_airflow.airflow_internals import INTERNALS

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
# The public Airflow modules scripts import directly (airflow.sdk's exceptions; listeners' hookimpl).
PUBLIC = {"airflow.sdk", "airflow.sdk.exceptions", "airflow.listeners"}


def offered(found: Any) -> set[str]:
    """What a caller can pass or read: a function's parameters; a class's attributes, constructor parameters and
    the attributes its constructor sets."""
    if not inspect.isclass(found):
        return set(inspect.signature(found).parameters)
    constructor = getattr(found.__init__, "__code__", None)
    return set(dir(found)) | set(inspect.signature(found).parameters) | set(constructor.co_names if constructor else ())


@pytest.mark.parametrize("name", INTERNALS)
def test_each_airflow_internal_the_harness_uses_is_still_there(name):
    internal = INTERNALS[name]
    try:
        found = pkgutil.resolve_name(internal.path)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"Airflow internal {name} ({internal.path}) moved: {error}; the harness uses it to {internal.why}")
    missing = [use for use in internal.uses if use not in offered(found)]
    assert not missing, (
        f"Airflow internal {name} ({internal.path}) no longer takes or has {', '.join(missing)}, which the harness "
        f"passes or reads to {internal.why}"
    )


def test_each_internal_says_why_and_which_public_api_falls_short():
    assert all(internal.why and internal.public for internal in INTERNALS.values())


def airflow_imports(path: Path) -> list[str]:
    """The absolute `airflow...` modules a file imports."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
    return [module for module in modules if module == "airflow" or module.startswith("airflow.")]


def test_scripts_import_only_public_airflow_modules_outside_airflow_internals():
    files = [path for path in SCRIPTS.rglob("*.py") if path.name != "airflow_internals.py"]
    private = {str(path.relative_to(SCRIPTS)): set(airflow_imports(path)) - PUBLIC for path in files}
    assert {path: modules for path, modules in private.items() if modules} == {}
