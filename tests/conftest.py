"""Shared fixtures: an S3 endpoint served by moto on 127.0.0.1, and AWS settings that can reach only it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import mlflow
import pytest
import requests
from leftovers import pytest_sessionfinish, pytest_terminal_summary  # noqa: F401 (hooks)
from moto.server import ThreadedMotoServer
from pipeline_runs import tracking_uri  # noqa: F401 (fixture: a throwaway MLflow store)
from scoring_rows_fixture import registry, rows, wine_rows  # noqa: F401 (fixtures)

# Tests never touch the developer's .local/ Airflow: give this session its own home before Airflow is imported.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The compose test's options (tests/compose), here because pytest reads options only from initial conftests."""
    group = parser.getgroup("compose", "docker-compose stack test (make compose-test)")
    group.addoption("--compose-timeout", type=float, default=1500, help="time limit of the whole test in seconds")
    group.addoption("--compose-keep", action="store_true", help="leave the stack running afterwards")
    group.addoption("--compose-skip-kill", action="store_true", help="skip the worker-kill test")
    group.addoption("--compose-kill-iterations", type=int, default=400_000, help="max_iter of the slow run")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def free_port():
    """A function that returns a port nothing listens on, on 127.0.0.1, for servers the tests start."""
    return _free_port


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server in server mode on loopback, stopped when the session ends. Yields its URL."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean moto S3 with fake credentials; boto3 clients made in the test reach only this endpoint."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    yield moto_server


@pytest.fixture
def s3_client(s3_endpoint: str):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def wine_frame():
    """The bundled Wine data as the pipeline sees it: 13 numeric features and a `target` column."""
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame


@pytest.fixture(scope="session")
def dagbag():
    """The dags/ folder as Airflow's DAG processor loads it."""
    from pathlib import Path

    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parent.parent / "dags"))


@pytest.fixture(scope="session")
def airflow_home():
    home = os.environ["AIRFLOW_HOME"]  # the session's own, set in conftest
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=os.environ, check=True, capture_output=True, timeout=300
    )
    return home


@pytest.fixture
def stores(tmp_path, airflow_home):
    """Environment for one pipeline: its own MLflow store and artifact root, the session's Airflow."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ML_PIPELINE_", "MLFLOW_", "AWS_"))}
    env |= {
        "AIRFLOW_HOME": airflow_home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parent.parent / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow/mlflow.db",
        "ML_PIPELINE_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
    }
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    yield env
    mlflow.set_tracking_uri(None)
