"""scripts/local_airflow (dag_test, task_logs, run_start): a direct run uses the repository's Airflow; the Airflow
UI shows its DAG runs with their own start and end, and each task's log. (Stopping on Ctrl-C or SIGTERM:
test_stop_signals.py.)"""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from local_airflow import home, metadata


def test_a_direct_run_defaults_to_the_repositorys_airflow_home(monkeypatch):
    for name in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "True")
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    home.use_repository_airflow()
    assert os.environ["AIRFLOW_HOME"] == str(home.REPO / ".local" / "airflow")
    assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(home.REPO / "dags")
    assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "True", "the environment wins"


DAG_ID = "classification_pipeline"
OLD_DATE = "2026-01-02T00:00:00+00:00"


@pytest.fixture(scope="module")
def local_runs(airflow_home, tmp_path_factory):
    """`make run` three times on the session's Airflow: a success, a failure at an old logical date, its rerun.

    Yields each run's id, console output and when its process started and ended.
    """
    stores = tmp_path_factory.mktemp("stores")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ML_PIPELINE_", "MLFLOW_", "AWS_"))}
    env |= {
        "AIRFLOW_HOME": airflow_home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(home.REPO / "dags"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{stores}/mlflow.db",
        "ML_PIPELINE_ARTIFACT_ROOT": str(stores / "artifacts"),
    }
    missing = {"source_uri": str(stores / "missing.csv")}
    runs = {}
    for name, args in (
        ("success", []),
        ("failure", ["--logical-date", OLD_DATE, "--conf", json.dumps(missing)]),
        ("rerun", ["--logical-date", OLD_DATE, "--conf", json.dumps(missing)]),
    ):
        started = datetime.now(UTC)
        command = [sys.executable, str(home.REPO / "scripts" / "run_pipeline.py"), *args]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == (0 if name == "success" else 1), result.stdout + result.stderr
        run_id = result.stdout.split()[2]  # "<dag_id> run <run_id> (log: ...)"
        runs[name] = {"run_id": run_id, "output": result.stdout + result.stderr, "span": (started, datetime.now(UTC))}
    return runs


def task_instances(run_id):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(TaskInstance).where(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run_id)
        tis = session.scalars(query.order_by(TaskInstance.task_id, TaskInstance.map_index)).all()
        session.expunge_all()
    return tis


def ui_log(ti):
    """What the UI's log endpoint returns for the task instance's latest try: Airflow's reader, its messages."""
    from airflow.utils.log.log_reader import TaskLogReader

    return [json.loads(line) for line in TaskLogReader().read_log_stream(ti, ti.try_number, {})]


def dag_run(run_id):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id))
        session.expunge_all()
    return run


def test_each_task_instance_has_its_log_where_the_ui_reads_it(local_runs):
    from airflow.configuration import conf
    from airflow.utils.log.log_reader import TaskLogReader

    handler = TaskLogReader().log_handler  # the FileTaskHandler the UI reads task logs with
    everything = task_instances(local_runs["success"]["run_id"])
    skipped = {ti.task_id for ti in everything if ti.state == "skipped"}
    segments = {"segment_emr_job", "train_segments_on_emr", "plan_segments", "segments.train_segments",
                "segments.persist_segments", "publish_router"}  # fmt: skip
    assert skipped == {"approve_champion", "promote_champion", "keep_challenger"} | segments, "no approval, no segments"
    tis = [ti for ti in everything if ti.task_id not in skipped]
    assert [(ti.task_id, ti.map_index) for ti in tis] == [
        ("get_data", -1),
        ("persist_model", -1),
        ("train_model", 0),
        ("train_model", 1),
        ("train_model", 2),
    ]
    for ti in tis:
        path = Path(conf.get("logging", "base_log_folder"), handler._render_filename(ti, ti.try_number))
        assert path.is_file(), f"{ti.task_id}[{ti.map_index}]: no {path}"
        messages = ui_log(ti)
        assert str(path) in [message["event"] for message in messages], "the reader found the local file"
        assert any(message["event"].startswith("Done. Returned value was: ") for message in messages), messages
    persisted = ui_log(tis[1])
    assert any(message.get("logger", "").startswith("ml_pipeline") for message in persisted), "the pipeline's own"
    errors = [(ti.task_id, message) for ti in tis for message in ui_log(ti) if message.get("level") == "error"]
    assert errors == [], f"a run where every task succeeded logs no error: {errors}"


def test_a_failed_tasks_log_gives_its_one_line_reason_once(local_runs):
    run_id = local_runs["rerun"]["run_id"]
    reason = metadata.xcom_values(DAG_ID, run_id, "failure")["get_data"]
    assert local_runs["rerun"]["output"].rstrip().endswith(reason)
    get_data = next(ti for ti in task_instances(run_id) if ti.task_id == "get_data")
    errors = [message for message in ui_log(get_data) if "error_detail" in message]
    # once: the rerun replaced the first attempt's DAG run, and its log with it
    assert [error["error_detail"][0]["exc_value"] for error in errors] == [reason]


def test_each_run_is_a_dag_run_of_its_own_from_its_start_to_its_end(local_runs):
    success, rerun = local_runs["success"], local_runs["rerun"]
    assert success["run_id"] != rerun["run_id"] == local_runs["failure"]["run_id"] == f"manual__{OLD_DATE}"
    for run in (success, rerun):
        record = dag_run(run["run_id"])
        started, ended = run["span"]
        # not from the logical date (for the rerun, months earlier) but while its `make run` ran
        assert started <= record.start_date < record.end_date <= ended, (run["run_id"], record.start_date)
