"""
### classification_pipeline

Trains several scikit-learn classifiers on the Wine data set every day, one per Celery worker slot, and publishes
the best in MLflow's model registry, where other services load it as `models:/wine-classifier@champion`.

1. **get_data** checks the configuration, reads the source (the bundled Wine data, a CSV or Parquet file, or a
   folder of Parquet files) in batches, validates it, makes a stratified train/holdout split that cannot leak and
   writes both to the artifact store. XCom: the candidates to train (its return value) and `dataset` (URIs, row
   counts, content hash, split settings).
2. **train_model** is mapped: one instance per candidate, each on whatever worker is free. It fits a scaling +
   classifier pipeline, scores it on the holdout and writes the model to the artifact store. XCom: model URI,
   settings, metrics and their fingerprint. A candidate that cannot be trained fails alone; the others go on.
3. **persist_model** logs one MLflow parent run with a child run per candidate and a leaderboard, registers the
   best candidate (a retry reuses its version), loads that version back from the registry, scores it and the
   champion on the same holdout rows and moves `champion` only if it is better (or as good and newer); otherwise it
   sets `challenger`. A new champion is announced as an event of the Asset `classification_pipeline_champion`.

Bad input fails at once with one line that says what to fix (XCom key `failure`); only transient errors
(throttling, timeouts, 5xx, dropped connections) are retried. Configuration (environment, the `ml_pipeline`
Variable, or the run's conf) is described in the project's README.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from airflow.sdk import AssetAlias, TriggerRule, dag, get_current_context, task

from task_runtime import (
    CHAMPION,
    DEFAULT_ARGS,
    candidate_failures,
    failing_clearly,
    run_prefix,
    task_config,
    task_storage,
    trigger_form,
)
from task_runtime.links import (
    MlflowRunLink,
    ModelVersionLink,
    linked_task,
    publish_persist_links,
    publish_training_links,
)

if TYPE_CHECKING:
    from ml_pipeline.contract import Candidate, DatasetSnapshot, PersistResult, TrainingResult

NEW_CHAMPION = AssetAlias("classification_pipeline_new_champion")  # events are attached only on promotion


@dag(
    dag_id="classification_pipeline",
    description="Trains scikit-learn candidates on the Wine data and promotes the best to @champion in MLflow",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ml", "scikit-learn", "mlflow"],
    doc_md=__doc__,
    params=trigger_form("training"),  # the Trigger button's form; empty fields keep the Variable's or defaults
)
def classification_pipeline() -> None:
    @task(execution_timeout=timedelta(minutes=20))
    def get_data() -> list[Candidate]:
        """
        #### get_data
        Reads `source_uri` (default: the bundled Wine data), validates it and writes a stratified train/holdout split
        under `<artifact_root>/classification_pipeline/<run_id>/`.

        - **In:** the run's settings (trigger form, the `ml_pipeline` Variable, the environment).
        - **Out:** the candidates to train (return value, one train_model instance each) and XCom `dataset`: the
          split's URIs, row counts and content hash. A bad source or setting fails here with one line (XCom `failure`).
        """
        import logging

        from ml_pipeline.data.snapshot import snapshot_dataset
        from ml_pipeline.training.train import check_hyperparams

        with failing_clearly():
            config = task_config()
            # When no candidate can train, this fails before any data is read; otherwise invalid ones fail alone.
            for line in check_hyperparams(config).values():
                logging.getLogger(__name__).warning("This candidate's train_model instance will fail: %s", line)
            dataset = snapshot_dataset(
                config.source_uri,
                run_prefix(config),
                task_storage(config),
                test_size=config.test_size,
                seed=config.random_seed,
                min_rows=config.min_rows,
                max_holdout_overlap=config.max_holdout_overlap,
            )
            get_current_context()["ti"].xcom_push(key="dataset", value=dataset)
            return [candidate.model_dump() for candidate in config.candidate_list()]

    # Mapped instances are named after their candidate in the UI, from the start (the arguments are rendered first).
    @linked_task(
        MlflowRunLink,
        execution_timeout=timedelta(minutes=60),
        map_index_template="{{ task.op_kwargs['candidate']['name'] }}",
    )
    def train_model(dataset: DatasetSnapshot, candidate: Candidate) -> TrainingResult:
        """
        #### train_model (one instance per candidate)
        Fits a scaling + classifier pipeline on the training rows and scores it on the holdout.

        - **In:** XCom `dataset` from get_data and one candidate (classifier, hyperparameters, name).
        - **Out:** the fitted model's URI in the artifact store, its settings, holdout metrics and fingerprint.
        - **Link "MLflow run":** this candidate's child run, which persist_model logs once all candidates are done.
        """
        from ml_pipeline.training.train import train_and_evaluate

        with failing_clearly():
            config = task_config()
            result = train_and_evaluate(dataset, run_prefix(config), task_storage(config), candidate, config.budget())
        publish_training_links(config, candidate["name"])
        return result

    @linked_task(
        MlflowRunLink,
        ModelVersionLink,
        execution_timeout=timedelta(minutes=30),
        trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS,  # the candidates that trained, if any did
        outlets=[NEW_CHAMPION],
    )
    def persist_model(
        dataset: DatasetSnapshot, candidates: list[Candidate], trainings: list[TrainingResult]
    ) -> PersistResult:
        """
        #### persist_model
        Logs the candidates to MLflow (a parent run, a child run each, a leaderboard), registers the best one and lets
        the champion gate decide: `@champion` moves only to a version that scores better on the same holdout rows.

        - **In:** XCom `dataset`, the candidates and every train_model result (failed candidates are listed as skipped).
        - **Out:** the registered version, its metrics and the gate's decision. The model is
          `models:/<model_name>/<version>`; services load `models:/<model_name>@champion`.
        - **Links:** "MLflow run" (the registered candidate's run, under the parent run with the leaderboard) and
          "Model version" (the version's page: its alias, metrics and the gate's reason).
        """
        from ml_pipeline.registry.publish import persist

        with failing_clearly():
            config = task_config()
            context = get_current_context()
            # One request for all results: iterating probes one past the end, which Airflow logs as an error.
            trained = [training for training in trainings[:] if training]
            result = persist(
                storage=task_storage(config),
                tracking_uri=config.mlflow_tracking_uri,
                experiment_name=config.experiment_name,
                model_name=config.model_name,
                gate_metric=config.gate_metric,
                artifact_root=config.artifact_root,
                dag_id=context["dag"].dag_id,
                run_id=context["run_id"],
                dataset=dataset,
                candidates=candidates,
                trainings=trained,
                failures=candidate_failures(candidates, trained),
            )
        publish_persist_links(config, result)
        if result["promoted"] and result["previous_champion"] != result["version"]:
            extra = {key: result[key] for key in ("model_name", "version", "metrics", "best_candidate")}
            context["outlet_events"][NEW_CHAMPION].add(CHAMPION, extra=extra)
        return result

    candidates = get_data()
    dataset = candidates["dataset"]
    trainings = train_model.partial(dataset=dataset).expand(candidate=candidates)
    persist_model(dataset, candidates, trainings)


classification_pipeline()
