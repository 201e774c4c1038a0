"""The pipeline's task functions run in-process, as the DAG runs them, against throwaway stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml_pipeline.contract import DatasetSnapshot, PersistResult, TrainingResult
from ml_pipeline.data import snapshot_dataset
from ml_pipeline.persist import persist
from ml_pipeline.storage import Storage, join
from ml_pipeline.training import train_and_evaluate

MODEL = "wine-classifier"
DAG_ID = "classification_pipeline"


def train(
    root: str | Path,
    run_id: str,
    *,
    classifier: str = "logistic_regression",
    hyperparams: dict[str, Any] | None = None,
    source: str = "",
    seed: int = 42,
    storage: Storage | None = None,
) -> tuple[DatasetSnapshot, TrainingResult]:
    """get_data and train_model for one DAG run, writing under `root`/<run_id>."""
    storage = storage or Storage()
    prefix = join(str(root), run_id)
    dataset = snapshot_dataset(source, prefix, storage, test_size=0.25, seed=seed, min_rows=100)
    training = train_and_evaluate(dataset, prefix, storage, classifier=classifier, hyperparams=hyperparams or {})
    return dataset, training


def publish(
    root: str | Path,
    tracking_uri: str,
    run_id: str,
    *,
    storage: Storage | None = None,
    trained: tuple[DatasetSnapshot, TrainingResult] | None = None,
    **training_settings: Any,
) -> PersistResult:
    """All three tasks of one DAG run: snapshot, train, then register and gate (persist_model)."""
    storage = storage or Storage()
    dataset, training = trained or train(root, run_id, storage=storage, **training_settings)
    return persist(
        storage=storage,
        tracking_uri=tracking_uri,
        experiment_name=DAG_ID,
        model_name=MODEL,
        gate_metric="f1_macro",
        artifact_root=str(root),
        dag_id=DAG_ID,
        run_id=run_id,
        dataset=dataset,
        training=training,
    )
