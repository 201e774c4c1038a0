"""Talking to MLflow: the tracking URI, bounded client retries, the experiment, and what its failures mean.

MLflow's HTTP client retries a request for about four minutes by default; tasks bound it instead (the values below,
unless the environment sets them), so an unreachable server fails an attempt in seconds and the task's own retries
decide the rest. The whole budget: docs/how-it-works.md, "Every wait is bounded".
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from ml_pipeline.errors import PipelineError, TrackingUnavailableError, is_transient, root_cause

# MLflow client settings for tasks: one retry after ~1 s, 15 s per request (to connect, or between bytes read).
CLIENT_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}
STORE_WAIT_SECONDS = 120.0  # a new local store's migrations take a few seconds
# The MLflow UI opens an experiment of this kind on its runs (model training), not on GenAI traces.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
DENIED_CODES = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED", "CUSTOMER_UNAUTHORIZED"})


class TrackingError(PipelineError):
    """MLflow refused a request for a reason retrying cannot fix (credentials, permissions, a wrong URI)."""

    label = "MLflow error"


def use_tracking_server(tracking_uri: str) -> None:
    """Point MLflow at the tracking server (a URL, a database URI, or a SageMaker MLflow ARN), with bounded retries.

    sagemaker-mlflow (needed for ARNs) adds a request-header provider that fails for every other URI, and MLflow
    then warns on each request; that one logger is quietened unless an ARN is in use.
    """
    for name, value in CLIENT_LIMITS.items():
        os.environ.setdefault(name, value)
    mlflow.set_tracking_uri(tracking_uri)
    if database := local_database(tracking_uri):
        _create_store_alone(database)
    level = logging.WARNING if tracking_uri.startswith("arn:") else logging.ERROR
    logging.getLogger("mlflow.tracking.request_header.registry").setLevel(level)


@contextmanager
def explained_tracking_errors(tracking_uri: str) -> Iterator[None]:
    """Name the tracking server and the cause when it cannot be reached or refuses; keep transient ones retryable."""
    try:
        yield
    except PipelineError:
        raise
    except Exception as error:
        cause = root_cause(error)
        if is_transient(error):
            raise TrackingUnavailableError(
                f"MLflow at {tracking_uri} did not answer ({cause}); check that the server is up and that "
                "mlflow_tracking_uri points at it"
            ) from error
        if isinstance(error, MlflowException) and str(error.error_code) in DENIED_CODES:
            raise TrackingError(
                f"MLflow at {tracking_uri} refused the request ({cause}); check the credentials the worker uses"
            ) from error
        raise


def is_not_found(error: MlflowException) -> bool:
    """Whether the registry said the model, version or alias does not exist (as opposed to being unreachable)."""
    return error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def connect(tracking_uri: str, experiment_name: str) -> str:
    """Point MLflow at the tracking server and make sure the experiment exists; return its id."""
    use_tracking_server(tracking_uri)
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is None:
        with suppress(MlflowException):  # created concurrently by another run
            mlflow.create_experiment(
                experiment_name, artifact_location=local_artifact_location(tracking_uri), tags={KIND_TAG: KIND}
            )
        experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise TrackingError(f"MLflow at {tracking_uri} did not create experiment {experiment_name!r}; check its logs")
    if experiment.artifact_location.startswith("file:////"):
        raise TrackingError(
            f"experiment {experiment_name!r} keeps its artifacts at {experiment.artifact_location}, which MLflow reads "
            "as a host name (an earlier release of this project made it so); delete the local MLflow store or set "
            "experiment_name to a new name"
        )
    if KIND_TAG not in experiment.tags:  # made before the tag was set
        mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, KIND_TAG, KIND)
    return experiment.experiment_id


def local_database(tracking_uri: str) -> Path | None:
    """A local SQLite store's database file, by SQLAlchemy's own parsing: `sqlite:////home/u/mlflow.db` names
    `/home/u/mlflow.db`, and `sqlite:///mlflow.db` a file in the current folder. SQLAlchemy is imported only then:
    clients of a tracking server (the model server's image) have mlflow-skinny, which does not install it."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(tracking_uri).database
    return Path(database).resolve() if database else None


def local_artifact_location(tracking_uri: str) -> str | None:
    """For a local SQLite store, keep artifacts beside the database instead of under the current directory (never
    as `file:////home/u/...`, which MLflow reads as the host `home` and the path `/u/...`)."""
    database = local_database(tracking_uri)
    return (database.parent / "artifacts").as_uri() if database else None


def _create_store_alone(database: Path) -> None:
    """MLflow creates a new SQLite store's tables on first contact, with no lock: runs that start together on a
    fresh store would each migrate it, and fail or break it. One process at a time makes or checks it."""
    from ml_pipeline.store.locks import file_lock

    busy = TrackingUnavailableError(f"another process has been creating the MLflow store {database} for too long")
    with file_lock(database.with_name(database.name + ".lock"), time.monotonic() + STORE_WAIT_SECONDS, busy):
        mlflow.MlflowClient().search_experiments(max_results=1)
