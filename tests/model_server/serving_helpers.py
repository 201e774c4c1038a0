"""What the model server's tests share besides fixtures."""

from __future__ import annotations

import time
from collections.abc import Callable

from mlflow import MlflowClient
from pipeline_runs import MODEL

from ml_pipeline.contract import CHAMPION_ALIAS

GOOD, OTHER, BROKEN = "1", "2", "3"


def move_champion(version: str) -> None:
    MlflowClient().set_registered_model_alias(MODEL, CHAMPION_ALIAS, version)


def wait_until(condition: Callable[[], object], timeout: float = 60, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)
