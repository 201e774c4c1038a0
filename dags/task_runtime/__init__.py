"""What every task of this project's DAGs does the same way, in one place: read the configuration when the task
runs, reach the artifact store through Airflow's AWS connection, keep each DAG run's files apart, and fail clearly.

Only `airflow.sdk` is imported here, so DAG files stay fast to parse; the pipeline's own modules load inside tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias, Param, Variable, get_current_context

from task_runtime.notify import TaskFailureNotifier

if TYPE_CHECKING:
    from ml_pipeline.config.model import PipelineConfig
    from ml_pipeline.contract import Candidate, RunIds, TrainingResult
    from ml_pipeline.store.objects import Storage

# classification_pipeline announces each new champion here (extra: model name, version, metrics); batch_predictions
# is scheduled on it.
CHAMPION_ASSET = Asset("classification_pipeline_champion")
# batch_predictions announces each complete output here (extra: its URI, the model version, the row counts).
PREDICTIONS_ASSET = Asset("batch_predictions_output")
# batch_predictions announces here a scoring whose rows drifted from the version's training data (extra: the model
# version, which variables crossed which threshold, the report's URI).
DRIFT_ASSET = Asset("batch_predictions_drift")
# classification_pipeline's tasks that may move @champion declare this alias and attach CHAMPION_ASSET's event only
# when they did (announce_champion).
PROMOTIONS = AssetAlias("classification_pipeline_new_champion")


# The XCom key under which a failing task leaves its one-line reason (failing_clearly).
FAILURE_KEY = "failure"
# get_data's second output, beside the candidates it returns: where the run's split lives (a DatasetSnapshot).
DATASET_KEY = "dataset"

# Every task of both DAGs: transient failures are retried twice, after 15-30 s, then 30-60 s (Airflow waits between
# 1x and 2x retry_delay * 2^(try - 1)); docs/how-it-works.md, "Every wait is bounded".
DEFAULT_ARGS = {
    "owner": "ml-platform",
    "retries": 2,
    "retry_delay": timedelta(seconds=15),
    "retry_exponential_backoff": 2.0,  # a multiplier since Airflow 3.3: True would mean 1.0, the same wait each time
    "max_retry_delay": timedelta(minutes=5),
    # After the last attempt only (retries do not call it): one line and a link to people (task_runtime/notify.py).
    "on_failure_callback": TaskFailureNotifier(),
}


def trigger_form(form: str) -> dict[str, Param]:
    """The DAG's run settings as Params: the Trigger button shows a form that refuses bad values before a run."""
    from task_runtime.form import form_fields  # the configuration model only: no heavy library

    return {name: Param(None, **schema) for name, schema in form_fields(form).items()}


@contextmanager
def failing_clearly() -> Iterator[None]:
    """Permanent errors fail the task at once with one line; transient ones are left for Airflow to retry."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from ml_pipeline.errors import PipelineError, environment_failure, is_transient, one_line

    try:
        yield
    except AirflowSkipException:
        raise  # a decision, not a failure
    except Exception as raised:
        error = environment_failure(raised) or raised  # a full disk is the machine's failure, whoever met it
        line = one_line(error)
        get_current_context()["ti"].xcom_push(key=FAILURE_KEY, value=line)
        if is_transient(error):
            logging.getLogger(__name__).warning("Transient failure, retried while attempts remain: %s", line)
            raise
        # Our own errors need no traceback; anything else keeps its cause for debugging.
        raise AirflowFailException(line) from (None if isinstance(raised, PipelineError) else raised)


def announce_champion(decision: Mapping[str, Any], extra: dict[str, Any]) -> None:
    """An event of CHAMPION_ASSET, only when @champion moved to the decision's version (not when it stayed)."""
    if decision["promoted"] and decision["previous_champion"] != decision["version"]:
        get_current_context()["outlet_events"][PROMOTIONS].add(CHAMPION_ASSET, extra=extra)


def candidate_failures(candidates: list[Candidate], trainings: list[TrainingResult]) -> dict[str, str]:
    """Each untrained candidate's one-line reason, from its train_model instance (map index = candidate's position).

    Only instances without a result are read: a missing XCom is logged as an error, which would be noise when all
    candidates trained.
    """
    trained = {training["candidate"] for training in trainings}
    ti = get_current_context()["ti"]
    return {
        candidate["name"]: line
        for index, candidate in enumerate(candidates)
        if candidate["name"] not in trained
        and (line := ti.xcom_pull(task_ids="train_model", key=FAILURE_KEY, map_indexes=index))
    }


@dataclass(frozen=True)
class TaskRun:
    """What a task starts from: its settings, the artifact store, and the DAG run it is part of."""

    config: PipelineConfig
    storage: Storage
    ids: RunIds

    @property
    def prefix(self) -> str:
        """This DAG run's own folder in the artifact store: <artifact_root>/<dag_id>/<run_id>."""
        from ml_pipeline.store.objects import run_prefix

        return run_prefix(self.config.artifact_root, self.ids.dag_id, self.ids.run_id)


@contextmanager
def pipeline_task() -> Iterator[TaskRun]:
    """Every task's way into its work: it fails clearly (failing_clearly) and reads the configuration now, when the
    task runs, rather than when the file is parsed."""
    from ml_pipeline.contract import RunIds

    with failing_clearly():
        context = get_current_context()
        config = _task_config(context["dag_run"].conf)
        yield TaskRun(config, _task_storage(config), RunIds(context["dag"].dag_id, context["run_id"]))


def _task_config(conf: dict[str, Any] | None) -> PipelineConfig:
    from ml_pipeline.config.layers import VARIABLE_NAME, load_config, parse_variable

    return load_config(variable=parse_variable(Variable.get(VARIABLE_NAME, default=None)), conf=conf)


def aws_client(config: PipelineConfig, service: str) -> Any:
    """A boto3 client through Airflow's AWS connection, the one the Amazon provider's operators use too."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=config.aws_conn_id, client_type=service).get_conn()


def _task_storage(config: PipelineConfig) -> Storage:
    """S3 goes through the Amazon provider's connection, so MWAA's execution role (or a stored key) just works."""
    from ml_pipeline.store.objects import Storage

    def s3_client() -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=config.aws_conn_id).get_conn()

    return Storage(s3_client)
