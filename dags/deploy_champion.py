"""
### deploy_champion

Rolls each new champion of classification_pipeline out to a SageMaker real-time endpoint, where the model server image
(`docker/model-server/Dockerfile`) serves that one version: **serving_endpoint** skips the run when serving on
SageMaker is not configured, **pin_model** fixes the version, **package_model** stores it as model.tar.gz,
**plan_rollout** finds what is missing, the Amazon provider's operators create the model, the endpoint configuration
and the endpoint, or update it blue/green with automatic rollback on the CloudWatch alarms, and **confirm_rollout**
checks that the endpoint serves the version.

A retry or a rerun creates nothing twice, and a version the endpoint already runs is not deployed again. The
repository's `docs/serving-aws.md` says what it costs and how to turn it on and off.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerEndpointConfigOperator,
    SageMakerEndpointOperator,
    SageMakerModelOperator,
)
from airflow.sdk import TriggerRule, dag, task

from task_runtime import CHAMPION_ASSET, DEFAULT_ARGS, aws_client, pipeline_task, trigger_form

if TYPE_CHECKING:
    from ml_pipeline.contract import PinnedModel
    from ml_pipeline.deployment.contract import Deployment, ModelPackage, Rollout

# SageMaker rolls a blue/green update back after 60 minutes (deployment/sagemaker.py); the wait ends after 70.
ROLLOUT_WAIT = timedelta(minutes=70)
POLL_SECONDS = 30


def planned(step: str) -> Callable[[Any], None]:
    """An operator's pre_execute: it runs only when plan_rollout asked for it; otherwise it is skipped (and the
    tasks after it still run), so a retry never creates what an earlier attempt did."""

    def run_or_skip(context: Any) -> None:
        from airflow.sdk.exceptions import AirflowSkipException

        if step not in context["ti"].xcom_pull(task_ids="plan_rollout")["steps"]:
            raise AirflowSkipException(f"{step}: not needed, plan_rollout found it done")

    return run_or_skip


@dag(
    dag_id="deploy_champion",
    description="Rolls each new @champion out to a SageMaker real-time endpoint (blue/green, automatic rollback)",
    schedule=CHAMPION_ASSET,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ml", "mlflow", "sagemaker"],
    doc_md=__doc__,
    params=trigger_form("deployment"),  # a version number deploys (or rolls back to) that version
)
def deploy_champion() -> None:
    @task.short_circuit(execution_timeout=timedelta(minutes=2))
    def serving_endpoint() -> str:
        """Names the endpoint (`sagemaker_endpoint_name`). When it is empty, logs how to turn serving on and skips
        every later task: the run succeeds without touching AWS."""
        from ml_pipeline.deployment.sagemaker import serving_endpoint as configured_endpoint

        with pipeline_task() as run:
            return configured_endpoint(run.config)

    @task(execution_timeout=timedelta(minutes=5))
    def pin_model() -> PinnedModel:
        """Resolves `models:/<model_name>@champion` (or the form's `model_version`) to one registered version, once,
        as batch_predictions does."""
        from ml_pipeline.registry.lookup import pin

        with pipeline_task() as run:
            return pin(run.config)

    @task(execution_timeout=timedelta(minutes=30))
    def package_model(pinned: PinnedModel) -> ModelPackage:
        """Stores the version's MLflow model as `<artifact_root>/sagemaker/<model>/v<version>/model.tar.gz` (MLmodel
        at its root), unless it is already there."""
        from ml_pipeline.deployment.package import package_model as package

        with pipeline_task() as run:
            return package(pinned, run.config.artifact_root, run.storage)

    @task(execution_timeout=timedelta(minutes=5), multiple_outputs=True)  # the operators read its keys
    def plan_rollout(package: ModelPackage) -> Rollout:
        """Pins the image by digest, names the deployment after the model, version and settings, and lists what is
        missing: the model, the endpoint configuration, then creating or updating the endpoint; nothing when the
        endpoint already runs it. An endpoint busy with another change is retried."""
        from ml_pipeline.deployment.sagemaker import plan_rollout as plan

        with pipeline_task() as run:
            return plan(run.config, package, aws_client(run.config, "sagemaker"), aws_client(run.config, "ecr"))

    @task(execution_timeout=timedelta(minutes=5), trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def confirm_rollout(rollout: Rollout) -> Deployment:
        """Checks that the endpoint serves the version: an update SageMaker rolled back (an alarm, a fleet that
        never became healthy) leaves the previous version serving and fails this task."""
        from ml_pipeline.deployment.sagemaker import confirm_rollout as confirm

        with pipeline_task() as run:
            return confirm(rollout, aws_client(run.config, "sagemaker"))

    pinned = pin_model()
    rollout = plan_rollout(package_model(pinned))
    create_model = SageMakerModelOperator(
        task_id="create_model",
        config=rollout["model"],
        aws_conn_id=rollout["aws_conn_id"],
        pre_execute=planned("create_model"),
        execution_timeout=timedelta(minutes=5),
    )
    create_endpoint_config = SageMakerEndpointConfigOperator(
        task_id="create_endpoint_config",
        config=rollout["endpoint_config"],
        aws_conn_id=rollout["aws_conn_id"],
        pre_execute=planned("create_endpoint_config"),
        execution_timeout=timedelta(minutes=5),
        trigger_rule=TriggerRule.NONE_FAILED,
    )
    # Bounded: the operator hands max_ingestion_time to boto's waiter as its number of attempts, POLL_SECONDS apart.
    waiting: dict[str, Any] = {
        "aws_conn_id": rollout["aws_conn_id"],
        "wait_for_completion": True,
        "check_interval": POLL_SECONDS,
        "max_ingestion_time": int(ROLLOUT_WAIT.total_seconds() // POLL_SECONDS),
        "execution_timeout": ROLLOUT_WAIT + timedelta(minutes=5),
        "trigger_rule": TriggerRule.NONE_FAILED,
    }
    create_endpoint = SageMakerEndpointOperator(
        task_id="create_endpoint",
        config=rollout["create_endpoint"],
        operation="create",
        pre_execute=planned("create_endpoint"),
        **waiting,
    )
    update_endpoint = SageMakerEndpointOperator(
        task_id="update_endpoint",
        config=rollout["update_endpoint"],
        operation="update",
        pre_execute=planned("update_endpoint"),
        **waiting,
    )
    serving_endpoint() >> pinned
    create_model >> create_endpoint_config >> [create_endpoint, update_endpoint] >> confirm_rollout(rollout)


deploy_champion()
