"""persist_model: log the run to MLflow, register one model version per DAG run, and gate the champion alias.

The `champion` alias moves only after everything else succeeded, and only if the new version scores at least
as well as the current champion on this run's holdout; otherwise the version gets `challenger`.
"""

from __future__ import annotations

import json
import logging
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ml_pipeline.data import FEATURES, TARGET, content_hash, read_frame
from ml_pipeline.storage import Storage
from ml_pipeline.training import evaluate, model_from_bytes, skops_trusted_types

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
TAG_DAG_ID = "airflow_dag_id"
TAG_RUN_ID = "airflow_run_id"
TAG_DATA_HASH = "data_hash"
MODEL_REQUIREMENTS = ("scikit-learn", "mlflow", "pandas", "numpy", "scipy", "skops")


def use_tracking_server(tracking_uri: str) -> None:
    """Point MLflow at the tracking server (a URL, a database URI, or a SageMaker MLflow ARN).

    sagemaker-mlflow (needed for ARNs) adds a request-header provider that fails for every other URI, and MLflow
    then warns on each request; that one logger is quietened unless an ARN is in use.
    """
    mlflow.set_tracking_uri(tracking_uri)
    level = logging.WARNING if tracking_uri.startswith("arn:") else logging.ERROR
    logging.getLogger("mlflow.tracking.request_header.registry").setLevel(level)


def connect(tracking_uri: str, experiment_name: str) -> str:
    """Point MLflow at the tracking server and make sure the experiment exists; return its id."""
    use_tracking_server(tracking_uri)
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return mlflow.create_experiment(experiment_name, artifact_location=local_artifact_location(tracking_uri))
    except MlflowException:  # created concurrently by another run
        return mlflow.get_experiment_by_name(experiment_name).experiment_id


def local_artifact_location(tracking_uri: str) -> str | None:
    """For a local SQLite store, keep artifacts beside the database instead of under the current directory."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return (Path(urlparse(tracking_uri).path).parent / "artifacts").as_uri()


def model_requirements() -> list[str]:
    """Exact pins for the serving environment: explicit, so logging skips seconds of requirement inference."""
    return [f"{name}=={installed_version(name)}" for name in MODEL_REQUIREMENTS]


def find_version_for_run(client: MlflowClient, model_name: str, dag_id: str, run_id: str) -> ModelVersion | None:
    """The version an earlier attempt of this DAG run registered, so a retry reuses it instead of adding one."""
    quoted = run_id.replace("'", "\\'")
    versions = client.search_model_versions(
        f"name = '{model_name}' and tags.{TAG_DAG_ID} = '{dag_id}' and tags.{TAG_RUN_ID} = '{quoted}'"
    )
    return min(versions, key=lambda v: int(v.version)) if versions else None


def is_not_found(error: MlflowException) -> bool:
    """Whether the registry said the model, version or alias does not exist (as opposed to being unreachable)."""
    return error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def champion_version(client: MlflowClient, model_name: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException as error:
        if is_not_found(error):
            return None
        raise


def _confusion_matrix_figure(evaluation: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    display = ConfusionMatrixDisplay(np.array(evaluation["confusion_matrix"]), display_labels=evaluation["labels"])
    display.plot(cmap="Blues", colorbar=False)
    display.ax_.set_title("Holdout confusion matrix")
    return display.figure_


def log_and_register(
    *,
    storage: Storage,
    experiment_id: str,
    model_name: str,
    dag_id: str,
    run_id: str,
    dataset: dict[str, Any],
    training: dict[str, Any],
    split_params: dict[str, Any],
    holdout: pd.DataFrame,
) -> ModelVersion:
    """One MLflow run with params, metrics, plots, lineage and the model; then one registered version."""
    import matplotlib.pyplot as plt
    from mlflow.models import infer_signature

    model = model_from_bytes(storage.read_bytes(training["model_uri"]))
    evaluation = json.loads(storage.read_bytes(training["evaluation_uri"]))
    train = read_frame(dataset["train_uri"], storage)
    features = holdout[list(FEATURES)]
    lineage = {
        "data.source": dataset["source"],
        TAG_DATA_HASH: dataset["data_hash"],
        "data.rows": str(dataset["rows"]),
    }
    airflow_tags = {TAG_DAG_ID: dag_id, TAG_RUN_ID: run_id}
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{dag_id}.{run_id}", tags=airflow_tags | lineage):
        mlflow.log_params({**training["params"], **split_params})
        mlflow.log_metrics(evaluation["metrics"])
        mlflow.log_dict(evaluation["report"], "classification_report.json")
        figure = _confusion_matrix_figure(evaluation)
        mlflow.log_figure(figure, "confusion_matrix.png")
        plt.close(figure)
        for frame, context, uri in (
            (train, "training", dataset["train_uri"]),
            (holdout, "holdout", dataset["holdout_uri"]),
        ):
            mlflow.log_input(
                mlflow.data.from_pandas(
                    frame,
                    source=uri,
                    targets=TARGET,
                    name=f"wine-{context}",
                    digest=content_hash(frame)[:16],
                ),
                context=context,
            )
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            input_example=features.head(3),
            pip_requirements=model_requirements(),
            skops_trusted_types=skops_trusted_types(training["params"]["classifier"]),
        )
    return mlflow.register_model(info.model_uri, model_name, tags=airflow_tags | {TAG_DATA_HASH: dataset["data_hash"]})


def gate(
    client: MlflowClient,
    model_name: str,
    candidate: ModelVersion,
    candidate_score: float,
    holdout: pd.DataFrame,
    metric: str,
) -> dict[str, Any]:
    """Give the candidate `champion` if it scores at least as well as the champion on the same rows."""
    current = champion_version(client, model_name)
    if current is None:
        promoted, champion_score, reason = True, None, "no champion yet"
    elif current.version == candidate.version:
        promoted, champion_score, reason = True, candidate_score, "already champion (rerun of this DAG run)"
    else:
        try:
            champion_model = mlflow.pyfunc.load_model(f"models:/{model_name}/{current.version}")
            champion_score = float(evaluate(champion_model, holdout)["metrics"][metric])
        except Exception as error:  # the champion may be unloadable or expect another schema
            champion_score = None
            promoted, reason = False, f"champion v{current.version} could not be scored on this holdout: {error}"
        else:
            promoted = candidate_score >= champion_score
            comparison = ">=" if promoted else "<"
            reason = (
                f"{metric} {candidate_score:.4f} {comparison} champion v{current.version}'s {champion_score:.4f} "
                "on this run's holdout"
            )
    alias = CHAMPION if promoted else CHALLENGER
    client.set_registered_model_alias(model_name, alias, candidate.version)
    client.set_model_version_tag(model_name, candidate.version, "gate", f"{alias}: {reason}")
    log.info("Model %s v%s -> %s (%s)", model_name, candidate.version, alias, reason)
    return {
        "alias": alias,
        "promoted": promoted,
        "reason": reason,
        "previous_champion": str(current.version) if current else None,
        "champion_score": champion_score,
    }


def persist(
    *,
    storage: Storage,
    tracking_uri: str,
    experiment_name: str,
    model_name: str,
    gate_metric: str,
    dag_id: str,
    run_id: str,
    dataset: dict[str, Any],
    training: dict[str, Any],
    split_params: dict[str, Any],
) -> dict[str, Any]:
    """Log and register (once per DAG run), then gate the aliases. Returns a small summary for XCom."""
    experiment_id = connect(tracking_uri, experiment_name)
    client = MlflowClient()
    version = find_version_for_run(client, model_name, dag_id, run_id)
    holdout = read_frame(dataset["holdout_uri"], storage)
    if version is None:
        version = log_and_register(
            storage=storage,
            experiment_id=experiment_id,
            model_name=model_name,
            dag_id=dag_id,
            run_id=run_id,
            dataset=dataset,
            training=training,
            split_params=split_params,
            holdout=holdout,
        )
    else:
        log.info(
            "Reusing model %s v%s, registered by an earlier attempt of run %s", model_name, version.version, run_id
        )
    decision = gate(client, model_name, version, training["metrics"][gate_metric], holdout, gate_metric)
    return {
        "model_name": model_name,
        "version": str(version.version),
        "mlflow_run_id": version.run_id,
        "metrics": training["metrics"],
        **decision,
    }
