"""make lock: Airflow's official constraints stay verbatim; project pins are appended once, sorted, never duplicated."""

from pathlib import Path

import pytest
from lock_constraints import MARKER, merge

REPO = Path(__file__).resolve().parent.parent
OFFICIAL = REPO.parent / "shared" / "mwaa-3.3.1" / "constraints-3.12.txt"

OFFICIAL_TEXT = "# Airflow 3.3.1 constraints\nboto3==1.43.56\nscikit-learn==1.9.0\n"
RESOLVED = "scikit-learn==1.9.0\nmlflow==3.17.2\nboto3==1.43.56\nalembic==1.19.0\n"


def test_official_pins_are_kept_and_only_missing_packages_are_added():
    merged = merge(OFFICIAL_TEXT, RESOLVED)
    official_part, project_part = merged.split(MARKER)
    assert official_part.strip() == OFFICIAL_TEXT.strip()
    assert project_part.split() == ["alembic==1.19.0", "mlflow==3.17.2"]


def test_relocking_a_locked_file_replaces_the_project_pins_instead_of_appending_again():
    once = merge(OFFICIAL_TEXT, RESOLVED)
    twice = merge(once, "mlflow==3.18.0\n")
    assert twice.count(MARKER) == 1
    assert "mlflow==3.18.0" in twice and "mlflow==3.17.2" not in twice


@pytest.mark.skipif(not OFFICIAL.exists(), reason="needs the copy of Airflow's official constraints in ../shared")
def test_the_committed_lock_starts_with_the_official_constraints_verbatim():
    committed = (REPO / "dags" / "constraints.txt").read_text()
    assert committed.split(MARKER)[0].strip() == OFFICIAL.read_text().strip()
    assert "mlflow==" in committed.split(MARKER)[1]
