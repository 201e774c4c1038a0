"""Fixtures for the deploy tests: a small fake repository in tmp_path, a versioned moto bucket, a stubbed MWAA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from deploy_fakes import BUCKET, REPO_ROOT, REQUIREMENTS, git, write


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    """A git clone shaped like this one (same .gitignore and .mwaaignore), with files that must never ship.

    Caches and local stores are there but git-ignored; the tests are tracked and kept out by .mwaaignore.
    """
    repo = tmp_path / "repo"
    for ignore_file in (".gitignore", ".mwaaignore"):
        write(repo / ignore_file, (REPO_ROOT / ignore_file).read_text())
    write(repo / "dags" / "pipeline.py", "from ml_pipeline import tasks\n")
    write(repo / "dags" / "ml_pipeline" / "__init__.py", "")
    write(repo / "dags" / "ml_pipeline" / "tasks.py", "def train():\n    return 1\n")
    write(repo / "dags" / ".airflowignore", "ml_pipeline/\n")
    write(repo / "dags" / "constraints.txt", "scikit-learn==1.7.2\nmlflow==3.4.0\n")
    # Never uploaded:
    write(repo / "dags" / "__pycache__" / "pipeline.cpython-312.pyc", "bytecode")
    write(repo / "dags" / "ml_pipeline" / "__pycache__" / "tasks.cpython-312.pyc", "bytecode")
    write(repo / "dags" / "ml_pipeline" / "tasks.pyc", "bytecode")
    write(repo / "dags" / "tests" / "test_pipeline.py", "def test_x():\n    pass\n")
    write(repo / "dags" / "test_something.py", "def test_y():\n    pass\n")
    write(repo / "dags" / ".pytest_cache" / "v" / "cache", "{}")
    write(repo / "dags" / ".local" / "mlflow" / "mlflow.db", "sqlite")
    write(repo / "dags" / "mlruns" / "0" / "meta.yaml", "name: x\n")
    write(repo / "dags" / "airflow.db", "sqlite")
    write(repo / "plugins" / "ml_plugin" / "__init__.py", "PLUGIN = 1\n")
    write(repo / "plugins" / "ml_plugin" / "macros.py", "def ds_nodash(x):\n    return x\n")
    write(repo / "plugins" / "ml_plugin" / "__pycache__" / "macros.cpython-312.pyc", "bytecode")
    write(repo / "requirements.txt", REQUIREMENTS)
    git(repo, "init", "--quiet")
    git(repo, "add", "--all")
    return repo


@pytest.fixture
def bucket(s3_client) -> str:
    s3_client.create_bucket(Bucket=BUCKET)
    s3_client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return BUCKET


@pytest.fixture
def mwaa(s3_endpoint: str) -> Iterator[tuple[object, Stubber]]:
    """An MWAA client whose every call must be queued on the Stubber (moto has no MWAA API)."""
    client = boto3.client("mwaa", region_name="us-east-1")
    stubber = Stubber(client)
    with stubber:
        yield client, stubber
