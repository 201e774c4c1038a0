"""End to end: batch_predictions run by `scripts/run_scoring.py` (what `make score` calls) against the champion that
classification_pipeline registered, on both engines, with the Asset that schedules it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from scoring_rows_fixture import BAD_ROWS
from test_e2e import MODEL, REPO, extra_links, run_pipeline
from wine import FEATURES

pytestmark = pytest.mark.e2e
DAG_ID = "batch_predictions"


def run_scoring(env, logical_date, conf=None, expect_success=True):
    command = [sys.executable, str(REPO / "scripts" / "run_scoring.py"), "--logical-date", logical_date]
    command += ["--conf", json.dumps(conf)] if conf else []
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == expect_success, output[-5000:]
    return output


def output_of(stores, logical_date):
    run_dir = f"manual__{logical_date}".replace(":", "_").replace("+", "_")
    return Path(stores["ML_PIPELINE_ARTIFACT_ROOT"]) / DAG_ID / run_dir


def set_paused(dag_id, paused):
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.get(DagModel, dag_id).is_paused = paused


def for_asset(column, asset_id, name):
    """`column` of the rows (`asset_id` their Asset's id) that belong to the Asset called `name`."""
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(column).join(AssetModel, asset_id == AssetModel.id).where(AssetModel.name == name)
    with create_session() as session:
        return list(session.scalars(query))


def queued_by(asset_name):
    """The DAGs the scheduler will run because the Asset got an event (Airflow's queue for it)."""
    from airflow.models.asset import AssetDagRunQueue

    queue = AssetDagRunQueue
    return set(for_asset(queue.target_dag_id, queue.asset_id, asset_name))


def drift_events():
    """The events of the Asset batch_predictions_drift: one per scoring run whose rows drifted."""
    from airflow.models.asset import AssetEvent

    return for_asset(AssetEvent.extra, AssetEvent.asset_id, "batch_predictions_drift")


def test_the_champion_scores_new_rows_on_each_engine_and_a_new_champion_triggers_scoring(stores, rows, tmp_path):
    # No model yet: one clear line, nothing written as complete.
    failed = run_scoring(stores, "2026-11-01T00:00:00+00:00", expect_success=False)
    assert f"model '{MODEL}' does not exist in the registry" in failed
    assert not (output_of(stores, "2026-11-01T00:00:00+00:00") / "_SUCCESS").exists()

    # Unpaused (as in the UI), batch_predictions is queued when classification_pipeline promotes a champion.
    set_paused(DAG_ID, False)
    run_pipeline(stores, "2026-11-02T00:00:00+00:00")
    assert DAG_ID in queued_by("classification_pipeline_champion")

    # The default source: the Wine features, scored on the worker by the pinned champion.
    scored = run_scoring(stores, "2026-11-03T00:00:00+00:00")
    assert "model        wine-classifier version 1 (pinned when the run started)" in scored
    assert "rows         178 in, 178 scored, 0 rejected" in scored
    assert "drift        none above the thresholds; report " in scored and drift_events() == []
    assert re.search(r"announce_drift +skipped", scored), "the trail ends every task it showed running"
    assert len(scored.splitlines()) <= 25, "a progress trail and a summary, not a log dump"
    output = output_of(stores, "2026-11-03T00:00:00+00:00")
    summary = json.loads((output / "_SUCCESS").read_text())
    predictions = pd.read_parquet(output / "predictions")
    champion = mlflow.pyfunc.load_model(f"models:/{MODEL}/1")
    assert predictions["prediction"].tolist() == list(champion.predict(predictions[list(FEATURES)]))
    assert summary["model_version"] == "1" and summary["rows_scored"] == 178
    # Links to the version it used, to its MLflow run and its drift report (a local output has no browser address).
    scoring_experiment = mlflow.get_run(summary["mlflow_run_id"]).info.experiment_id
    assert extra_links("2026-11-03T00:00:00+00:00", "publish_predictions", DAG_ID) == {
        (-1, "ModelVersionLink"): f"http://127.0.0.1:5000/#/models/{MODEL}/versions/1?workflowType=machine_learning",
        (-1, "MlflowRunLink"): f"http://127.0.0.1:5000/#/runs/{summary['mlflow_run_id']}?workflowType=machine_learning",
        (-1, "DriftReportLink"): f"http://127.0.0.1:5000/#/experiments/{scoring_experiment}/runs/"
        f"{summary['mlflow_run_id']}/artifactPath/drift/report.html?workflowType=machine_learning",
    }

    # A rerun of the same DAG run replaces its output and logs into the same MLflow run.
    run_scoring(stores, "2026-11-03T00:00:00+00:00")
    again = json.loads((output / "_SUCCESS").read_text())
    assert again["mlflow_run_id"] == summary["mlflow_run_id"]
    assert sorted(path.name for path in (output / "predictions").iterdir()) == ["part-00000.parquet"]

    # Spark, on rows with three that cannot be scored: the same reasons, the rest scored, drift measured (by a PSI
    # threshold for so few rows: 40 of Wine's drift from all 178 by chance alone).
    conf = {"scoring_engine": "spark", "scoring_source_uri": str(rows), "max_rejected_fraction": 0.1}
    spark = run_scoring(stores, "2026-11-04T00:00:00+00:00", conf | {"drift_psi_threshold": 1.0})
    assert "engine       spark" in spark and "rows         43 in, 40 scored, 3 rejected" in spark
    assert "drift        none above the thresholds; report " in spark
    rejected = pd.read_parquet(output_of(stores, "2026-11-04T00:00:00+00:00") / "rejected")
    assert sorted(rejected["reason"]) == sorted(reason for _, _, reason in BAD_ROWS.values())

    # Rows that drifted from the training data: scored all the same, and announced once on the drift Asset.
    shifted = tmp_path / "shifted.csv"
    pd.read_csv(rows).assign(alcohol=lambda frame: pd.to_numeric(frame["alcohol"], errors="coerce") + 3).to_csv(
        shifted, index=False
    )
    # Their true labels arrive too, and say the champion is wrong: it decayed, on the same event.
    from sklearn.datasets import load_wine

    truth = load_wine(as_frame=True).target.sample(40, random_state=1).to_numpy()  # the rows fixture's sample
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": range(40), "target": (truth + 1) % 3}).to_csv(labels, index=False)
    watched = {"scoring_engine": "local", "scoring_source_uri": str(shifted), "label_source_uri": str(labels),
               "id_column": "id", "min_labeled_rows": 10}  # fmt: skip
    set_paused("classification_pipeline", False)
    drifted = run_scoring(stores, "2026-11-06T00:00:00+00:00", conf | watched)
    assert "drift        DRIFTED (alcohol: PSI " in drifted and re.search(r"announce_drift +success", drifted)
    assert re.search(r"quality      live f1_macro 0\.\d+ on \d+ rows, holdout [01]\.\d+; DECAYED", drifted)
    (event,) = drift_events()
    assert set(event["drifted"]) >= {"alcohol"} and event["model_version"] == "1"
    assert event["decayed"].startswith("live f1_macro ")
    assert (output_of(stores, "2026-11-06T00:00:00+00:00") / "drift" / "report.html").is_file()
    assert (output_of(stores, "2026-11-06T00:00:00+00:00") / "quality" / "quality.png").is_file()
    assert "classification_pipeline" in queued_by("batch_predictions_drift"), "drift and decay may retrain"

    # Too many rejected rows: the run fails with one line and its output is not marked complete.
    strict = run_scoring(stores, "2026-11-05T00:00:00+00:00", conf | {"scoring_engine": "local",
                                                                      "max_rejected_fraction": 0.01},
                         expect_success=False)  # fmt: skip
    assert "3 of 43 rows (7.0%) cannot be scored, more than max_rejected_fraction 0.01" in strict
    assert not (output_of(stores, "2026-11-05T00:00:00+00:00") / "_SUCCESS").exists()
