"""
### classification_pipeline

Trains a scikit-learn classifier on the Wine data set every day and publishes it in MLflow's model registry,
where other services load it as `models:/wine-classifier@champion`.

1. **get_data** loads the bundled Wine data (or the configured CSV/Parquet source), validates it, makes a
   stratified train/holdout split and writes both to the artifact store. XCom: URIs, row counts, content hash.
2. **train_model** fits a scaling + classifier pipeline, scores it on the holdout and writes the model to the
   artifact store. XCom: model URI, holdout metrics.
3. **persist_model** logs params, metrics, the confusion matrix, data lineage and the model to MLflow, registers
   one version per DAG run, and moves `champion` only if the new version scores at least as well as the champion
   on this run's holdout; otherwise it sets `challenger` and logs why. XCom: version, alias, reason.

Bad input fails `get_data` at once (no retries) and leaves the registry untouched. A retry or rerun of the same
DAG run reuses the version it registered. Configuration (environment, the `ml_pipeline` Variable, or the run's
conf) is described in the project's README.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Variable, dag, get_current_context, task

if TYPE_CHECKING:
    from ml_pipeline.config import PipelineConfig
    from ml_pipeline.storage import Storage


@contextmanager
def _fail_fast_on_invalid_input() -> Iterator[None]:
    """Bad configuration or data will not fix itself: fail the task at once instead of retrying it."""
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline.config import InvalidInputError

    try:
        yield
    except InvalidInputError as error:
        raise AirflowFailException(f"{error.label}: {error}") from error


def _config() -> PipelineConfig:
    """Configuration for this task instance, read now rather than when the file is parsed."""
    from ml_pipeline.config import VARIABLE_NAME, load_config

    return load_config(
        None,
        Variable.get(VARIABLE_NAME, default=None, deserialize_json=True),
        get_current_context()["dag_run"].conf,
    )


def _storage(config: PipelineConfig) -> Storage:
    """S3 goes through the Amazon provider's connection, so MWAA's execution role (or a stored key) just works."""
    from ml_pipeline.storage import Storage

    def s3_client() -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=config.aws_conn_id).get_conn()

    return Storage(s3_client)


def _run_prefix(config: PipelineConfig) -> str:
    from ml_pipeline.storage import run_prefix

    context = get_current_context()
    return run_prefix(config.artifact_root, context["dag"].dag_id, context["run_id"])


@dag(
    dag_id="classification_pipeline",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "ml-platform",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
    tags=["ml", "scikit-learn", "mlflow"],
    doc_md=__doc__,
)
def classification_pipeline() -> None:
    @task(execution_timeout=timedelta(minutes=10))
    def get_data() -> dict[str, Any]:
        from ml_pipeline.data import snapshot_dataset

        with _fail_fast_on_invalid_input():
            config = _config()
            return snapshot_dataset(
                config.source_uri,
                _run_prefix(config),
                _storage(config),
                test_size=config.test_size,
                seed=config.random_seed,
                min_rows=config.min_rows,
            )

    @task(execution_timeout=timedelta(minutes=30))
    def train_model(dataset: dict[str, Any]) -> dict[str, Any]:
        from ml_pipeline.training import train_and_evaluate

        with _fail_fast_on_invalid_input():
            config = _config()
            training = train_and_evaluate(
                dataset["train_uri"],
                dataset["holdout_uri"],
                _run_prefix(config),
                _storage(config),
                classifier=config.classifier,
                hyperparams=config.hyperparams,
                seed=config.random_seed,
            )
        return training | {"dataset": dataset}

    @task(execution_timeout=timedelta(minutes=15))
    def persist_model(training: dict[str, Any]) -> dict[str, Any]:
        from ml_pipeline.registry import persist

        with _fail_fast_on_invalid_input():
            config = _config()
        context = get_current_context()
        return persist(
            storage=_storage(config),
            tracking_uri=config.mlflow_tracking_uri,
            experiment_name=config.experiment_name,
            model_name=config.model_name,
            gate_metric=config.gate_metric,
            dag_id=context["dag"].dag_id,
            run_id=context["run_id"],
            dataset=training["dataset"],
            training=training,
            split_params={"test_size": config.test_size, "random_seed": config.random_seed},
        )

    persist_model(train_model(get_data()))


classification_pipeline()
