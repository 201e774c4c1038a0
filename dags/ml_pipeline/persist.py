"""persist_model: register this run's model (once, whatever the retries), then gate it under the registry lock."""

from __future__ import annotations

import warnings

from mlflow import MlflowClient

from ml_pipeline.contract import DatasetSnapshot, PersistResult, TrainingResult
from ml_pipeline.data import read_frame
from ml_pipeline.gate import gate, score_candidate
from ml_pipeline.locking import registry_lock
from ml_pipeline.registry import register, version_tags
from ml_pipeline.storage import Storage
from ml_pipeline.tracking import connect, explained_tracking_errors


def import_skops_quietly() -> None:
    """Import skops (MLflow's sklearn format) without its flood of Airflow deprecation warnings.

    On import, skops looks every scipy ufunc up in every loaded module, because scipy 2's ufunc wrappers have no
    `__module__`. In a task process that includes Airflow's compatibility modules, which answer each lookup with a
    DeprecatedImportWarning (a FutureWarning): about 1,160 log lines per run. Only this import is filtered.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import skops.io  # noqa: F401


def persist(
    *,
    storage: Storage,
    tracking_uri: str,
    experiment_name: str,
    model_name: str,
    gate_metric: str,
    artifact_root: str,
    dag_id: str,
    run_id: str,
    dataset: DatasetSnapshot,
    training: TrainingResult,
) -> PersistResult:
    """Log and register (once per training), then gate the aliases. Returns a small summary for XCom."""
    import_skops_quietly()
    holdout = read_frame(dataset["holdout_uri"], storage)
    with explained_tracking_errors(tracking_uri):
        experiment_id = connect(tracking_uri, experiment_name)
        client = MlflowClient()
        version, reused = register(
            storage,
            client,
            experiment_id=experiment_id,
            model_name=model_name,
            tags=version_tags(dag_id, run_id, dataset, training),
            dataset=dataset,
            training=training,
            holdout=holdout,
        )
        metrics = score_candidate(client, model_name, version, holdout)
        with registry_lock(storage, artifact_root, model_name):
            decision = gate(client, model_name, version, metrics, holdout, gate_metric)
    return {
        "model_name": model_name,
        "version": str(version.version),
        "mlflow_run_id": version.run_id,
        "reused": reused,
        "metrics": metrics,
        "alias": decision.alias,
        "promoted": decision.promoted,
        "reason": decision.reason,
        "previous_champion": str(decision.champion.version) if decision.champion else None,
        "champion_score": decision.champion_score,
    }
