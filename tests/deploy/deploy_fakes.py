"""Constants and helpers shared by the deploy tests (a plain module: conftest modules are not for importing)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = REPO_ROOT / ".venv-tools" / "bin"
BUCKET = "mwaa-deploy-test"
ENVIRONMENT = "ml-pipeline"

REQUIREMENTS = """\
--constraint "/usr/local/airflow/dags/constraints.txt"

scikit-learn
mlflow>=3
"""

EXPECTED_DAG_KEYS = {
    "dags/pipeline.py",
    "dags/ml_pipeline/__init__.py",
    "dags/ml_pipeline/tasks.py",
    "dags/.airflowignore",
    "dags/constraints.txt",
}
SPARK_JOB = "spark_jobs/score_batch.py"
SPARK_JOB_TEXT = "from pyspark.sql import SparkSession\n\nprint('placeholder job')\n"
SPARK_JOB_MODULES = (
    "spark_jobs/source_reading.py",
    "spark_jobs/drift_counts.py",
    "spark_jobs/segment_routing.py",
)
SPARK_TRAINING_JOB = "spark_jobs/train_segments.py"
PACKAGE_ZIP = "spark_jobs/ml_pipeline.zip"  # built from dags/ml_pipeline/ when the training job ships


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def track(path: Path) -> Path:
    """`git add` one file: only files git tracks ship."""
    git(path.parent, "add", path.name)
    return path


def add_spark_job(repo: Path, text: str = SPARK_JOB_TEXT) -> Path:
    """The scoring job script and its modules, and the training job, tracked."""
    for module in SPARK_JOB_MODULES:
        track(write(repo / module, "def read_source(): ...\n"))
    track(write(repo / SPARK_TRAINING_JOB, "from ml_pipeline import tasks\n"))
    return track(write(repo / SPARK_JOB, text))


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a linter from the pinned tools venv (`make tools`; `make lint` and `make test` install it first)."""
    executable = TOOLS / name
    if not executable.exists():
        pytest.fail(f"{executable} is missing: run `make tools` (make lint/test install it) before these tests")
    return subprocess.run(
        [str(executable), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !Sub, ...) read as their long form."""


def _intrinsic(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)
