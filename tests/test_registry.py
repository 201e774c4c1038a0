"""persist_model's registration: one MLflow run and one version per training, found again by content on retries."""

from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import RunStatus
from pipeline_runs import DAG_ID, MODEL, publish, train

from ml_pipeline.contract import TAG_DAG_ID, TAG_FINGERPRINT, TAG_RUN_ID
from ml_pipeline.registry import TAG_LOGGED_MODEL, log_run, version_tags
from ml_pipeline.storage import Storage, StorageError
from ml_pipeline.tracking import connect


@pytest.fixture
def tracking_uri(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    yield uri
    mlflow.set_tracking_uri(None)


def versions():
    return sorted(int(v.version) for v in MlflowClient().search_model_versions(f"name = '{MODEL}'"))


def test_first_run_logs_everything_and_registers_a_tagged_version(tmp_path, tracking_uri):
    result = publish(tmp_path, tracking_uri, "scheduled__2026-11-21")
    client = MlflowClient()
    assert result["version"] == "1" and not result["reused"]

    version = client.get_model_version(MODEL, "1")
    assert version.tags[TAG_DAG_ID] == DAG_ID and version.tags[TAG_RUN_ID] == "scheduled__2026-11-21"
    assert len(version.tags["data_hash"]) == 64 and len(version.tags[TAG_FINGERPRINT]) == 64

    run = client.get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["accuracy"] >= 0.9 and "f1_class_2" in run.data.metrics
    assert run.data.params["classifier"] == "logistic_regression" and run.data.params["test_size"] == "0.25"
    assert run.data.tags["data.source"] == "sklearn:wine" and run.data.tags["data.rows"] == "178"
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "classification_report.json"} <= artifacts
    assert {item.dataset.name for item in run.inputs.dataset_inputs} == {"wine-training", "wine-holdout"}

    model_info = mlflow.models.get_model_info(f"models:/{MODEL}/1")
    assert model_info.signature is not None and "proline" in model_info.signature.inputs.input_names()
    pinned = Path(mlflow.pyfunc.get_model_dependencies(f"models:/{MODEL}/1")).read_text()
    assert "scikit-learn==" in pinned and "mlflow==" in pinned


def test_a_retry_of_the_same_training_reuses_its_version_and_its_run(tmp_path, tracking_uri):
    trained = train(tmp_path, "manual__2026-11-22")
    first = publish(tmp_path, tracking_uri, "manual__2026-11-22", trained=trained)
    again = publish(tmp_path, tracking_uri, "manual__2026-11-22", trained=trained)
    assert again["version"] == first["version"] == "1" and again["reused"]
    assert again["mlflow_run_id"] == first["mlflow_run_id"]
    assert versions() == [1]
    assert len(MlflowClient().search_runs([connect(tracking_uri, DAG_ID)])) == 1


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
    tags = version_tags(DAG_ID, "crashed", dataset, training)
    client = MlflowClient(tracking_uri)
    orphan = client.create_run(connect(tracking_uri, DAG_ID), tags=tags)  # as if the worker died mid-logging
    result = publish(tmp_path, tracking_uri, "crashed", trained=(dataset, training))
    assert client.get_run(orphan.info.run_id).info.status == "FAILED"
    assert result["mlflow_run_id"] != orphan.info.run_id and versions() == [1]


def test_a_run_that_logged_its_model_before_the_crash_is_registered_instead_of_logged_again(tmp_path, tracking_uri):
    dataset, training = train(tmp_path, "crashed")
    tags = version_tags(DAG_ID, "crashed", dataset, training)
    experiment_id = connect(tracking_uri, DAG_ID)
    from ml_pipeline.data import read_frame

    log_run(Storage(), experiment_id, tags, dataset, training, read_frame(dataset["holdout_uri"], Storage()))
    result = publish(tmp_path, tracking_uri, "crashed", trained=(dataset, training))
    runs = MlflowClient().search_runs([experiment_id])
    assert len(runs) == 1 and runs[0].info.status == RunStatus.to_string(RunStatus.FINISHED)
    assert result["mlflow_run_id"] == runs[0].info.run_id and TAG_LOGGED_MODEL in runs[0].data.tags


def test_a_failure_before_registration_changes_nothing(tmp_path, tracking_uri):
    publish(tmp_path, tracking_uri, "first")
    dataset, training = train(tmp_path, "second")
    broken = training | {"model_uri": str(tmp_path / "gone.joblib")}
    with pytest.raises(StorageError, match="gone.joblib does not exist"):
        publish(tmp_path, tracking_uri, "second", trained=(dataset, broken))
    client = MlflowClient()
    assert versions() == [1]
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert [run.info.status for run in client.search_runs([connect(tracking_uri, DAG_ID)])] == ["FINISHED"]
