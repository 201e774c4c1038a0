"""What the model server's tests share besides fixtures."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable

from mlflow import MlflowClient
from pipeline_runs import MODEL
from sklearn.datasets import load_wine

from ml_pipeline.contract import CHAMPION_ALIAS

GOOD, OTHER, BROKEN = "1", "2", "3"
CSV_BODY = load_wine(as_frame=True).data.head(5).to_csv(index=False).encode()


def move_champion(version: str) -> None:
    MlflowClient().set_registered_model_alias(MODEL, CHAMPION_ALIAS, version)


def wait_until(condition: Callable[[], object], timeout: float = 60, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def ask(port: int, method: str = "GET", path: str = "/ping", body: bytes | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "text/csv"} if body else {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def ready(port: int) -> bool:
    try:
        return ask(port)[0] == 200
    except OSError:
        return False
