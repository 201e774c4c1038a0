"""Extra links on the task instances that produced something: their MLflow run, model version and output.

Airflow 3 computes a link on the worker when the task ends and keeps it in XCom; the API server only reads it, so no
plugin is needed and the UI shows a link only when its task set one. Each task publishes its URLs from its own
results with `publish_*` below; a link that cannot be built is logged and left out, never failing the task.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import BaseOperatorLink, get_current_context
from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory

if TYPE_CHECKING:
    from ml_pipeline.config.model import PipelineConfig
    from ml_pipeline.contract import PersistResult, ScoringSummary
    from ml_pipeline.segments.contract import RouterResult

log = logging.getLogger(__name__)
# Each link's URL, computed when the task publishes it.
LinkBuilders = dict[type[BaseOperatorLink], Callable[[], str | None]]


class _PublishedLink(BaseOperatorLink):
    """A URL the task pushed under this link's XCom key while it ran; empty when it did not."""

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(ti_key=ti_key, key=self.xcom_key) or ""


class MlflowRunLink(_PublishedLink):
    name = "MLflow run"


class ModelVersionLink(_PublishedLink):
    name = "Model version"


class PredictionsLink(_PublishedLink):
    name = "Predictions"


class DriftReportLink(_PublishedLink):
    name = "Drift report"


class _LinkedPythonOperator(DecoratedOperator, PythonOperator):
    """`@task`'s operator, made from the public bases Airflow documents for custom decorators: TaskFlow has no
    argument for extra links, an operator class does."""

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")  # map_index_template reads op_kwargs
    custom_operator_name = "@task"

    def __init__(self, *, python_callable: Callable, op_args: Any, op_kwargs: Any, **kwargs: Any) -> None:
        upstream = {"python_callable": python_callable, "op_args": op_args, "op_kwargs": op_kwargs}
        super().__init__(kwargs_to_upstream=upstream, **upstream, **kwargs)


@functools.cache
def _operator_with(links: tuple[type[_PublishedLink], ...]) -> type[_LinkedPythonOperator]:
    """The operator with these extra links."""
    extra_links = tuple(link() for link in links)
    return type("_LinkedPythonOperator", (_LinkedPythonOperator,), {"operator_extra_links": extra_links})


def linked_task(*links: type[_PublishedLink], **task_kwargs: Any) -> Callable:
    """Like `@task(...)`, for a task that publishes these links (and only these: Airflow reads each one's XCom)."""
    return task_decorator_factory(decorated_operator_class=_operator_with(links), **task_kwargs)


def _publish(builders: LinkBuilders) -> None:
    """Push every link the task declares, empty when it has no URL: Airflow reads each one's XCom when the task
    ends, and logs a missing XCom as an error."""
    context = get_current_context()
    for link in context["task"].operator_extra_links:
        url = None
        if build := builders.get(type(link)):
            try:
                url = build()
            except Exception as error:  # a missing link must not fail a task whose work is done
                log.warning("No %r link: %s", link.name, error)
        context["ti"].xcom_push(key=link.xcom_key, value=url or "")


def _mlflow_ui(config: PipelineConfig) -> str | None:
    from task_runtime.urls import mlflow_ui_base

    base = mlflow_ui_base(config.mlflow_tracking_uri, config.mlflow_ui_url)
    if base is None:
        log.info("No MLflow links: set mlflow_ui_url to the tracking server's UI address (docs/configuration.md)")
    return base


def publish_training_links(config: PipelineConfig, candidate: str) -> None:
    """The candidate's MLflow child run, found by its tags: persist_model logs it once the candidates are ranked."""
    from ml_pipeline.contract import TAG_CANDIDATE, TAG_RUN_ID
    from ml_pipeline.registry.connection import connect
    from task_runtime.urls import runs_url

    builders: LinkBuilders = {}
    if base := _mlflow_ui(config):
        tags = {TAG_RUN_ID: get_current_context()["run_id"], TAG_CANDIDATE: candidate}

        def candidate_runs() -> str:
            return runs_url(base, connect(config.mlflow_tracking_uri, config.experiment_name), tags)

        builders[MlflowRunLink] = candidate_runs
    _publish(builders)


def publish_persist_links(config: PipelineConfig, result: PersistResult) -> None:
    from task_runtime.urls import run_url, version_url

    builders: LinkBuilders = {}
    if base := _mlflow_ui(config):
        builders[MlflowRunLink] = lambda: run_url(base, result["mlflow_run_id"])
        builders[ModelVersionLink] = lambda: version_url(base, result["model_name"], result["version"])
    _publish(builders)


def publish_router_links(config: PipelineConfig, result: RouterResult) -> None:
    from task_runtime.urls import version_url

    builders: LinkBuilders = {}
    if base := _mlflow_ui(config):
        builders[ModelVersionLink] = lambda: version_url(base, result["model_name"], result["version"])
    _publish(builders)


def publish_scoring_links(config: PipelineConfig, summary: ScoringSummary) -> None:
    """The version used, the scoring's MLflow run, and the output when it is in AWS S3 (not a custom endpoint)."""
    from task_runtime.urls import run_url, version_url

    builders: LinkBuilders = {PredictionsLink: lambda: _s3_link(config, summary)}
    if base := _mlflow_ui(config):
        builders[ModelVersionLink] = lambda: version_url(base, summary["model_name"], summary["model_version"])
        if run_id := summary["mlflow_run_id"]:
            builders[MlflowRunLink] = lambda: run_url(base, run_id)
            if summary["drifted"] is not None:  # measured: the report is among the run's artifacts
                builders[DriftReportLink] = lambda: _drift_report(config, base, run_id)
    _publish(builders)


def _drift_report(config: PipelineConfig, base: str, run_id: str) -> str:
    from mlflow import MlflowClient

    from ml_pipeline.contract import DRIFT_DIR
    from ml_pipeline.registry.connection import use_tracking_server
    from task_runtime.urls import artifact_url

    use_tracking_server(config.mlflow_tracking_uri)
    experiment_id = MlflowClient().get_run(run_id).info.experiment_id
    return artifact_url(base, experiment_id, run_id, f"{DRIFT_DIR}/report.html")


def _s3_link(config: PipelineConfig, summary: ScoringSummary) -> str | None:
    from task_runtime.urls import s3_console_url

    if not summary["output_uri"].startswith("s3://"):
        return None
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    connection = S3Hook(aws_conn_id=config.aws_conn_id).conn_config
    if connection.endpoint_url:  # an S3-compatible store (the compose stack's): the AWS console cannot show it
        return None
    return s3_console_url(summary["output_uri"], connection.region_name)
