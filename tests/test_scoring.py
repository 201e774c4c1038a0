"""batch_predictions' steps on the local engine: the pinned version scores every good row, and only that version."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from pipeline_runs import MODEL
from scoring_rows_fixture import BAD_ROWS
from wine import FEATURES

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import RunIds
from ml_pipeline.errors import DataValidationError
from ml_pipeline.registry.lookup import ModelNotFoundError
from ml_pipeline.scoring.batch import pin_version, publish_output, score_on_worker
from ml_pipeline.store.objects import Storage


def plan_for(registry, source, output, version="", max_rejected_fraction=0.1):
    config = PipelineConfig(mlflow_tracking_uri=registry, model_name=MODEL, model_version=version,
                            scoring_source_uri=str(source), max_rejected_fraction=max_rejected_fraction)  # fmt: skip
    return pin_version(config, str(output))


def test_the_champion_is_pinned_by_version_number(registry, tmp_path):
    plan = plan_for(registry, "", tmp_path)
    assert plan["model_version"] == "1" and plan["model_uri"] == f"models:/{MODEL}/1"


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [(MODEL, "9", "has no version 9 .*use alias champion, or a version up to 1"), ("other", "", "does not exist")],
)
def test_a_model_that_is_not_registered_fails_with_what_there_is(registry, tmp_path, name, version, message):
    with pytest.raises(ModelNotFoundError, match=message):
        pin_version(PipelineConfig(mlflow_tracking_uri=registry, model_name=name, model_version=version), str(tmp_path))


def test_every_good_row_gets_the_pinned_versions_own_prediction_and_bad_rows_their_reason(registry, rows, tmp_path):
    plan = plan_for(registry, rows, tmp_path / "out")
    counts = score_on_worker(plan, Storage(), batch_rows=7)  # several batches
    assert counts["rows_in"] == 43 and counts["rows_scored"] == 40 and counts["rows_rejected"] == 3
    scored = pd.read_parquet(tmp_path / "out" / "predictions").sort_values("id")
    expected = mlflow.pyfunc.load_model(f"models:/{MODEL}/1").predict(scored[list(FEATURES)])
    assert scored["prediction"].tolist() == list(expected)
    probabilities = scored.filter(like="probability_")
    assert list(probabilities.columns) == ["probability_0", "probability_1", "probability_2"]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert set(scored["model_version"]) == {"1"} and scored["scored_at"].notna().all()
    rejected = pd.read_parquet(tmp_path / "out" / "rejected")
    assert {int(row): reason for row, reason in zip(rejected["id"], rejected["reason"], strict=True)} == {
        row_id: reason for row_id, (_, _, reason) in BAD_ROWS.items()
    }


def test_a_rerun_replaces_its_own_output_and_nothing_else(registry, rows, tmp_path):
    output = tmp_path / "batch_predictions" / "run_1"
    (output / "predictions").mkdir(parents=True)
    (output / "predictions" / "part-00042.parquet").write_bytes(b"stale")
    (output / "_SUCCESS").write_text("{}")
    neighbour = tmp_path / "batch_predictions" / "run_10" / "_SUCCESS"
    neighbour.parent.mkdir()
    neighbour.write_text("{}")
    score_on_worker(plan_for(registry, rows, output), Storage())
    assert sorted(path.name for path in (output / "predictions").iterdir()) == ["part-00000.parquet"]
    assert not (output / "_SUCCESS").exists()  # until publish checks the counts
    assert neighbour.exists()


def test_a_promotion_during_the_run_does_not_change_the_pinned_version(registry, rows, tmp_path):
    plan = plan_for(registry, rows, tmp_path / "out")
    client = MlflowClient()
    source = client.get_model_version(MODEL, "1")
    newer = client.create_model_version(MODEL, source.source, run_id=source.run_id, model_id=source.model_id)
    client.set_registered_model_alias(MODEL, "champion", newer.version)
    try:
        score_on_worker(plan, Storage())
    finally:
        client.set_registered_model_alias(MODEL, "champion", "1")
    assert set(pd.read_parquet(tmp_path / "out" / "predictions")["model_version"]) == {"1"}


def test_publish_marks_the_output_complete_and_a_retry_logs_into_the_same_mlflow_run(registry, rows, tmp_path):
    plan = plan_for(registry, rows, tmp_path / "out")
    score_on_worker(plan, Storage())
    first = publish_output(plan, Storage(), RunIds("batch_predictions", "r1"), log_to_mlflow=True)
    again = publish_output(plan, Storage(), RunIds("batch_predictions", "r1"), log_to_mlflow=True)
    assert first["mlflow_run_id"] == again["mlflow_run_id"]
    assert json.loads((tmp_path / "out" / "_SUCCESS").read_text()) == again
    assert again["rows_scored"] == 40 and again["model_version"] == "1" and again["rows_per_second"] > 0
    run = MlflowClient().get_run(first["mlflow_run_id"])
    assert run.data.tags["model_version"] == "1" and run.data.metrics["rows_rejected"] == 3


def test_too_many_rejected_rows_fail_the_run_without_marking_the_output_complete(registry, rows, tmp_path):
    plan = plan_for(registry, rows, tmp_path / "out", max_rejected_fraction=0.05)  # 3 of 43 is 7.0%
    score_on_worker(plan, Storage())
    with pytest.raises(DataValidationError, match=r"3 of 43 rows \(7.0%\) cannot be scored, more than max_rej"):
        publish_output(plan, Storage(), RunIds("batch_predictions", "r2"), log_to_mlflow=False)
    assert not (tmp_path / "out" / "_SUCCESS").exists()
    assert len(pd.read_parquet(tmp_path / "out" / "rejected")) == 3  # kept, to see why


def test_parquet_rows_on_s3_are_scored_to_s3(registry, wine_rows, s3_client, tmp_path):
    s3_client.create_bucket(Bucket="data")
    good = wine_rows[wine_rows["id"] < 1000].astype({"id": int})
    for part in range(2):  # a prefix of two Parquet files
        path = tmp_path / f"part-{part}.parquet"
        good.iloc[part * 20 : (part + 1) * 20].to_parquet(path)
        s3_client.upload_file(str(path), "data", f"new-rows/part-{part}.parquet")
    storage = Storage(lambda: s3_client)
    plan = plan_for(registry, "s3://data/new-rows/", "s3://data/batch_predictions/run_1")
    assert score_on_worker(plan, storage)["rows_scored"] == 40
    s3_client.download_file("data", "batch_predictions/run_1/predictions/part-00000.parquet", str(tmp_path / "o.pq"))
    assert sorted(pd.read_parquet(tmp_path / "o.pq")["id"]) == list(range(40))


def test_a_source_that_cannot_be_read_names_the_setting_to_fix(registry, tmp_path):
    plan = plan_for(registry, tmp_path / "missing.csv", tmp_path / "out")
    with pytest.raises(DataValidationError, match=r"missing.csv does not exist; check scoring_source_uri"):
        score_on_worker(plan, Storage())
