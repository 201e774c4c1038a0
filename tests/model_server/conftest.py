"""A registry for the model server's tests: Wine versions 1 and 2 made by the pipeline's own functions, and a version
3 that cannot serve (no data set schema), with the champion alias set as each test needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import mlflow
import pytest
from pipeline_runs import MODEL, publish
from serving_helpers import BROKEN, GOOD, move_champion

from serving.following import ModelFollower
from serving.loading import Source


@pytest.fixture(scope="session")
def serving_registry(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("serving-registry")
    tracking_uri = f"sqlite:///{root}/mlflow.db"
    publish(root / "artifacts", tracking_uri, "r1")
    publish(root / "artifacts", tracking_uri, "r2", classifier="extra_trees")
    mlflow.set_tracking_uri(tracking_uri)
    _register_without_schema(root)
    mlflow.set_tracking_uri(None)
    return tracking_uri


def _register_without_schema(root) -> None:
    """Version 3: a scikit-learn model logged without the data set schema the server checks requests against."""
    from sklearn.dummy import DummyClassifier

    experiment_id = mlflow.create_experiment("unservable", artifact_location=str(root / "unservable"))
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.sklearn.log_model(DummyClassifier().fit([[0], [1]], [0, 1]), name="model",
                                        pip_requirements=["scikit-learn"], serialization_format="pickle")  # fmt: skip
    version = mlflow.register_model(info.model_uri, MODEL).version
    assert str(version) == BROKEN


@pytest.fixture
def registry(serving_registry: str) -> Iterator[str]:
    """The registry with the champion on version 1, as each test starts."""
    mlflow.set_tracking_uri(serving_registry)
    move_champion(GOOD)
    yield serving_registry
    mlflow.set_tracking_uri(None)


@pytest.fixture
def follower_of() -> Iterator[Callable[..., ModelFollower]]:
    """Followers made for a test, stopped after it."""
    made: list[ModelFollower] = []

    def make(source: Source, poll_seconds: float = 0.2, load_timeout_seconds: float = 60) -> ModelFollower:
        made.append(ModelFollower(source, poll_seconds, load_timeout_seconds))
        return made[-1]

    yield make
    for follower in made:
        follower.stop()
