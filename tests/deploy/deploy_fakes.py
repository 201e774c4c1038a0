"""Constants and helpers shared by the deploy tests (a plain module: conftest modules are not for importing)."""

from __future__ import annotations

from pathlib import Path

BUCKET = "mwaa-deploy-test"
ENVIRONMENT = "ml-pipeline"

REQUIREMENTS = """\
--constraint "/usr/local/airflow/dags/constraints.txt"

scikit-learn
mlflow>=3
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
