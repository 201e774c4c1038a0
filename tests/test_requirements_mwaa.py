"""requirements.txt follows MWAA's rules, and the lock it points to ships with the DAGs (what the deploy syncs)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_VERSION = "3.3.1"
MWAA_DAGS = "/usr/local/airflow/dags/"
# MWAA's reference pins (shared/ next to the repository, or $MWAA_REFERENCE_DIR).
REFERENCE = Path(os.environ.get("MWAA_REFERENCE_DIR", REPO.parent / "shared" / f"mwaa-{AIRFLOW_VERSION}"))
TEST_TOOLS = {
    "pytest",
    "moto",
    "ruff",
    "checkov",
    "cfn-lint",
    "zizmor",
    "check-jsonschema",
    "mypy",
    "coverage",
    "black",
    "flake8",
    "pre-commit",
    "tox",
    "nox",
    "hypothesis",
    "responses",
}


def requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def requirements(path: Path) -> list[Requirement]:
    return [Requirement(line) for line in requirement_lines(path) if not line.startswith("-")]


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in requirement_lines(path):
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^;\s]+)(\s*;.*)?", line)
        if match:
            found[canonicalize_name(match.group(1).split("[")[0])] = match.group(2)
    return found


def constraint_lines() -> list[str]:
    return [line for line in requirement_lines(REPO / "requirements.txt") if line.startswith(("--constraint", "-c"))]


def test_requirements_carry_one_constraint_line_into_the_dags_folder():
    (line,) = constraint_lines()
    target = re.match(r"^(?:--constraint|-c)[ =]\"?([^\"\s]+)\"?$", line).group(1)
    assert target.startswith(MWAA_DAGS), f"{target}: MWAA reads a bundled lock from its dags folder"
    local = REPO / "dags" / target.removeprefix(MWAA_DAGS)
    assert local.is_file(), f"{local} must exist so the deploy syncs it with the DAGs"


def test_the_lock_is_synced_with_the_dags():
    from deploy.bundle import constraint_files
    from deploy.files import RepoFiles

    assert RepoFiles.read(REPO).ships("dags/constraints.txt")
    assert constraint_files((REPO / "requirements.txt").read_text()) == ["constraints.txt"]


def test_airflow_is_not_repinned_differently():
    for requirement in requirements(REPO / "requirements.txt"):
        if canonicalize_name(requirement.name) == "apache-airflow":
            assert requirement.specifier.contains(AIRFLOW_VERSION), f"requirements.txt re-pins Airflow: {requirement}"
            assert str(requirement.specifier) in {"", f"=={AIRFLOW_VERSION}"}
    assert pins(REPO / "dags" / "constraints.txt")["apache-airflow"] == AIRFLOW_VERSION


def test_no_test_or_lint_tools_are_installed_on_mwaa():
    names = {canonicalize_name(r.name) for r in requirements(REPO / "requirements.txt")}
    assert not names & TEST_TOOLS, f"test tools in requirements.txt: {names & TEST_TOOLS}"
    dev_only = {canonicalize_name(r.name) for r in requirements(REPO / "requirements-dev.txt")} - {"apache-airflow"}
    assert not names & dev_only, f"requirements-dev.txt packages in requirements.txt: {names & dev_only}"


def test_every_requirement_is_pinned_by_the_lock():
    locked = pins(REPO / "dags" / "constraints.txt")
    for requirement in requirements(REPO / "requirements.txt"):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not pinned in dags/constraints.txt: MWAA would resolve it freely"
        assert requirement.specifier.contains(locked[name], prereleases=True), (requirement, locked[name])


@pytest.mark.skipif(not (REFERENCE / "mwaa_essential_constraints.txt").is_file(), reason=f"no {REFERENCE}")
def test_the_lock_agrees_with_mwaas_own_pins():
    locked = pins(REPO / "dags" / "constraints.txt")
    essential = pins(REFERENCE / "mwaa_essential_constraints.txt")
    assert essential, "reference file has no pins"
    disagreements = {
        name: (locked.get(name), version) for name, version in essential.items() if locked.get(name, version) != version
    }
    assert not disagreements, f"dags/constraints.txt pins differ from MWAA's (ours, MWAA's): {disagreements}"
