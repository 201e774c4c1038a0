"""Look a registered model up the way other services do (`models:/<name>@champion`) and predict with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ml_pipeline.data import FEATURES
from ml_pipeline.registry import CHAMPION, find_version_for_run, is_not_found


class ModelNotFoundError(LookupError):
    """The registered model, version or alias does not exist."""


def resolve(client: MlflowClient, name: str, alias: str = CHAMPION, version: str | None = None) -> ModelVersion:
    try:
        return client.get_model_version(name, version) if version else client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if not is_not_found(error):
            raise
        wanted = f"version {version}" if version else f"alias '{alias}'"
        raise ModelNotFoundError(
            f"model '{name}' has no {wanted} in the registry at {mlflow.get_tracking_uri()}"
        ) from error


def version_for_run(client: MlflowClient, name: str, dag_id: str, run_id: str) -> ModelVersion:
    found = find_version_for_run(client, name, dag_id, run_id)
    if found is None:
        raise ModelNotFoundError(f"no version of '{name}' was registered by {dag_id} run {run_id}")
    return found


def describe(client: MlflowClient, model_version: ModelVersion) -> dict[str, Any]:
    """What a person deciding whether to trust a version wants to see."""
    current = client.get_model_version(model_version.name, model_version.version)
    run = client.get_run(current.run_id) if current.run_id else None
    return {
        "name": current.name,
        "version": str(current.version),
        "aliases": list(current.aliases),
        "run_id": current.run_id,
        "metrics": {key: run.data.metrics[key] for key in ("accuracy", "f1_macro") if run and key in run.data.metrics},
        "data_hash": current.tags.get("data_hash"),
        "gate": current.tags.get("gate"),
        "uri": f"models:/{current.name}/{current.version}",
    }


def read_rows(path: Path) -> pd.DataFrame:
    """Rows to score from CSV (header row) or JSON (a list of objects, or one object)."""
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
    elif path.suffix.lower() == ".json":
        payload = json.loads(path.read_text())
        frame = pd.DataFrame(payload if isinstance(payload, list) else [payload])
    else:
        raise ValueError(f"{path}: expected a .csv or .json file")
    missing = [column for column in FEATURES if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing feature columns: {', '.join(missing)}")
    return frame[list(FEATURES)].astype("float64")


def predict(model_version: ModelVersion, rows: pd.DataFrame) -> list[Any]:
    model = mlflow.pyfunc.load_model(f"models:/{model_version.name}/{model_version.version}")
    return [value.item() if hasattr(value, "item") else value for value in model.predict(rows)]
