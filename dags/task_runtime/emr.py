"""The EMR Serverless job run both DAGs submit (scoring, segment training): one place for how long it may take."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator

EMR_POLL_SECONDS = 60


def emr_job_run(task_id: str, job: Any, timeout: timedelta, doc_md: str | None = None) -> EmrServerlessStartJobOperator:
    """Submits the job run a task prepared (an EmrJob XCom) and waits for it, bounded: at most EMR_POLL_SECONDS *
    attempts, then the task fails (and cancels the job); EMR's own executionTimeoutMinutes bounds it too."""
    return EmrServerlessStartJobOperator(
        task_id=task_id,
        doc_md=doc_md,
        application_id=job["application_id"],
        execution_role_arn=job["execution_role_arn"],
        aws_conn_id=job["aws_conn_id"],
        job_driver=job["job_driver"],
        configuration_overrides=job["configuration_overrides"],
        name=job["name"],
        config={"executionTimeoutMinutes": int(timeout.total_seconds() // 60)},
        wait_for_completion=True,
        waiter_delay=EMR_POLL_SECONDS,
        waiter_max_attempts=int(timeout.total_seconds() // EMR_POLL_SECONDS),
        execution_timeout=timeout + timedelta(minutes=5),
    )
