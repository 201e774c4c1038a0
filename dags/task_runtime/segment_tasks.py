"""classification_pipeline's tasks for one model per segment (`segment_column`; docs/segments.md), wired by
`segment_stage` after persist_model. Without segment_column they are skipped."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from airflow.sdk import TriggerRule, XComArg, get_current_context, task, task_group

from task_runtime import PROMOTIONS, announce_champion, pipeline_task
from task_runtime.emr import emr_job_run
from task_runtime.links import ModelVersionLink, linked_task, publish_router_links

if TYPE_CHECKING:
    from ml_pipeline.contract import Candidate, DatasetSnapshot, EmrJob
    from ml_pipeline.segments.contract import RouterResult, SegmentGroup, SegmentsResult

SPARK_TRAINING_TIMEOUT = timedelta(hours=2)
DETAILS = ("model_name", "version", "metrics")  # the champion Asset event's extra


def segment_stage(dataset: DatasetSnapshot, candidates: list[Candidate], fallback: XComArg) -> None:
    """plan_segments (with segment_engine spark: after Spark trained them) >> segments[group] >> publish_router;
    each segment's first model is gated against the fallback persist_model registers."""

    @task(execution_timeout=timedelta(minutes=5), multiple_outputs=True)  # train_segments_on_emr reads its keys
    def segment_emr_job(dataset: DatasetSnapshot, candidates: list[Candidate]) -> EmrJob:
        """
        #### segment_emr_job (segment_engine spark, on EMR Serverless)
        Writes the job's description (the split, the settings, the candidates) under the run's `segments/_spark/`
        and prepares the EMR Serverless job run of spark_jobs/train_segments.py that train_segments_on_emr submits.
        Skipped otherwise.
        """
        from airflow.sdk.configuration import conf
        from airflow.sdk.exceptions import AirflowSkipException

        from ml_pipeline.segments.spark_engine import emr_training_job, write_job

        with pipeline_task() as run:
            config = run.config
            if not (config.segment_column and config.segment_engine == "spark" and config.emr_application_id):
                raise AirflowSkipException("segments are not trained on EMR Serverless in this run")
            job = write_job(config, run.prefix, run.storage, dataset, candidates, conf.getint("core", "max_map_length"))
            return emr_training_job(config, run.prefix, job)

    @task(
        execution_timeout=SPARK_TRAINING_TIMEOUT,
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,  # after train_segments_on_emr, when it ran
    )
    def plan_segments(dataset: DatasetSnapshot, candidates: list[Candidate]) -> list[SegmentGroup]:
        """
        #### plan_segments (with `segment_column`)
        Splits get_data's snapshot by segment: each segment with enough rows and labels on both sides of the split
        gets its own train and holdout files (the others are served by the fallback, each with its reason), and the
        segments are shared out in groups of similar row counts, a few per worker slot (`segment_worker_slots`),
        within Airflow's `max_map_length`. With `segment_engine` spark, Spark does this and trains every segment
        (spark_jobs/train_segments.py): here in local Spark, or before this task on EMR Serverless.

        - **Out:** the groups (one segments instance each) and, in the store, the manifest of every segment.
        - **Skipped** without `segment_column`, and the segment tasks with it.
        - **Fails** when the column holds more than `max_segments` values.
        """
        from airflow.sdk.configuration import conf
        from airflow.sdk.exceptions import AirflowSkipException

        from ml_pipeline.segments.spark_engine import plan_segments as plan

        with pipeline_task() as run:
            if not run.config.segment_column:
                raise AirflowSkipException("segment_column is not set: one model for the whole table")
            return plan(run.config, run.prefix, run.storage, dataset, candidates, conf.getint("core", "max_map_length"),
                        SPARK_TRAINING_TIMEOUT.total_seconds() - 60)  # fmt: skip

    @task(execution_timeout=timedelta(minutes=60), map_index_template="{{ group_label }}")
    def train_segments(group: SegmentGroup, candidates: list[Candidate]) -> str:
        """
        #### segments.train_segments (one instance per group of segments)
        Trains every candidate on each segment of its group, with train_model's own function, on that segment's
        share of the split only (memory follows the largest segment, not the table). With `segment_engine` spark,
        Spark has trained them: it only passes their results on.

        - **Out:** where the group's trainings are; a candidate that cannot train on a segment is that segment's
          reason, and the others go on.
        """
        from ml_pipeline.segments.train import train_group

        get_current_context()["group_label"] = group["label"]  # type: ignore[typeddict-unknown-key]  # its name
        with pipeline_task() as run:
            return train_group(run.config, run.prefix, run.storage, group, candidates)

    @task(execution_timeout=timedelta(minutes=60), map_index_template="{{ group_label }}")
    def persist_segments(group: SegmentGroup, results_uri: str, candidates: list[Candidate]) -> SegmentsResult:
        """
        #### segments.persist_segments (one instance per group)
        For each segment of the group, what persist_model does for the table: logs its runs (MLflow experiment
        `<experiment_name>.segments`), registers its best candidate in `<model_name>.seg.<slug>` (once, whatever the
        retries) and moves that model's `@champion` only if it scores better on the segment's holdout than its
        champion, or, for its first version, than the fallback (`<model_name>.all@champion`).

        - **Out:** how many segments were promoted, kept their champion or registered nothing, and where each
          segment's decision is written.
        """
        from ml_pipeline.segments.persist import persist_group

        get_current_context()["group_label"] = group["label"]  # type: ignore[typeddict-unknown-key]
        with pipeline_task() as run:
            return persist_group(run.config, run.ids, run.storage, group, results_uri, candidates)

    @task_group(group_id="segments")  # type: ignore[type-var]  # returns its last task's XCom, mapped
    def segment_group(group: SegmentGroup) -> XComArg:
        persisted = persist_segments(group, train_segments(group, candidates), candidates)
        fallback >> persisted  # a segment's first model is gated against the fallback persist_model registers
        return persisted

    @linked_task(
        ModelVersionLink,
        execution_timeout=timedelta(minutes=30),
        trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS,  # the groups that persisted, if any did
        outlets=[PROMOTIONS],
    )
    def publish_router(
        dataset: DatasetSnapshot, groups: list[SegmentGroup] | None, persisted: list[SegmentsResult] | None
    ) -> RouterResult:
        """
        #### publish_router (with `segment_column`)
        Builds the routing table from the registry (every segment's `@champion`, and `<model_name>.all@champion`
        for the rest), registers it as a version of `<model_name>` once per distinct table, and gates it like any
        version: `@champion` moves to it only if it scores at least as well on this run's whole holdout.

        - **Out:** the router version, its metrics, how many segments it routes and the gate's decision.
        - **Fails** after publishing when a group of segments failed: their segments keep their champion (or the
          fallback), and the run says so.
        - **Fails** at once, publishing nothing, when plan_segments failed: `@champion` stays.
        - **Skipped** without `segment_column`.
        """
        from airflow.sdk.exceptions import AirflowSkipException

        from ml_pipeline.errors import PipelineError
        from ml_pipeline.segments.router import check_groups
        from ml_pipeline.segments.router import publish_router as publish

        with pipeline_task() as run:
            if not run.config.segment_column:
                raise AirflowSkipException("segment_column is not set: persist_model's model is the champion")
            if groups is None:  # plan_segments (or Spark's training) failed; skipping would let the run succeed
                raise PipelineError("plan_segments failed, so no router was published and @champion stays as it was; "
                                    "fix what plan_segments says and run again")  # fmt: skip
            result = publish(run.config, run.ids, run.prefix, run.storage, dataset)
            publish_router_links(run.config, result)
            announce_champion(result, {key: value for key, value in result.items() if key in DETAILS})
            check_groups(groups, [done for done in (persisted or [])[:] if done])
        return result

    job = segment_emr_job(dataset, candidates)
    train_segments_on_emr = emr_job_run(
        "train_segments_on_emr", job, SPARK_TRAINING_TIMEOUT,
        doc_md="Runs segment_emr_job's job on EMR Serverless and waits for it (bounded); skipped when it is.",
    )  # fmt: skip
    groups = plan_segments(dataset, candidates)
    job >> train_segments_on_emr >> groups
    fallback >> publish_router(dataset, groups, segment_group.expand(group=groups))
