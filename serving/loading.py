"""Which version the server should serve, and that version loaded and warmed up, ready to swap in.

A version is only ever served whole: it is downloaded, loaded and made to answer a warm-up request before anything
can see it, so a version that cannot do all three never replaces the one serving.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.data.schema import DatasetSchema, model_input
from ml_pipeline.errors import ModelLoadError
from ml_pipeline.scoring.rows import predict
from serving.settings import FOLLOWED, PINNED, ServerSettings

UNSEEN = "\x00unseen"  # a category no training data holds: the warm-up scores the unknown-category path too


@dataclass(frozen=True)
class Source:
    """Where versions come from: an alias to follow, or one pinned version (from the registry or a directory)."""

    name: str
    alias: str | None = None  # following models:/<name>@<alias>
    version: str | None = None  # pinned
    directory: str | None = None  # pinned, loaded from this MLflow model directory (SageMaker's /opt/ml/model)

    @classmethod
    def of(cls, settings: ServerSettings) -> Source:
        if followed := FOLLOWED.fullmatch(settings.model_uri):
            return cls(followed["name"], alias=followed["alias"])
        if pinned := PINNED.fullmatch(settings.model_uri):
            return cls(pinned["name"], version=pinned["version"])
        return cls(settings.model_name, version=settings.model_version, directory=settings.model_uri)

    @property
    def uri(self) -> str:
        return self.directory or f"models:/{self.name}" + (f"@{self.alias}" if self.alias else f"/{self.version}")

    @property
    def follows(self) -> bool:
        return self.alias is not None


@dataclass(frozen=True)
class ServedModel:
    """One loaded version: what answers requests, and what its answers are labelled with."""

    name: str
    version: str
    estimator: Any  # the scikit-learn pipeline; its classes_ are the schema's labels
    schema: DatasetSchema
    load_seconds: float

    def predict(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Classes and class probabilities of rows already checked against the schema (scoring/rows.py)."""
        return predict(self.estimator, model_input(rows, self.schema))


def current_version(source: Source) -> str:
    """The version the source means now: the alias resolved in the registry, or the pinned one."""
    if not source.follows:
        return str(source.version)
    from mlflow import MlflowClient

    from ml_pipeline.registry.lookup import resolve

    return str(resolve(MlflowClient(), source.name, str(source.alias)).version)


def load(source: Source, version: str) -> ServedModel:
    """The version loaded and warmed up, or ModelLoadError saying why it cannot serve."""
    started = time.monotonic()
    estimator, schema = _load_estimator(source, version)
    if schema is None:
        raise ModelLoadError(
            f"{source.name} v{version} carries no data set schema (registered before models carried one); register "
            "a new version with classification_pipeline"
        )
    model = ServedModel(source.name, version, estimator, schema, 0.0)
    warm_up(model)
    return ServedModel(source.name, version, estimator, schema, time.monotonic() - started)


def _load_estimator(source: Source, version: str) -> tuple[Any, DatasetSchema | None]:
    if source.directory is None:
        from ml_pipeline.registry.lookup import load_version

        return load_version(source.name, version)
    import mlflow

    from ml_pipeline.registry.lookup import carried_schema

    try:
        model = mlflow.pyfunc.load_model(source.directory)
    except Exception as error:
        raise ModelLoadError(f"the model in {source.directory} cannot be loaded: {error}") from error
    return model.get_raw_model(), carried_schema(model)


def warm_up(model: ServedModel) -> None:
    """Score two rows made from the schema (known and unknown categories, numbers at zero and one) and check the
    answer: a class the model knows per row and probabilities that sum to one."""
    rows = warm_up_rows(model.schema)
    try:
        labels, probabilities = model.predict(rows)
    except Exception as error:
        raise ModelLoadError(f"{model.name} v{model.version} failed its warm-up request: {error}") from error
    known = {str(label) for label in model.schema.labels}
    sums = probabilities.sum(axis=1) if probabilities.ndim == 2 else np.array([math.nan])
    if len(labels) != len(rows) or any(str(label) not in known for label in labels):
        raise ModelLoadError(f"{model.name} v{model.version} answered its warm-up with classes its schema lacks")
    if not np.allclose(sums, 1.0, atol=1e-3):
        raise ModelLoadError(f"{model.name} v{model.version} answered its warm-up with probabilities not summing to 1")


def warm_up_rows(schema: DatasetSchema) -> pd.DataFrame:
    columns: dict[str, list[Any]] = {}
    for feature in schema.features:
        if feature.kind == "numeric":
            columns[feature.name] = [0.0, 1.0]
        else:
            columns[feature.name] = [feature.categories[0] if feature.categories else UNSEEN, UNSEEN]
    if schema.segment_column:  # a router: both rows go to its fallback, which serves segments it has no model of
        columns[schema.segment_column] = [None, UNSEEN]
    return pd.DataFrame(columns)
