"""
### batch_predictions

Scores new rows with the champion of classification_pipeline, every day and whenever the champion changes, and
writes the predictions as Parquet for the next system: on the Airflow worker for data one machine handles, on Spark
(EMR Serverless on AWS) for more.

1. **pin_model** resolves `models:/wine-classifier@champion` (or the run conf's `model_version`) once; every later
   step scores with that version, so a promotion during the run cannot mix two models. XCom: the scoring plan.
2. **choose_engine** follows `scoring_engine`: `local` streams the source through the model in record batches on the
   worker; `spark` runs the same rules with `mlflow.pyfunc.spark_udf` in local Spark, or on EMR Serverless when
   `emr_application_id` is set (**emr_job** prepares it, **score_on_emr** submits it and waits).
3. **publish_predictions** checks the counts (fails when more than `max_rejected_fraction` of the rows cannot be
   scored), logs them to MLflow, and writes `_SUCCESS` last. XCom: rows in, scored and rejected, rows per second,
   the output URI and the model version.

Output: `<artifact_root>/batch_predictions/<run_id>/predictions/` (every input column, `prediction`, one
`probability_<class>` per class, `model_name`, `model_version`, `scored_at`) and `rejected/` (the rows that could
not be scored, with `reason`). A rerun replaces its own output; an output without `_SUCCESS` is not complete.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, TriggerRule, dag, get_current_context, task

from task_runtime import (
    CHAMPION,
    DEFAULT_ARGS,
    PREDICTIONS,
    failing_clearly,
    run_prefix,
    task_config,
    task_storage,
    trigger_form,
)
from task_runtime.links import MlflowRunLink, ModelVersionLink, PredictionsLink, linked_task, publish_scoring_links

if TYPE_CHECKING:
    from ml_pipeline.contract import EmrJob, ScoringCounts, ScoringPlan, ScoringSummary

SCORING_TIMEOUT = timedelta(hours=2)
EMR_POLL_SECONDS = 60
ENGINE_TASKS = {"local": "score_locally", "spark": "score_on_spark", "emr-serverless": "emr_job"}


@dag(
    dag_id="batch_predictions",
    description="Scores new rows with the pinned @champion (worker or Spark) and writes Parquet predictions",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"), assets=CHAMPION),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ml", "mlflow", "batch-scoring"],
    doc_md=__doc__,
    params=trigger_form("scoring"),  # the Trigger button's form; empty fields keep the Variable's or defaults
)
def batch_predictions() -> None:
    @task(execution_timeout=timedelta(minutes=5))
    def pin_model() -> ScoringPlan:
        """
        #### pin_model
        Resolves `models:/<model_name>@champion` (or the form's `model_version`) to one registered version, so every
        later step scores with the same model. **Out:** the scoring plan (model URI and version, source, output).
        """
        from ml_pipeline.scoring.batch import pin_model as pin

        with failing_clearly():
            config = task_config()
            engine = "emr-serverless" if config.scoring_engine == "spark" and config.emr_application_id else None
            return pin(
                config.mlflow_tracking_uri,
                config.model_name,
                config.model_version,
                source=config.scoring_source_uri,
                output_uri=run_prefix(config),
                engine=engine or config.scoring_engine,
                max_rejected_fraction=config.max_rejected_fraction,
            )

    @task.branch(execution_timeout=timedelta(minutes=1))
    def choose_engine(plan: ScoringPlan) -> str:
        """Follows `scoring_engine`: score_locally, score_on_spark, or emr_job >> score_on_emr on EMR Serverless."""
        return ENGINE_TASKS[plan["engine"]]

    @task(execution_timeout=SCORING_TIMEOUT)
    def score_locally(plan: ScoringPlan) -> ScoringCounts:
        """Streams the source through the model in record batches on this worker; writes Parquet parts."""
        from ml_pipeline.scoring.batch import score_locally as score

        with failing_clearly():
            return score(plan, task_storage(task_config()))

    @task(execution_timeout=SCORING_TIMEOUT)
    def score_on_spark(plan: ScoringPlan) -> None:
        """Runs spark_jobs/score_batch.py in local Spark on this worker (`mlflow.pyfunc.spark_udf`)."""
        from ml_pipeline.scoring.spark import run_locally

        with failing_clearly():
            run_locally(plan, task_config().spark_job_script_uri, SCORING_TIMEOUT.total_seconds() - 60)

    @task(execution_timeout=timedelta(minutes=5))
    def emr_job(plan: ScoringPlan) -> EmrJob:
        """Prepares the EMR Serverless job run (script, model, output, logs) that score_on_emr submits."""
        from ml_pipeline.scoring.spark import emr_job as job
        from ml_pipeline.store.objects import join

        with failing_clearly():
            config = task_config()
            return job(
                plan,
                application_id=config.emr_application_id,
                role_arn=config.emr_execution_role_arn,
                aws_conn_id=config.aws_conn_id,
                script_uri=config.spark_job_script_uri,
                python_env_uri=config.emr_python_env_uri,
                log_uri=join(config.artifact_root, "emr-logs") + "/",
            )

    @linked_task(
        ModelVersionLink,
        MlflowRunLink,
        PredictionsLink,
        execution_timeout=timedelta(minutes=10),
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,  # whichever engine ran
        outlets=[PREDICTIONS],
    )
    def publish_predictions(plan: ScoringPlan) -> ScoringSummary:
        """
        #### publish_predictions
        Checks the counts (more than `max_rejected_fraction` rejected rows fails the run), logs them to MLflow and
        writes `_SUCCESS` last, then announces the Asset `batch_predictions_output`.

        - **Out:** rows in, scored and rejected, rows per second, the output URI and the model version.
        - **Links:** "Predictions" (the output folder in the S3 console, when it is in AWS S3), "Model version" (the
          version used) and "MLflow run" (this scoring's run, which also names the output).
        """
        import logging

        from ml_pipeline.scoring.batch import publish

        with failing_clearly():
            config = task_config()
            context = get_current_context()
            summary = publish(
                plan,
                task_storage(config),
                dag_id=context["dag"].dag_id,
                run_id=context["run_id"],
                log_to_mlflow=config.log_scoring_to_mlflow,
            )
        publish_scoring_links(config, summary)
        logging.getLogger(__name__).info(
            "Scored %(rows_scored)d of %(rows_in)d rows (%(rows_rejected)d rejected, %(rows_per_second).0f rows/s) "
            "with %(model_name)s version %(model_version)s on %(engine)s: %(output_uri)s",
            summary,
        )
        extra = {key: summary[key] for key in ("output_uri", "model_name", "model_version", "rows_scored")}
        context["outlet_events"][PREDICTIONS].extra = extra
        return summary

    plan = pin_model()
    job = emr_job(plan)
    # Bounded: at most EMR_POLL_SECONDS * attempts of waiting, then the task fails (and cancels the job).
    score_on_emr = EmrServerlessStartJobOperator(
        task_id="score_on_emr",
        application_id=job["application_id"],
        execution_role_arn=job["execution_role_arn"],
        aws_conn_id=job["aws_conn_id"],
        job_driver=job["job_driver"],
        configuration_overrides=job["configuration_overrides"],
        name=job["name"],
        config={"executionTimeoutMinutes": int(SCORING_TIMEOUT.total_seconds() // 60)},  # EMR's own bound
        wait_for_completion=True,
        waiter_delay=EMR_POLL_SECONDS,
        waiter_max_attempts=int(SCORING_TIMEOUT.total_seconds() // EMR_POLL_SECONDS),
        execution_timeout=SCORING_TIMEOUT + timedelta(minutes=5),
    )
    engines = [score_locally(plan), score_on_spark(plan), job]
    choose_engine(plan) >> engines
    job >> score_on_emr
    [*engines[:2], score_on_emr] >> publish_predictions(plan)


batch_predictions()
