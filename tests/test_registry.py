"""persist_model's registration: one MLflow run and one version per training, found again by content on retries."""

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import RunStatus
from pipeline_runs import DAG_ID, MODEL, candidate, holdout_of, publish, snapshot, train

from ml_pipeline.contract import TAG_DAG_ID, TAG_FINGERPRINT, TAG_LOGGED_MODEL, TAG_RUN_ID, RunIds
from ml_pipeline.errors import PipelineError
from ml_pipeline.registry.connection import connect
from ml_pipeline.registry.run_log import RunResults, log_runs, run_tags
from ml_pipeline.store.objects import Storage, StorageError


@pytest.fixture
def tracking_uri(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    yield uri
    mlflow.set_tracking_uri(None)


def versions():
    return sorted(int(v.version) for v in MlflowClient().search_model_versions(f"name = '{MODEL}'"))


def test_a_run_logs_a_parent_a_child_per_candidate_and_a_leaderboard_and_registers_the_best(tmp_path, tracking_uri):
    dataset = snapshot(tmp_path, "scheduled__2026-11-21")
    trainings = [
        train(tmp_path, "scheduled__2026-11-21", dataset=dataset, **settings)[1]
        for settings in ({"classifier": "random_forest", "hyperparams": {"n_estimators": 1, "max_depth": 1}},
                         {"classifier": "logistic_regression"}, {"classifier": "hist_gradient_boosting"})
    ]  # fmt: skip
    candidates = [candidate(t["classifier"]) for t in trainings] + [candidate("gradient_boosting")]
    result = publish(
        tmp_path, tracking_uri, "scheduled__2026-11-21", trained=(dataset, trainings), candidates=candidates,
        failures={"gradient_boosting": "Invalid configuration: bad hyperparams"},
    )  # fmt: skip
    client = MlflowClient()
    assert result["version"] == "1" and not result["reused"]
    assert result["best_candidate"] == "logistic_regression", "on a tie (1.0) the candidate listed first wins"
    assert result["skipped"] == {"gradient_boosting": "Invalid configuration: bad hyperparams"}

    version = client.get_model_version(MODEL, "1")
    assert version.tags[TAG_DAG_ID] == DAG_ID and version.tags[TAG_RUN_ID] == "scheduled__2026-11-21"
    assert version.tags["candidate"] == "logistic_regression" and len(version.tags[TAG_FINGERPRINT]) == 64
    assert (version.tags["data.rows"], version.tags["data.rows_read"]) == ("178", "178")

    best = client.get_run(result["mlflow_run_id"])
    parent = client.get_run(best.data.tags["mlflow.parentRunId"])
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {run.data.tags["candidate"] for run in children} == {"random_forest", "logistic_regression",
                                                                "hist_gradient_boosting"}  # fmt: skip
    assert all(run.info.status == "FINISHED" for run in [parent, *children])
    assert best.data.metrics["accuracy"] >= 0.9 and "f1_class_2" in best.data.metrics
    assert best.data.params["classifier"] == "logistic_regression"
    artifacts = {item.path for item in client.list_artifacts(best.info.run_id)}
    assert {"confusion_matrix.png", "classification_report.json"} <= artifacts
    assert parent.data.params["test_size"] == "0.25" and parent.data.params["best_candidate"] == "logistic_regression"
    assert parent.data.tags["data.source"] == "sklearn:wine" and parent.data.tags["data.rows"] == "178"
    assert {item.dataset.name for item in parent.inputs.dataset_inputs} == {"training", "holdout"}
    schema = mlflow.artifacts.load_dict(f"runs:/{parent.info.run_id}/schema.json")
    assert schema["target"] == "target" and len(schema["features"]) == 13
    table = mlflow.artifacts.load_dict(f"runs:/{parent.info.run_id}/leaderboard.json")
    board = pd.DataFrame(table["data"], columns=table["columns"])
    assert list(board["candidate"]) == ["logistic_regression", "hist_gradient_boosting", "random_forest",
                                        "gradient_boosting"], "best first, skipped last"  # fmt: skip
    assert list(board["status"]) == ["best", "trained", "trained", "skipped: Invalid configuration: bad hyperparams"]

    model_info = mlflow.models.get_model_info(f"models:/{MODEL}/1")
    assert model_info.signature is not None and "proline" in model_info.signature.inputs.input_names()
    assert model_info.metadata["dataset_schema"]["labels"] == [0, 1, 2], "the model carries its data set's schema"
    pinned = Path(mlflow.pyfunc.get_model_dependencies(f"models:/{MODEL}/1")).read_text()
    assert "scikit-learn==" in pinned and "mlflow==" in pinned


def test_when_no_candidate_trained_the_run_fails_with_one_line_naming_each_reason(tmp_path, tracking_uri):
    dataset = snapshot(tmp_path, "run")
    with pytest.raises(PipelineError, match=r"none of the 2 candidates trained, so nothing was registered \(a: bad"):
        publish(tmp_path, tracking_uri, "run", trained=(dataset, []), candidates=[candidate(name="a"), candidate(
            "random_forest", name="b")], failures={"a": "bad C"})  # fmt: skip
    assert MlflowClient(tracking_uri).search_registered_models() == []


def test_a_retry_of_the_same_training_reuses_its_version_and_its_run(tmp_path, tracking_uri):
    trained = train(tmp_path, "manual__2026-11-22")
    first = publish(tmp_path, tracking_uri, "manual__2026-11-22", trained=trained)
    again = publish(tmp_path, tracking_uri, "manual__2026-11-22", trained=trained)
    assert again["version"] == first["version"] == "1" and again["reused"]
    assert again["mlflow_run_id"] == first["mlflow_run_id"]
    assert versions() == [1]
    assert len(MlflowClient().search_runs([connect(tracking_uri, DAG_ID)])) == 2, "one parent, one candidate"


def test_a_rerun_that_trained_something_else_registers_a_new_version(tmp_path, tracking_uri):
    publish(tmp_path, tracking_uri, "manual__2026-11-22")
    rerun = publish(tmp_path, tracking_uri, "manual__2026-11-22", hyperparams={"C": 0.01})
    assert rerun["version"] == "2" and not rerun["reused"]
    client = MlflowClient()
    first, second = client.get_model_version(MODEL, "1"), client.get_model_version(MODEL, "2")
    assert first.tags[TAG_RUN_ID] == second.tags[TAG_RUN_ID] == "manual__2026-11-22"
    assert first.tags[TAG_FINGERPRINT] != second.tags[TAG_FINGERPRINT]
    assert first.run_id != second.run_id


def test_a_run_left_running_by_a_crashed_attempt_is_ended_as_failed(tmp_path, tracking_uri):
    dataset, training = train(tmp_path, "crashed")
    client = MlflowClient(tracking_uri)
    orphan = client.create_run(connect(tracking_uri, DAG_ID), tags=run_tags(RunIds(DAG_ID, "crashed"), dataset))
    result = publish(tmp_path, tracking_uri, "crashed", trained=(dataset, training))  # the retry
    assert client.get_run(orphan.info.run_id).info.status == "FAILED"
    assert result["mlflow_run_id"] != orphan.info.run_id and versions() == [1]


def test_a_run_that_logged_its_model_before_the_crash_is_registered_instead_of_logged_again(tmp_path, tracking_uri):
    dataset, training = train(tmp_path, "crashed")
    experiment_id = connect(tracking_uri, DAG_ID)
    holdout = holdout_of(dataset)
    log_runs(Storage(), experiment_id, RunIds(DAG_ID, "crashed"), RunResults(dataset, [training], {}, holdout))
    result = publish(tmp_path, tracking_uri, "crashed", trained=(dataset, training))
    runs = MlflowClient().search_runs([experiment_id])
    assert len(runs) == 2, "the parent and its one candidate's run, nothing logged twice"
    child = next(run for run in runs if TAG_LOGGED_MODEL in run.data.tags)
    assert result["mlflow_run_id"] == child.info.run_id and child.info.status == RunStatus.to_string(RunStatus.FINISHED)


def test_a_failure_before_registration_changes_nothing(tmp_path, tracking_uri):
    publish(tmp_path, tracking_uri, "first")
    dataset, training = train(tmp_path, "second")
    broken = training | {"model_uri": str(tmp_path / "gone.joblib")}
    with pytest.raises(StorageError, match="gone.joblib does not exist"):
        publish(tmp_path, tracking_uri, "second", trained=(dataset, broken))
    client = MlflowClient()
    assert versions() == [1]
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert [run.info.status for run in client.search_runs([connect(tracking_uri, DAG_ID)])] == ["FINISHED"] * 2


def test_registering_prints_nothing_to_stderr_which_task_logs_show_as_errors(tmp_path, tracking_uri, capfd):
    publish(tmp_path, tracking_uri, "scheduled__2026-11-24")
    assert "Successfully registered" not in capfd.readouterr().err
