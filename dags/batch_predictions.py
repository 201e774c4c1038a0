"""
### batch_predictions

Scores new rows with the champion of classification_pipeline, every day and whenever the champion changes, and
writes the predictions as Parquet for the next system: **pin_model** fixes the version once, **choose_engine**
follows `scoring_engine` (the Airflow worker, local Spark, or EMR Serverless through **emr_job** and
**score_on_emr**), **publish_predictions** checks the counts, measures drift against the version's training data and
marks the output complete, **measure_quality** joins true labels that have arrived to past predictions, and
**announce_drift** announces `batch_predictions_drift` when a drift threshold was crossed or the champion decayed.

Output: `<artifact_root>/batch_predictions/<run_id>/predictions/` (every input column, `prediction` as the original
label, one probability column per class, `model_name`, `model_version`, `scored_at`), `rejected/` (the rows that
could not be scored by the schema the model carries, with `reason`) and `drift/` (drift.json, report.html). A rerun
replaces its own output; an output without `_SUCCESS` is not complete. Each task's doc says what it does; the
repository's `docs/batch-predictions.md` and `docs/monitoring.md` have the whole story.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, TriggerRule, dag, get_current_context, task

from task_runtime import CHAMPION_ASSET, DEFAULT_ARGS, DRIFT_ASSET, PREDICTIONS_ASSET, pipeline_task, trigger_form
from task_runtime.emr import emr_job_run
from task_runtime.links import (
    DriftReportLink,
    MlflowRunLink,
    ModelVersionLink,
    PredictionsLink,
    linked_task,
    publish_scoring_links,
)

if TYPE_CHECKING:
    from ml_pipeline.contract import EmrJob, LiveQuality, ScoringCounts, ScoringPlan, ScoringSummary

SCORING_TIMEOUT = timedelta(hours=2)
ENGINE_TASKS = {"local": "score_locally", "spark": "score_on_spark", "emr-serverless": "emr_job"}


@dag(
    dag_id="batch_predictions",
    description="Scores new rows with the pinned @champion (worker or Spark) and writes Parquet predictions",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"), assets=CHAMPION_ASSET),
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
        Resolves `models:/<model_name>@champion` (or the form's `model_version`) to one registered version, once: every
        later step scores with that version, so a promotion during the run cannot mix two models.

        - **Out:** the scoring plan (model URI and version, source, output, engine).
        """
        from ml_pipeline.scoring.batch import pin_version

        with pipeline_task() as run:
            return pin_version(run.config, run.prefix)

    @task.branch(execution_timeout=timedelta(minutes=1))
    def choose_engine(plan: ScoringPlan) -> str:
        """Follows `scoring_engine`: score_locally, score_on_spark, or emr_job >> score_on_emr on EMR Serverless."""
        return ENGINE_TASKS[plan["engine"]]

    @task(execution_timeout=SCORING_TIMEOUT)
    def score_locally(plan: ScoringPlan) -> ScoringCounts:
        """Streams the source through the model in record batches on this worker (memory stays flat whatever the
        rows), checking each row against the schema the model carries; writes scored and rejected rows as Parquet
        parts, and the counts (rows with categories training never saw are scored and counted)."""
        from ml_pipeline.scoring.batch import score_on_worker

        with pipeline_task() as run:
            return score_on_worker(plan, run.storage)

    @task(execution_timeout=SCORING_TIMEOUT)
    def score_on_spark(plan: ScoringPlan) -> None:
        """Runs spark_jobs/score_batch.py in local Spark on this worker (`mlflow.pyfunc.spark_udf`), same rules."""
        from ml_pipeline.scoring.spark import run_locally

        with pipeline_task() as run:
            run_locally(plan, run.config.spark_job_script_uri, SCORING_TIMEOUT.total_seconds() - 60)

    @task(execution_timeout=timedelta(minutes=5), multiple_outputs=True)  # score_on_emr reads its keys
    def emr_job(plan: ScoringPlan) -> EmrJob:
        """Prepares the EMR Serverless job run (script, model, output, logs) that score_on_emr submits."""
        from ml_pipeline.scoring.spark import emr_job_run

        with pipeline_task() as run:
            return emr_job_run(plan, run.config)

    @linked_task(
        ModelVersionLink,
        MlflowRunLink,
        PredictionsLink,
        DriftReportLink,
        execution_timeout=timedelta(minutes=10),
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,  # whichever engine ran
        outlets=[PREDICTIONS_ASSET],
    )
    def publish_predictions(plan: ScoringPlan) -> ScoringSummary:
        """
        #### publish_predictions
        Checks the counts (more than `max_rejected_fraction` rejected rows fails the run), logs them to MLflow and
        writes `_SUCCESS` last, then announces the Asset `batch_predictions_output`.

        - **Out:** rows in, scored and rejected, rows with unseen categories, rows per second, the output URI and the
          model version.
        - **Links:** "Predictions" (the output folder in the S3 console, when it is in AWS S3), "Model version" (the
          version used), "MLflow run" (this scoring's run, which also names the output) and "Drift report" (its
          report.html, open in the run's artifacts).
        """
        from ml_pipeline.scoring.batch import publish_output

        with pipeline_task() as run:
            summary = publish_output(plan, run.storage, run.ids, log_to_mlflow=run.config.log_scoring_to_mlflow)
        publish_scoring_links(run.config, summary)
        logging.getLogger(__name__).info(
            "Scored %(rows_scored)d of %(rows_in)d rows (%(rows_rejected)d rejected, %(rows_per_second).0f rows/s) "
            "with %(model_name)s version %(model_version)s on %(engine)s: %(output_uri)s",
            summary,
        )
        extra: dict[str, Any] = {
            key: summary[key] for key in ("output_uri", "model_name", "model_version", "rows_scored")
        }
        get_current_context()["outlet_events"][PREDICTIONS_ASSET].extra = extra
        return summary

    @task(execution_timeout=timedelta(minutes=30))
    def measure_quality(plan: ScoringPlan, summary: ScoringSummary) -> LiveQuality | None:
        """
        #### measure_quality
        Joins the true labels that have arrived (`label_source_uri`) by `id_column` to the predictions of the last
        `quality_window_days`, and measures accuracy and the gate metric per model version and day (MLflow metrics
        `live.<metric>.v<version>`; quality.json and quality.png under the output's `quality/`). The pinned version
        decayed when its live gate metric is worse than its holdout score by more than `decay_margin`. Does nothing
        when `label_source_uri` is not set.

        - **Out:** labeled and awaiting predictions, the figures per version and day, live against holdout score.
        """
        from ml_pipeline.scoring.live_quality import measure_quality as measure

        with pipeline_task() as run:
            quality = measure(plan, summary, run.config, run.storage)
        logging.getLogger(__name__).info("Live quality: %s", "not measured (no label_source_uri)" if quality is None
                                         else f"{quality['labeled_rows']} labeled predictions")  # fmt: skip
        return quality

    @task(execution_timeout=timedelta(minutes=1), outlets=[DRIFT_ASSET])
    def announce_drift(summary: ScoringSummary, quality: LiveQuality | None) -> None:
        """
        #### announce_drift
        Announces the Asset `batch_predictions_drift` when a feature or the predicted labels crossed a drift threshold
        (`drift_*_threshold`), or the pinned version's live quality decayed; skipped, with no event, otherwise. The
        run itself is not failed either way.

        - **In:** publish_predictions' summary (which variables drifted, the report under the output's `drift/`) and
          measure_quality's verdict.
        """
        from airflow.sdk.exceptions import AirflowSkipException

        decayed = quality["decayed"] if quality else None
        if not summary["drifted"] and not decayed:
            measured = "no variable crossed a threshold" if summary["drifted"] is not None else "not measured"
            raise AirflowSkipException(f"drift: {measured}; decay: {'no' if quality else 'not measured'}")
        crossed = "; ".join(f"{name}: {why}" for name, why in (summary["drifted"] or {}).items())
        logging.getLogger(__name__).warning(
            "%s v%s: drift: %s; decay: %s. Report: %s", summary["model_name"], summary["model_version"],
            crossed or "none", decayed or "none", summary["drift_report_uri"],
        )  # fmt: skip
        extra: dict[str, Any] = {
            key: summary[key] for key in ("model_name", "model_version", "drifted", "drift_report_uri")
        }
        extra["decayed"] = decayed
        get_current_context()["outlet_events"][DRIFT_ASSET].extra = extra
        from task_runtime.notify import notify_drift

        notify_drift(summary, decayed)  # people get one line and a link (task_runtime/notify.py); never fails the task

    plan = pin_model()
    job = emr_job(plan)
    score_on_emr = emr_job_run("score_on_emr", job, SCORING_TIMEOUT)
    engines = [score_locally(plan), score_on_spark(plan), job]
    choose_engine(plan) >> engines
    job >> score_on_emr
    summary = publish_predictions(plan)
    [*engines[:2], score_on_emr] >> summary
    announce_drift(summary, measure_quality(plan, summary))


batch_predictions()
