"""DAG integrity: the file imports cleanly, cheaply, and describes the pipeline MWAA should schedule."""

import inspect
import re
import subprocess
import sys
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parent.parent / "dags"


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["classification_pipeline"]


DAG_IDS = ("classification_pipeline", "batch_predictions", "deploy_champion")


def test_the_dags_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == set(DAG_IDS)


def test_support_modules_are_not_scanned_as_dag_files(dagbag):
    assert (DAGS / ".airflowignore").read_text().split() == ["ml_pipeline/", "task_runtime/"]
    assert {Path(path).name for path in dagbag.file_last_changed} == {f"{dag_id}.py" for dag_id in DAG_IDS}


def test_tasks_run_in_order_get_data_train_model_persist_model(dag):
    approval = {"approve_champion", "promote_champion", "keep_challenger"}
    segments = {"segment_emr_job", "train_segments_on_emr", "plan_segments", "segments.train_segments",
                "segments.persist_segments", "publish_router"}  # fmt: skip
    assert set(dag.task_ids) == {"get_data", "train_model", "persist_model"} | approval | segments
    assert dag.get_task("get_data").upstream_task_ids == set()
    assert dag.get_task("train_model").upstream_task_ids == {"get_data"}
    # persist_model takes the dataset from get_data itself: no task relays another's output.
    assert dag.get_task("persist_model").upstream_task_ids == {"get_data", "train_model"}
    assert dag.get_task("approve_champion").upstream_task_ids == {"persist_model"}
    assert dag.get_task("promote_champion").upstream_task_ids == {"get_data", "persist_model", "approve_champion"}
    assert dag.get_task("keep_challenger").upstream_task_ids == {"persist_model", "approve_champion"}


def test_segments_train_and_persist_per_group_and_publish_one_router(dag):
    """Each mapped group persists what it trained; the router waits for every group and the fallback, and runs
    with whatever groups succeeded."""
    from airflow.sdk import TriggerRule

    assert dag.get_task("segment_emr_job").upstream_task_ids == {"get_data"}
    assert dag.get_task("train_segments_on_emr").upstream_task_ids == {"segment_emr_job"}
    plan = dag.get_task("plan_segments")
    assert plan.upstream_task_ids == {"get_data", "train_segments_on_emr"}
    assert plan.trigger_rule == TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS  # after EMR trained them, or without it
    assert dag.get_task("segments.train_segments").upstream_task_ids == {"get_data", "plan_segments"}
    persist = dag.get_task("segments.persist_segments")
    assert persist.upstream_task_ids == {"get_data", "plan_segments", "segments.train_segments", "persist_model"}
    router = dag.get_task("publish_router")
    assert router.upstream_task_ids == {"get_data", "plan_segments", "persist_model", "segments.persist_segments"}
    assert router.trigger_rule == TriggerRule.ALL_DONE_MIN_ONE_SUCCESS
    assert [outlet.name for outlet in router.outlets] == ["classification_pipeline_new_champion"]


def test_approval_asks_approve_or_reject_and_no_answer_in_time_is_reject(dag):
    """The Airflow UI shows exactly these two options as an approval; each leads to one task; a timeout (the
    scheduler applies `defaults`) rejects. The wait, at most approval_timeout_hours, stays under a day."""
    from ml_pipeline.config.model import PipelineConfig

    approval = dag.get_task("approve_champion")
    assert approval.options == ["Approve", "Reject"] and approval.defaults == ["Reject"]
    assert approval.options_mapping == {"Approve": "promote_champion", "Reject": "keep_challenger"}
    assert list(approval.params) == ["comment"], "the DAG's own params stay off the approval form"
    assert approval.downstream_task_ids == {"promote_champion", "keep_challenger"}
    longest = PipelineConfig.model_fields["approval_timeout_hours"].metadata
    assert approval.response_timeout == timedelta(hours=next(rule.le for rule in longest if hasattr(rule, "le")))
    assert approval.response_timeout + approval.execution_timeout * 2 < timedelta(days=1)
    assert PipelineConfig().require_approval is False


def test_train_model_is_mapped_over_the_candidates_and_persist_model_takes_those_that_trained(dag):
    from airflow.sdk import TriggerRule

    train = dag.get_task("train_model")
    assert type(train).__name__.endswith("MappedOperator")
    # The UI names each instance after its candidate, from the task's own (rendered) arguments.
    instance = types.SimpleNamespace(op_kwargs={"candidate": {"name": "shallow_forest", "classifier": "random_forest"}})
    named = dag.get_template_env().from_string(train.map_index_template).render(task=instance)
    assert named == "shallow_forest"
    assert dag.get_task("persist_model").trigger_rule == TriggerRule.ALL_DONE_MIN_ONE_SUCCESS


def test_persist_model_announces_a_new_champion_as_an_asset_event(dag):
    from airflow.sdk import AssetAlias

    for task_id in ("persist_model", "promote_champion"):  # promote_champion: with require_approval
        assert dag.get_task(task_id).outlets == [AssetAlias("classification_pipeline_new_champion")]


def test_it_trains_daily_and_on_each_drift_or_decay_event(dag):
    from airflow.sdk import Asset, CronTriggerTimetable

    daily = dag.timetable.timetable
    assert isinstance(daily, CronTriggerTimetable) and daily.expression == "0 0 * * *"
    assert dag.timetable.asset_condition == Asset("batch_predictions_drift")


def longest_retry_waits(task) -> timedelta:
    """An upper bound on Airflow's waits between attempts: before retry n (from 1), at most twice retry_delay *
    multiplier^(n - 1), capped at max_retry_delay (TaskInstance.next_retry_datetime)."""
    multiplier = task.retry_exponential_backoff
    waits = (min(2 * task.retry_delay * multiplier**n, task.max_retry_delay) for n in range(task.retries))
    return sum(waits, timedelta(0))


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_task_retries_transient_failures_with_growing_waits(dagbag, dag_id):
    """Throttling, timeouts and dropped connections get at least two more tries, each after a longer wait."""
    for task in dagbag.dags[dag_id].tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff >= 2, f"{task.task_id}: each wait at least doubles"
        assert timedelta(0) < task.retry_delay <= task.max_retry_delay, task.task_id


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_task_gives_up_within_a_day(dagbag, dag_id):
    """Every attempt has a timeout, and all attempts with their waits end within a day: with one run at a time, a
    hanging task must not hold up the next day's run."""
    for task in dagbag.dags[dag_id].tasks:
        assert task.execution_timeout and task.execution_timeout > timedelta(0), task.task_id
        worst_case = (task.retries + 1) * task.execution_timeout + longest_retry_waits(task)
        assert worst_case < timedelta(days=1), f"{task.task_id}: {worst_case}"


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_task_names_the_team_that_answers_for_it(dagbag, dag_id):
    from airflow.configuration import conf

    nobody = conf.get("operators", "default_owner")
    for task in dagbag.dags[dag_id].tasks:
        assert task.owner and task.owner != nobody, task.task_id


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_task_tells_people_once_when_it_fails_for_good(dagbag, dag_id):
    """Its on_failure_callback, which Airflow calls after the last attempt only; a retry tells no one (no
    on_retry_callback). What is sent: tests/test_notify.py."""
    from task_runtime.notify import TaskFailureNotifier

    for task in dagbag.dags[dag_id].tasks:
        callbacks = task.on_failure_callback  # a mapped task keeps it as given
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert [type(callback) for callback in callbacks] == [TaskFailureNotifier], task.task_id
        assert not task.on_retry_callback, task.task_id


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_dag_runs_on_a_schedule_once_at_a_time(dagbag, dag_id):
    """No DAG is manual-only, none backfills the days before it was deployed, and runs never overlap."""
    dag = dagbag.dags[dag_id]
    assert dag.timetable.can_be_scheduled
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.start_date.tzinfo is not None and dag.start_date < datetime.now(UTC)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_dag_documents_itself_in_the_ui(dagbag, dag_id):
    """A title, a one-line description for the DAG list, tags to filter by; the doc names the model it makes or uses
    (the champion) and the task a run starts with."""
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and dag.doc_md.strip().startswith(f"### {dag_id}")
    assert dag.description and "\n" not in dag.description and len(dag.description) <= 120
    assert dag.tags
    assert "champion" in dag.doc_md and all(root.task_id in dag.doc_md for root in dag.roots)


def test_one_tag_lists_every_dag_of_the_project(dagbag):
    assert set.intersection(*(set(dagbag.dags[dag_id].tags) for dag_id in DAG_IDS))


def test_an_unreachable_mlflow_fails_the_run_within_four_minutes_by_construction(dag):
    """Worst case, every MLflow request hangs until its timeout: attempts x client tries x timeout, plus waits."""
    from ml_pipeline.registry.connection import CLIENT_LIMITS

    persist = dag.get_task("persist_model")
    tries_per_request = int(CLIENT_LIMITS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) + 1
    backoff = sum(int(CLIENT_LIMITS["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"]) * 2**n for n in range(tries_per_request))
    per_attempt = tries_per_request * int(CLIENT_LIMITS["MLFLOW_HTTP_REQUEST_TIMEOUT"]) + backoff
    start_up = 10  # importing the task's libraries and reading the holdout, per attempt
    waits = longest_retry_waits(persist).total_seconds()
    assert (persist.retries + 1) * (per_attempt + start_up) + waits <= 240


# The Amazon provider's operator modules import boto3 (about 0.3 s); classification_pipeline (segment_engine spark)
# and batch_predictions need its EMR operator, deploy_champion its SageMaker operators.
PARSE_MAY_IMPORT = {"classification_pipeline": "boto3", "batch_predictions": "boto3", "deploy_champion": "boto3"}
# The trigger form is made from the configuration model: that model, and nothing of the pipeline's work.
FORM_MODULES = ",".join(
    (
        "ml_pipeline",
        "ml_pipeline.config",
        "ml_pipeline.config.classifiers",
        "ml_pipeline.config.model",
        "ml_pipeline.config.monitoring",
        "ml_pipeline.config.scoring",
        "ml_pipeline.config.serving",
        "ml_pipeline.config.store",
        "ml_pipeline.config.training",
        "ml_pipeline.contract",
    )
)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_parsing_imports_no_heavy_library_and_reads_no_configuration(dag_id):
    """Parse the file as the DAG processor does; sklearn, mlflow, pandas and boto3 must stay unimported."""
    probe = (
        "import sys, runpy, os\n"
        "os.environ['ML_PIPELINE_CLASSIFIER'] = 'not-a-classifier'  # would fail if config were read at parse time\n"
        "os.environ['ML_PIPELINE_SCORING_ENGINE'] = 'not-an-engine'\n"
        f"runpy.run_path({str(DAGS / f'{dag_id}.py')!r})\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        "heavy = sorted(loaded & {'sklearn', 'mlflow', 'pandas', 'boto3', 'pyspark'})\n"
        "print('imported:', ','.join(heavy))\n"
        "print('pipeline:', ','.join(sorted(name for name in sys.modules if name.startswith('ml_pipeline'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=DAGS, timeout=120
    )
    *_, imported, pipeline = result.stdout.strip().splitlines()
    assert imported.strip() == f"imported: {PARSE_MAY_IMPORT[dag_id]}".strip()
    assert pipeline == f"pipeline: {FORM_MODULES}"


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_task_receives_and_returns_contract_types(dagbag, dag_id):
    """Annotations name contract types, so what crosses XCom is declared in one place per concern."""
    from ml_pipeline import contract
    from ml_pipeline.deployment import contract as deployment_contract
    from ml_pipeline.segments import contract as segments_contract

    modules = (contract, segments_contract, deployment_contract)
    declared = {name for module in modules for name, value in vars(module).items() if isinstance(value, type)}
    declared |= {"list", "str", "None"}
    for task in dagbag.dags[dag_id].tasks:
        if not (hasattr(task, "python_callable") or "python_callable" in getattr(task, "partial_kwargs", {})):
            continue  # a provider's operator: its arguments are XCom references to contract types
        function = task.python_callable if hasattr(task, "python_callable") else task.partial_kwargs["python_callable"]
        annotations = inspect.get_annotations(function)
        assert set(annotations) == {*inspect.signature(function).parameters, "return"}, f"{task.task_id}: untyped"
        for name, annotation in annotations.items():
            assert set(re.findall(r"\w+", annotation)) <= declared, f"{task.task_id}.{name}: {annotation}"


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_a_task_whose_keys_an_operator_reads_pushes_each_key(dagbag, dag_id):
    """`task_output["key"]` pulls the XCom `key`, which only multiple_outputs pushes (Airflow cannot infer it from a
    return type imported under TYPE_CHECKING); without it the operator fails with XComNotFound when it runs."""
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    for task in dagbag.dags[dag_id].tasks:
        for field in task.template_fields:
            value = getattr(task, field, None)
            if isinstance(value, PlainXComArg) and value.key != "return_value":
                assert value.operator.multiple_outputs, f"{task.task_id}.{field} reads {value.operator.task_id}"
