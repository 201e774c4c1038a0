"""persist_model's first half: one MLflow run and one registered version per trained model, whatever the retries.

A version is found again by its DAG run and its fingerprint (data, split and every classifier setting), so a retry
of the same work reuses it, while a rerun that trained something else registers a new version instead of relabelling
the old one. A run left behind by a crashed attempt is reused when it finished logging the model, else ended as
FAILED.
"""

from __future__ import annotations

import json
import logging
from importlib.metadata import version as installed_version
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import RunStatus
from mlflow.entities.model_registry import ModelVersion

from ml_pipeline.contract import (
    FEATURES,
    TAG_DAG_ID,
    TAG_DATA_HASH,
    TAG_FINGERPRINT,
    TAG_RUN_ID,
    TARGET,
    DatasetSnapshot,
    TrainingResult,
)
from ml_pipeline.storage import Storage

log = logging.getLogger(__name__)

MODEL_REQUIREMENTS = ("scikit-learn", "mlflow", "pandas", "numpy", "scipy", "skops")
TAG_LOGGED_MODEL = "logged_model_uri"  # set on an MLflow run once its model is logged


def model_requirements() -> list[str]:
    """Exact pins for the serving environment: explicit, so logging skips seconds of requirement inference."""
    return [f"{name}=={installed_version(name)}" for name in MODEL_REQUIREMENTS]


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run_filter(dag_id: str, run_id: str, fingerprint: str | None = None) -> str:
    clauses = [f"tags.{TAG_DAG_ID} = {_quote(dag_id)}", f"tags.{TAG_RUN_ID} = {_quote(run_id)}"]
    if fingerprint is not None:
        clauses.append(f"tags.{TAG_FINGERPRINT} = {_quote(fingerprint)}")
    return " and ".join(clauses)


def find_version(
    client: MlflowClient, model_name: str, dag_id: str, run_id: str, fingerprint: str | None = None
) -> ModelVersion | None:
    """The newest version registered by this DAG run (with this fingerprint, if given), or None.

    Without a fingerprint: the DAG run's latest, since a rerun that trained something else registers another.
    """
    versions = client.search_model_versions(
        f"name = {_quote(model_name)} and {_run_filter(dag_id, run_id, fingerprint)}"
    )
    return max(versions, key=lambda v: int(v.version)) if versions else None


def settle_earlier_attempts(client: MlflowClient, experiment_id: str, tags: dict[str, str]) -> str | None:
    """End runs that crashed attempts left RUNNING as FAILED; return the model URI of one that finished, if any."""
    runs = client.search_runs(
        [experiment_id], _run_filter(tags[TAG_DAG_ID], tags[TAG_RUN_ID], tags[TAG_FINGERPRINT]), max_results=50
    )
    finished = None
    for run in runs:
        if run.info.status == RunStatus.to_string(RunStatus.RUNNING):
            log.info("Ending MLflow run %s, left running by an earlier attempt, as FAILED", run.info.run_id)
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
        elif run.info.status == RunStatus.to_string(RunStatus.FINISHED) and TAG_LOGGED_MODEL in run.data.tags:
            finished = run.data.tags[TAG_LOGGED_MODEL]
    return finished


def _confusion_matrix_figure(evaluation: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    display = ConfusionMatrixDisplay(np.array(evaluation["confusion_matrix"]), display_labels=evaluation["labels"])
    display.plot(cmap="Blues", colorbar=False)
    display.ax_.set_title("Holdout confusion matrix")
    return display.figure_


def _log_inputs(dataset: DatasetSnapshot, train: pd.DataFrame, holdout: pd.DataFrame) -> None:
    from ml_pipeline.data import content_hash

    for frame, context, uri in (
        (train, "training", dataset["train_uri"]),
        (holdout, "holdout", dataset["holdout_uri"]),
    ):
        source = mlflow.data.from_pandas(
            frame, source=uri, targets=TARGET, name=f"wine-{context}", digest=content_hash(frame)[:16]
        )
        mlflow.log_input(source, context=context)


def log_run(
    storage: Storage,
    experiment_id: str,
    tags: dict[str, str],
    dataset: DatasetSnapshot,
    training: TrainingResult,
    holdout: pd.DataFrame,
) -> str:
    """One MLflow run with params, metrics, plots, lineage and the model; returns the logged model's URI."""
    import matplotlib.pyplot as plt
    from mlflow.models import infer_signature

    from ml_pipeline.data import read_frame
    from ml_pipeline.training import model_from_bytes, skops_trusted_types

    model = model_from_bytes(storage.read_bytes(training["model_uri"]), training["model_uri"])
    evaluation = json.loads(storage.read_bytes(training["evaluation_uri"]))
    features = holdout[list(FEATURES)]
    lineage = {"data.source": dataset["source"], "data.rows": str(dataset["rows"])}
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"{tags[TAG_DAG_ID]}.{tags[TAG_RUN_ID]}", tags=tags | lineage
    ):
        mlflow.log_params(
            {"classifier": training["classifier"], **training["params"]}
            | {"test_size": dataset["test_size"], "random_seed": dataset["random_seed"]}
        )
        mlflow.log_metrics(evaluation["metrics"])
        mlflow.log_dict(evaluation["report"], "classification_report.json")
        figure = _confusion_matrix_figure(evaluation)
        mlflow.log_figure(figure, "confusion_matrix.png")
        plt.close(figure)
        _log_inputs(dataset, read_frame(dataset["train_uri"], storage), holdout)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            input_example=features.head(3),
            pip_requirements=model_requirements(),
            skops_trusted_types=skops_trusted_types(training["classifier"]),
        )
        mlflow.set_tag(TAG_LOGGED_MODEL, info.model_uri)
    return info.model_uri


def register(
    storage: Storage,
    client: MlflowClient,
    *,
    experiment_id: str,
    model_name: str,
    tags: dict[str, str],
    dataset: DatasetSnapshot,
    training: TrainingResult,
    holdout: pd.DataFrame,
) -> tuple[ModelVersion, bool]:
    """This training's version: the one an earlier attempt registered, else a new one. Returns (version, reused)."""
    existing = find_version(client, model_name, tags[TAG_DAG_ID], tags[TAG_RUN_ID], tags[TAG_FINGERPRINT])
    if existing is not None:
        log.info("Reusing %s v%s: an earlier attempt registered this same training", model_name, existing.version)
        return existing, True
    model_uri = settle_earlier_attempts(client, experiment_id, tags)
    if model_uri is None:
        model_uri = log_run(storage, experiment_id, tags, dataset, training, holdout)
    version = mlflow.register_model(model_uri, model_name, tags=tags, await_registration_for=300)
    log.info("Registered %s v%s from %s", model_name, version.version, model_uri)
    return client.get_model_version(model_name, version.version), False


def version_tags(dag_id: str, run_id: str, dataset: DatasetSnapshot, training: TrainingResult) -> dict[str, str]:
    """Tags on the run and the version: which DAG run made it, from which data, with which settings."""
    return {
        TAG_DAG_ID: dag_id,
        TAG_RUN_ID: run_id,
        TAG_DATA_HASH: dataset["data_hash"],
        TAG_FINGERPRINT: training["fingerprint"],
    }
