"""Shared fixtures: an S3 endpoint served by moto on 127.0.0.1, and AWS settings that can reach only it."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

# Tests never touch the developer's .local/ Airflow: give this session its own home before Airflow is imported.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
