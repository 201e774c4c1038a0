"""persist_model: one MLflow run and one registered version per DAG run, and a champion gate that protects users."""

from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from ml_pipeline.data import snapshot_dataset
from ml_pipeline.registry import CHAMPION, champion_version, persist
from ml_pipeline.storage import Storage, StorageError
from ml_pipeline.training import train_and_evaluate

MODEL = "wine-classifier"


@pytest.fixture
def tracking_uri(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    yield uri
    mlflow.set_tracking_uri(None)


def run_pipeline(tmp_path, tracking_uri, run_id, classifier="logistic_regression", hyperparams=None, **overrides):
    prefix = str(tmp_path / "artifacts" / run_id)
    storage = Storage()
    dataset = snapshot_dataset("", prefix, storage, test_size=0.25, seed=42, min_rows=100)
    training = train_and_evaluate(
        dataset["train_uri"], dataset["holdout_uri"], prefix, storage,
        classifier=classifier, hyperparams=hyperparams or {}, seed=42,
    )  # fmt: skip
    arguments = {
        "storage": storage,
        "tracking_uri": tracking_uri,
        "experiment_name": "classification_pipeline",
        "model_name": MODEL,
        "gate_metric": "f1_macro",
        "dag_id": "classification_pipeline",
        "run_id": run_id,
        "dataset": dataset,
        "training": training,
        "split_params": {"test_size": 0.25, "random_seed": 42},
    }
    return persist(**(arguments | overrides))


def versions(client):
    return sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))


def test_first_run_logs_everything_and_becomes_champion(tmp_path, tracking_uri):
    result = run_pipeline(tmp_path, tracking_uri, "scheduled__2026-11-21")
    client = MlflowClient()
    assert result["version"] == "1" and result["alias"] == CHAMPION and result["promoted"]
    assert str(champion_version(client, MODEL).version) == "1"

    version = client.get_model_version(MODEL, "1")
    assert version.tags["airflow_dag_id"] == "classification_pipeline"
    assert version.tags["airflow_run_id"] == "scheduled__2026-11-21"
    assert len(version.tags["data_hash"]) == 64

    run = client.get_run(result["mlflow_run_id"])
    assert run.data.metrics["accuracy"] >= 0.9 and "f1_class_2" in run.data.metrics
    assert run.data.params["classifier"] == "logistic_regression" and run.data.params["test_size"] == "0.25"
    assert run.data.tags["data.source"] == "sklearn:wine" and run.data.tags["data.rows"] == "178"
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "classification_report.json"} <= artifacts
    assert {dataset_input.dataset.name for dataset_input in run.inputs.dataset_inputs} == {
        "wine-training",
        "wine-holdout",
    }

    model_info = mlflow.models.get_model_info(f"models:/{MODEL}@champion")
    assert model_info.signature is not None and "proline" in model_info.signature.inputs.input_names()
    requirements = mlflow.pyfunc.get_model_dependencies(f"models:/{MODEL}/1")
    pinned = Path(requirements).read_text()
    assert "scikit-learn==" in pinned and "mlflow==" in pinned


def test_a_retry_of_the_same_dag_run_reuses_its_version(tmp_path, tracking_uri):
    first = run_pipeline(tmp_path, tracking_uri, "manual__2026-11-22")
    again = run_pipeline(tmp_path, tracking_uri, "manual__2026-11-22")
    assert again["version"] == first["version"] == "1"
    assert again["alias"] == CHAMPION
    assert versions(MlflowClient()) == [1]


def test_an_equally_good_model_from_a_new_run_is_promoted(tmp_path, tracking_uri):
    run_pipeline(tmp_path, tracking_uri, "run-1")
    second = run_pipeline(tmp_path, tracking_uri, "run-2")
    assert second["version"] == "2" and second["promoted"] and second["previous_champion"] == "1"
    assert second["champion_score"] == pytest.approx(second["metrics"]["f1_macro"])
    assert str(champion_version(MlflowClient(), MODEL).version) == "2"


def test_a_worse_model_becomes_challenger_and_the_champion_stays(tmp_path, tracking_uri):
    run_pipeline(tmp_path, tracking_uri, "good")
    weak = run_pipeline(tmp_path, tracking_uri, "weak", "random_forest", {"n_estimators": 1, "max_depth": 1})
    client = MlflowClient()
    assert weak["alias"] == "challenger" and not weak["promoted"]
    assert weak["metrics"]["f1_macro"] < weak["champion_score"]
    assert str(champion_version(client, MODEL).version) == "1"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "2"
    assert client.get_model_version(MODEL, "2").tags["gate"].startswith("challenger: f1_macro")


def test_a_champion_that_cannot_be_scored_is_not_replaced_automatically(tmp_path, tracking_uri, monkeypatch):
    run_pipeline(tmp_path, tracking_uri, "first")

    def broken_load(uri):
        raise RuntimeError("schema mismatch")

    monkeypatch.setattr(mlflow.pyfunc, "load_model", broken_load)
    second = run_pipeline(tmp_path, tracking_uri, "second")
    assert second["alias"] == "challenger"
    assert "could not be scored on this holdout: schema mismatch" in second["reason"]
    assert str(champion_version(MlflowClient(), MODEL).version) == "1"


def test_a_failure_before_registration_changes_nothing(tmp_path, tracking_uri):
    run_pipeline(tmp_path, tracking_uri, "first")
    with pytest.raises(StorageError):
        run_pipeline(
            tmp_path, tracking_uri, "second",
            training={"model_uri": str(tmp_path / "gone.joblib"), "evaluation_uri": "x", "metrics": {}, "params": {}},
        )  # fmt: skip
    client = MlflowClient()
    assert versions(client) == [1]
    assert str(champion_version(client, MODEL).version) == "1"
