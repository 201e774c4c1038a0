"""A new user's table, end to end: train and gate on it, score new rows in batch, look rows up. Several schemas:
scikit-learn's bundled breast cancer (binary, text labels), iris (three text labels), digits (64 pixel columns, some
constant) and a mixed table (numeric and categorical columns, gaps, booleans, codes)."""

import json

import lookup_model
import mlflow
import pandas as pd
import pytest
import tables
from pipeline_runs import MODEL, publish

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import RunIds
from ml_pipeline.scoring.batch import pin_version, publish_output, score_on_worker
from ml_pipeline.store.objects import Storage

SCHEMAS = {  # name: (table, settings, what the model must reach on the holdout's balanced accuracy)
    "breast_cancer": (lambda: tables.bundled("breast_cancer"), {}, 0.9),
    "iris": (lambda: tables.bundled("iris"), {}, 0.85),
    "digits": (lambda: tables.bundled("digits"), {}, 0.85),
    "mixed": (tables.mixed, {"target_column": "churn", "categorical_columns": ["store_code"]}, 0.6),
}


@pytest.fixture(params=list(SCHEMAS), scope="module")
def trained(request, tmp_path_factory):
    """The table split in two: the first rows train a champion, the last 20 (without their label) are new rows."""
    make, settings, floor = SCHEMAS[request.param]
    root = tmp_path_factory.mktemp(request.param)
    frame = make()
    target = settings.get("target_column", "target")
    frame.iloc[:-20].to_csv(root / "train.csv", index=False)
    frame.iloc[-20:].drop(columns=target).to_parquet(root / "new.parquet", index=False)
    tracking_uri = f"sqlite:///{root}/mlflow.db"
    result = publish(root / "artifacts", tracking_uri, "r1", source=str(root / "train.csv"), settings=settings)
    yield root, tracking_uri, result, frame, target, floor
    mlflow.set_tracking_uri(None)


def test_each_table_trains_a_champion_on_its_own_labels(trained):
    _, _, result, _, _, floor = trained
    assert result["promoted"] and result["version"] == "1"
    assert result["metrics"]["balanced_accuracy"] >= floor


def test_new_rows_are_scored_in_batch_with_the_original_labels(trained, tmp_path):
    root, tracking_uri, _, frame, target, _ = trained
    config = PipelineConfig(mlflow_tracking_uri=tracking_uri, model_name=MODEL,
                            scoring_source_uri=str(root / "new.parquet"))  # fmt: skip
    plan = pin_version(config, str(tmp_path / "out"))
    counts = score_on_worker(plan, Storage())
    summary = publish_output(plan, Storage(), RunIds("batch_predictions", "r1"), log_to_mlflow=False)
    assert counts["rows_scored"] == summary["rows_scored"] == 20 and counts["rows_rejected"] == 0
    predictions = pd.read_parquet(tmp_path / "out" / "predictions")
    assert set(predictions["prediction"]) <= set(frame[target]), "predictions are the table's own labels"
    assert (predictions.filter(like="probability_").sum(axis=1) - 1).abs().max() < 1e-9


def test_rows_are_looked_up_by_the_same_model(trained, tmp_path, capsys):
    _, tracking_uri, _, frame, target, _ = trained
    rows = frame.iloc[-3:].drop(columns=target)
    (tmp_path / "rows.json").write_text(rows.to_json(orient="records"))
    code = lookup_model.main(["--tracking-uri", tracking_uri, "--name", MODEL, "--input", str(tmp_path / "rows.json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert set(json.loads(out)["predictions"]) <= set(frame[target].tolist())


def test_the_signature_is_of_real_rows_with_features_that_had_gaps_optional(trained):
    _, tracking_uri, _, _, _, _ = trained
    mlflow.set_tracking_uri(tracking_uri)
    info = mlflow.models.get_model_info(f"models:/{MODEL}/1")
    schema = info.metadata["dataset_schema"]
    required = {spec.name: spec.required for spec in info.signature.inputs.inputs}
    assert required == {feature["name"]: not feature["had_missing"] for feature in schema["features"]}
