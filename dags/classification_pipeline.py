"""
### classification_pipeline

Trains scikit-learn candidates on the configured data (the Wine data set by default) every day, one mapped
**get_data** >> **train_model** instance per candidate on whichever Celery worker slot is free, then **persist_model**
registers the best in MLflow and moves `models:/<model_name>@champion` only to a version that earned it. A new
champion is an event of the Asset `classification_pipeline_champion`, on which batch_predictions is scheduled.
With `require_approval`, a version the gate would promote waits as `@challenger` for a person's answer in the UI
(**approve_champion**): Approve gates it again and moves `@champion` (**promote_champion**); Reject, or no answer in
time, keeps it challenger (**keep_challenger**).
With `segment_column`, every segment also gets its own model (task_runtime/segment_tasks.py): **train_segments** and
**persist_segments** run per group of segments (mapped; or Spark trains them, `segment_engine`), persist_model's model
becomes the fallback, and **publish_router** makes `@champion` a router that sends each row to its segment's champion
(docs/segments.md).

Each task's doc (its Details tab) says what it reads, writes and refuses. Settings come from the trigger form, the
`ml_pipeline` Variable and the environment (the repository's `docs/configuration.md`); its guarantees are in
`docs/how-it-works.md`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, TriggerRule, XComArg, dag, get_current_context, task

from task_runtime import (
    DATASET_KEY,
    DEFAULT_ARGS,
    DRIFT_ASSET,
    PROMOTIONS,
    announce_champion,
    candidate_failures,
    pipeline_task,
    trigger_form,
)
from task_runtime.approval import ANSWER_KEY, ChampionApproval
from task_runtime.links import (
    MlflowRunLink,
    ModelVersionLink,
    linked_task,
    publish_persist_links,
    publish_training_links,
)
from task_runtime.segment_tasks import segment_stage

if TYPE_CHECKING:
    from ml_pipeline.contract import (
        ApprovalAnswer,
        ApprovalResult,
        Candidate,
        DatasetSnapshot,
        PersistResult,
        TrainingResult,
    )

CHAMPION_DETAILS = ("model_name", "version", "metrics", "best_candidate")  # the champion Asset event's extra


@dag(
    dag_id="classification_pipeline",
    description="Trains scikit-learn candidates on your data and promotes the best to @champion in MLflow",
    # Daily, and on each drift or decay event of batch_predictions; those runs train only if retrain_on_drift is on.
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 0 * * *", timezone="UTC"), assets=DRIFT_ASSET),
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
        Checks the settings (each candidate's hyperparameters with scikit-learn's own constraints) before reading
        anything, reads `source_uri` in batches (a stratified sample beyond `max_training_rows`; rows without a label
        dropped and counted), infers the data set's schema (features, their kinds, gaps, categories, labels; columns
        that cannot be features set aside by name), validates the rows, makes a stratified train/holdout split that
        cannot leak, and writes the split and the schema under `<artifact_root>/classification_pipeline/<run_id>/data/`.

        - **Out:** the candidates to train (its return value: one train_model instance each) and XCom `dataset`: the
          split's and schema's URIs, row counts, what was set aside or skipped, and a SHA-256 of the values.
        - **Fails at once** (one line, XCom `failure`) on bad settings or data, when no candidate has valid settings,
          or when the store refuses (a missing bucket, denied access, a full disk).
        - **Skipped**, with the whole run, when a drift or decay event started the run and `retrain_on_drift` is off.
        """
        from airflow.sdk.exceptions import AirflowSkipException

        from ml_pipeline.data.snapshot import snapshot_dataset
        from ml_pipeline.training.train import check_hyperparams

        with pipeline_task() as run:
            if get_current_context()["dag_run"].run_type == "asset_triggered" and not run.config.retrain_on_drift:
                raise AirflowSkipException("a drift or decay event started this run; retrain_on_drift is off")
            # When no candidate can train, this fails before any data is read; otherwise invalid ones fail alone.
            for line in check_hyperparams(run.config).values():
                logging.getLogger(__name__).warning("This candidate's train_model instance will fail: %s", line)
            dataset = snapshot_dataset(run.config, run.prefix, run.storage)
            get_current_context()["ti"].xcom_push(key=DATASET_KEY, value=dataset)
            return [candidate.as_candidate() for candidate in run.config.candidate_list()]

    # Mapped instances are named after their candidate in the UI, from the start (the arguments are rendered first).
    @linked_task(
        MlflowRunLink,
        execution_timeout=timedelta(minutes=60),
        map_index_template="{{ task.op_kwargs['candidate']['name'] }}",
    )
    def train_model(dataset: DatasetSnapshot, candidate: Candidate) -> TrainingResult:
        """
        #### train_model (one instance per candidate)
        Fits the schema's preprocessing (imputation, category encoding, scaling where the classifier needs it) and the
        classifier as one pipeline that takes raw rows, within what a candidate may cost (`max_model_mb`,
        `max_fit_minutes`), scores it on the holdout (accuracy, balanced accuracy, macro F1, ROC AUC, log loss,
        per-class report, confusion matrix) and writes model and evaluation under `model/<candidate>/`.

        - **Out:** the model's URI, its settings, holdout metrics and a fingerprint of the data, split and settings.
        - **Fails alone** (the others go on) when the candidate's settings cannot be fitted or cost too much.
        - **Link "MLflow run":** the candidate's child run, which persist_model logs once all candidates are done.
        """
        from ml_pipeline.training.train import train_and_evaluate

        with pipeline_task() as run:
            result = train_and_evaluate(dataset, run.prefix, run.storage, candidate, run.config.budget())
        publish_training_links(run.config, candidate["name"])
        return result

    @linked_task(
        MlflowRunLink,
        ModelVersionLink,
        execution_timeout=timedelta(minutes=30),
        trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS,  # the candidates that trained, if any did
        outlets=[PROMOTIONS],
    )
    def persist_model(
        dataset: DatasetSnapshot, candidates: list[Candidate], trainings: list[TrainingResult]
    ) -> PersistResult:
        """
        #### persist_model
        Logs one MLflow parent run (split, lineage, schema, leaderboard) with a child run per trained candidate,
        registers the best with the schema in its metadata (a retry reuses its version), loads that version back from
        the registry, scores it and the champion on the same holdout rows, and moves `@champion` only if it is better
        (or as good and newer); otherwise it sets `@challenger`. A champion that cannot read the new data's schema
        stays, unless `allow_schema_change`. Failed candidates are listed as skipped, with their reason.

        - **Out:** the registered version, its metrics and the gate's decision. Services load
          `models:/<model_name>@champion`.
        - **Fails** when no candidate trained, a candidate met a full disk or a refusing store, or MLflow refuses.
        - **Links:** "MLflow run" (the registered candidate's run) and "Model version" (its page: alias, metrics and
          the gate's reason).
        - **With `segment_column`** it registers `<model_name>.all`, the fallback, and publish_router announces.
        """
        from ml_pipeline.registry.publish import persist
        from ml_pipeline.segments.plan import fallback_settings

        with pipeline_task() as run:
            # One request for all results: iterating probes one past the end, which Airflow logs as an error.
            trained = [training for training in trainings[:] if training]
            failures = candidate_failures(candidates, trained)
            config = fallback_settings(run.config)
            result = persist(config, run.ids, run.storage, dataset, candidates, trained, failures)
        publish_persist_links(run.config, result)
        if config is run.config:  # with segments, publish_router announces the champion
            announce_champion(result, {key: value for key, value in result.items() if key in CHAMPION_DETAILS})
        return result

    approve_champion = ChampionApproval(
        task_id="approve_champion",
        execution_timeout=timedelta(minutes=10),  # to ask and to take the answer; the wait is approval_timeout_hours
        doc_md="""
        #### approve_champion (with `require_approval`)
        Asks in the Airflow UI (Required actions) whether persist_model's proposed version may take `@champion`:
        its holdout metrics beside the champion's, the gate's reason, a link to the version in MLflow, and a comment
        field. It waits without holding a worker slot, at most `approval_timeout_hours`.

        - **Out:** XCom `answer`: approved, rejected or timed out, who, when and the comment.
        - **Skipped** (and the tasks after it) when nothing was proposed: approval not required, or no better version.
        - **Approve** runs promote_champion; **Reject**, or no answer in time, runs keep_challenger.
        """,
    )

    @task(execution_timeout=timedelta(minutes=30), outlets=[PROMOTIONS])
    def promote_champion(dataset: DatasetSnapshot, result: PersistResult, answer: ApprovalAnswer) -> ApprovalResult:
        """
        #### promote_champion (on Approve)
        Gates the approved version again on its run's holdout, under the registry lock, against whatever is champion
        now (the gate's compare-and-set), and moves `@champion` to it only if it still earns it: a champion that
        changed meanwhile to a better version stays. Records the answer on the version (tags `approval*`).

        - **Out:** the outcome, and an event of the Asset `classification_pipeline_champion` when champion moved.
        """
        from ml_pipeline.registry.approval import promote

        with pipeline_task() as run:
            outcome = promote(run.config, run.storage, dataset, result, answer)
        announce_champion(outcome, {key: value for key, value in result.items() if key in CHAMPION_DETAILS})
        return outcome

    @task(execution_timeout=timedelta(minutes=10))
    def keep_challenger(result: PersistResult, answer: ApprovalAnswer) -> ApprovalResult:
        """
        #### keep_challenger (on Reject or timeout)
        Records the rejection (who, when, the comment) or the timeout on the version, which stays `@challenger`;
        the champion stays.

        - **Out:** the outcome.
        """
        from ml_pipeline.registry.approval import keep

        with pipeline_task() as run:
            return keep(run.config, result, answer)

    candidates = get_data()
    dataset = XComArg(candidates.operator, key=DATASET_KEY)  # type: ignore[attr-defined]  # get_data's other output
    trainings = train_model.partial(dataset=dataset).expand(candidate=candidates)
    result = persist_model(dataset, candidates, trainings)
    segment_stage(dataset, candidates, fallback=result)
    answer = XComArg(approve_champion, key=ANSWER_KEY)
    result >> approve_champion >> [promote_champion(dataset, result, answer), keep_challenger(result, answer)]


classification_pipeline()
