"""End to end: the real DAG run by `scripts/run_pipeline.py` (what `make run` calls) on a throwaway Airflow home.

Each test gets its own MLflow store and artifact store; the Airflow metadata DB is migrated once per session.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import accuracy_score

from ml_pipeline.data import FEATURES, TARGET

REPO = Path(__file__).resolve().parent.parent
MODEL = "wine-classifier"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def airflow_home():
    home = os.environ["AIRFLOW_HOME"]  # the session's own, set in conftest
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=os.environ, check=True, capture_output=True, timeout=300
    )
    return home


@pytest.fixture
def stores(tmp_path, airflow_home):
    """Environment for one pipeline: its own MLflow store and artifact root, the session's Airflow."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ML_PIPELINE_", "MLFLOW_", "AWS_"))}
    env |= {
        "AIRFLOW_HOME": airflow_home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow/mlflow.db",
        "ML_PIPELINE_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
    }
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    yield env
    mlflow.set_tracking_uri(None)


def run_pipeline(env, logical_date, conf=None, expect_success=True):
    args = [sys.executable, str(REPO / "scripts" / "run_pipeline.py"), "--logical-date", logical_date]
    if conf:
        args += ["--conf", json.dumps(conf)]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == expect_success, output[-5000:]
    return output


def versions():
    return sorted(int(v.version) for v in MlflowClient().search_model_versions(f"name = '{MODEL}'"))


def alias_version(alias):
    return str(MlflowClient().get_model_version_by_alias(MODEL, alias).version)


def holdout_of(artifact_root, logical_date):
    run_dir = f"manual__{logical_date}".replace(":", "_").replace("+", "_")
    return pd.read_parquet(Path(artifact_root) / "classification_pipeline" / run_dir / "data" / "holdout.parquet")


def test_runs_register_versions_gate_the_champion_and_reruns_add_nothing(stores):
    first = run_pipeline(stores, "2026-11-20T00:00:00+00:00")
    assert "registered   wine-classifier version 1" in first
    assert "champion     yes" in first
    assert versions() == [1] and alias_version("champion") == "1"

    holdout = holdout_of(stores["ML_PIPELINE_ARTIFACT_ROOT"], "2026-11-20T00:00:00+00:00")
    champion = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    assert accuracy_score(holdout[TARGET], champion.predict(holdout[list(FEATURES)])) >= 0.9

    second = run_pipeline(stores, "2026-11-21T00:00:00+00:00")
    assert versions() == [1, 2]
    gate = MlflowClient().get_model_version(MODEL, "2").tags["gate"]
    promoted = gate.startswith("champion:")
    assert alias_version("champion") == ("2" if promoted else "1")
    assert f"champion     {'yes' if promoted else 'no'}" in second

    rerun = run_pipeline(stores, "2026-11-21T00:00:00+00:00")
    assert "registered   wine-classifier version 2" in rerun
    assert versions() == [1, 2], "rerunning the same DAG run must not register another version"


def test_a_worse_model_does_not_take_champion(stores):
    run_pipeline(stores, "2026-11-20T00:00:00+00:00")
    weak = {"classifier": "random_forest", "hyperparams": {"n_estimators": 1, "max_depth": 1}}
    output = run_pipeline(stores, "2026-11-21T00:00:00+00:00", conf=weak)
    assert "registered   wine-classifier version 2" in output and "champion     no" in output
    assert alias_version("champion") == "1" and alias_version("challenger") == "2"


def test_artifacts_travel_through_s3_via_the_airflow_connection(stores, s3_client, moto_server):
    s3_client.create_bucket(Bucket="ml-artifacts")
    env = stores | {
        "ML_PIPELINE_ARTIFACT_ROOT": "s3://ml-artifacts/pipelines",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"},
            }
        ),
    }
    run_pipeline(env, "2026-11-22T00:00:00+00:00")
    listed = s3_client.list_objects_v2(Bucket="ml-artifacts", Prefix="pipelines/classification_pipeline/")
    names = {item["Key"].rsplit("/", 2)[-2] + "/" + item["Key"].rsplit("/", 1)[-1] for item in listed["Contents"]}
    assert names == {"data/train.parquet", "data/holdout.parquet", "model/model.joblib", "model/evaluation.json"}
    assert versions() == [1] and alias_version("champion") == "1"


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda frame: frame.drop(columns=["proline"]), "Invalid input data: missing columns: proline"),
        (lambda frame: frame.assign(target=0), "Invalid input data: only one class in 'target'"),
    ],
)
def test_bad_input_fails_get_data_clearly_and_registers_nothing(stores, tmp_path, wine_frame, corrupt, message):
    source = tmp_path / "wine.csv"
    corrupt(wine_frame).to_csv(source, index=False)
    output = run_pipeline(stores, "2026-11-23T00:00:00+00:00", conf={"source_uri": str(source)}, expect_success=False)
    assert message in output
    assert "ended in state failed (get_data failed, train_model upstream_failed" in output
    assert "up_for_retry" not in output.lower(), "bad input must not be retried"
    assert MlflowClient().search_registered_models() == []


def test_invalid_configuration_fails_the_run_at_once(stores):
    conf = {"classifier": "svm"}
    output = run_pipeline(stores, "2026-11-24T00:00:00+00:00", conf=conf, expect_success=False)
    assert "Invalid configuration: classifier must be one of logistic_regression, random_forest" in output
    assert "up_for_retry" not in output.lower()
    assert MlflowClient().search_registered_models() == []
