"""The pipeline's task functions run in-process, as the DAG runs them, against throwaway stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import Candidate, DatasetSnapshot, PersistResult, RunIds, TrainingResult
from ml_pipeline.data.snapshot import snapshot_dataset
from ml_pipeline.data.splits import read_schema, read_split
from ml_pipeline.registry.publish import persist
from ml_pipeline.registry.run_log import Holdout
from ml_pipeline.store.objects import Storage, join
from ml_pipeline.training.train import train_and_evaluate


def read_frame(uri: str, storage: Storage) -> pd.DataFrame:
    """A split file as get_data wrote it, whole (the pipeline itself reads splits with read_split)."""
    with storage.local_copy(uri) as path:
        return pd.read_parquet(path)


MODEL = "wine-classifier"
DAG_ID = "classification_pipeline"
WEAK = {"classifier": "random_forest", "hyperparams": {"n_estimators": 1, "max_depth": 1}}  # worse than the default


def candidate(classifier: str = "logistic_regression", hyperparams: dict[str, Any] | None = None, name: str = ""):
    return Candidate(name=name or classifier, classifier=classifier, hyperparams=hyperparams or {})


def snapshot(
    root: str | Path, run_id: str, *, source: str = "", seed: int = 42, storage: Storage | None = None, **settings: Any
):
    """get_data for one DAG run, writing under `root`/<run_id>; `settings` are more of the configuration's."""
    config = PipelineConfig(source_uri=source, random_seed=seed, **settings)
    return snapshot_dataset(config, join(str(root), run_id), storage or Storage())


def train(
    root: str | Path,
    run_id: str,
    *,
    classifier: str = "logistic_regression",
    hyperparams: dict[str, Any] | None = None,
    source: str = "",
    seed: int = 42,
    storage: Storage | None = None,
    dataset: DatasetSnapshot | None = None,
    settings: dict[str, Any] | None = None,
) -> tuple[DatasetSnapshot, TrainingResult]:
    """get_data (unless `dataset` is given) and one train_model instance; `settings` are more of the configuration's
    (target_column, ...)."""
    storage = storage or Storage()
    dataset = dataset or snapshot(root, run_id, source=source, seed=seed, storage=storage, **(settings or {}))
    training = train_and_evaluate(dataset, join(str(root), run_id), storage, candidate(classifier, hyperparams))
    return dataset, training


def publish(
    root: str | Path,
    tracking_uri: str,
    run_id: str,
    *,
    storage: Storage | None = None,
    trained: tuple[DatasetSnapshot, TrainingResult | list[TrainingResult]] | None = None,
    candidates: list[Candidate] | None = None,
    failures: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    **training_settings: Any,
) -> PersistResult:
    """A whole DAG run: snapshot, train (one candidate unless `trained` holds more), then persist_model. `settings`
    are more of the configuration's, for every step (target_column, allow_schema_change, ...)."""
    storage = storage or Storage()
    dataset, trainings = trained or train(root, run_id, storage=storage, settings=settings, **training_settings)
    trainings = trainings if isinstance(trainings, list) else [trainings]
    config = run_config(root, tracking_uri, **(settings or {}))
    candidates = candidates or [candidate(t["classifier"], name=t["candidate"]) for t in trainings]
    return persist(config, RunIds(DAG_ID, run_id), storage, dataset, candidates, trainings, failures or {})


def run_config(root: str | Path, tracking_uri: str, **settings: Any) -> PipelineConfig:
    """The configuration these runs have: the throwaway stores, the test model's name, macro F1 as the gate."""
    return PipelineConfig(**{"mlflow_tracking_uri": tracking_uri, "artifact_root": str(root), "experiment_name": DAG_ID,
                             "model_name": MODEL, "gate_metric": "f1_macro"} | settings)  # fmt: skip


@pytest.fixture
def tracking_uri(tmp_path: Path) -> Iterator[str]:
    """A throwaway MLflow store, the process's tracking URI for the test."""
    uri = f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def alias(name: str) -> str | None:
    """The version the test model's alias points at; None when it points at none."""
    try:
        return str(MlflowClient().get_model_version_by_alias(MODEL, name).version)
    except mlflow.exceptions.MlflowException:
        return None


def tags(version: str) -> dict[str, str]:
    return MlflowClient().get_model_version(MODEL, version).tags


def holdout_of(dataset: DatasetSnapshot, storage: Storage | None = None) -> Holdout:
    """A run's holdout as persist_model reads it."""
    storage = storage or Storage()
    schema = read_schema(dataset["schema_uri"], storage)
    return Holdout(schema, *read_split(dataset["holdout_uri"], schema, storage))


def segmented_run(root: str | Path, tracking_uri: str, run_id: str, source: str | Path, **settings: Any):
    """A whole segmented DAG run, task by task: get_data, train_model and persist_model (the fallback), then
    plan_segments (on either segment_engine), each group's train_segments and persist_segments, and publish_router.
    Returns the dataset, each group's result and the router's."""
    from ml_pipeline.segments.persist import persist_group
    from ml_pipeline.segments.plan import fallback_settings
    from ml_pipeline.segments.router import publish_router
    from ml_pipeline.segments.spark_engine import plan_segments
    from ml_pipeline.segments.train import train_group

    config = run_config(root, tracking_uri, source_uri=str(source), **settings)
    storage, run, prefix = Storage(), RunIds(DAG_ID, run_id), join(str(root), DAG_ID, run_id)
    dataset = snapshot_dataset(config, prefix, storage)
    candidates = [spec.as_candidate() for spec in config.candidate_list()]
    trainings = [train_and_evaluate(dataset, prefix, storage, spec) for spec in candidates]
    persist(fallback_settings(config), run, storage, dataset, candidates, trainings, {})
    groups = [
        persist_group(config, run, storage, group, train_group(config, prefix, storage, group, candidates), candidates)
        for group in plan_segments(config, prefix, storage, dataset, candidates, max_map_length=1024, timeout_s=900)
    ]
    return dataset, groups, publish_router(config, run, prefix, storage, dataset)
