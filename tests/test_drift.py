"""Drift of a scoring run against the version's training data: the statistics on their own, then batch_predictions'
local engine and publish step with the reference the registered version carries, and the Spark job's counts."""

import json
import runpy
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import Model
from pipeline_runs import MODEL
from scipy import stats
from test_scoring import plan_for

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.config.scoring import SPARK_JOB_SCRIPT
from ml_pipeline.contract import RunIds
from ml_pipeline.data.inference import infer_schema
from ml_pipeline.data.profile import (
    FINE_QUANTILES,
    METADATA_KEY,
    VERSION_FILE,
    carried,
    count_rows,
    place,
    reference,
)
from ml_pipeline.data.schema import model_input
from ml_pipeline.monitoring.drift import Thresholds, drift
from ml_pipeline.scoring.batch import publish_output, score_on_worker
from ml_pipeline.scoring.spark import run_locally
from ml_pipeline.store.objects import Storage

THRESHOLDS = Thresholds(psi=0.2, missing=0.1, unseen=0.05)
COLOURS = ["red", "green", "blue", "black", "white"]


def table(rows: int, seed: int, shift: float = 0.0, colours: list[str] = COLOURS, missing: float = 0.0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "size": rng.normal(10 + shift, 2, rows),
        "weight": rng.gamma(2.0, 3.0, rows),
        "colour": rng.choice(colours, rows, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
        "label": rng.choice(["a", "b"], rows),
    })  # fmt: skip
    frame.loc[rng.random(rows) < missing, "weight"] = np.nan
    return frame


@pytest.fixture(scope="module")
def training():
    frame = table(20_000, seed=1)
    schema = infer_schema(frame, PipelineConfig(target_column="label"))
    inputs = model_input(frame, schema)
    return schema, reference(inputs, np.arange(len(inputs)), schema)


def measured(schema, expected, frame, batch_rows=7_000):
    """The scoring side as the local engine counts it: batch by batch into the reference's bins."""
    counts = expected.empty()
    for start in range(0, len(frame), batch_rows):
        inputs = model_input(frame.iloc[start : start + batch_rows], schema)
        labels = np.where(inputs["size"] > 10, "a", "b")  # a stand-in model: the predictions follow `size`
        probabilities = np.column_stack([(inputs["size"] > 10) * 0.8 + 0.1, (inputs["size"] <= 10) * 0.8 + 0.1])
        counts.add(count_rows(counts, inputs, labels, probabilities, schema))
    return drift(expected, counts, THRESHOLDS)


def with_reference_predictions(schema, expected):
    """The reference's prediction counts as the same stand-in model makes them on training-like rows."""
    frame = model_input(table(5_000, seed=2), schema)
    labels = np.where(frame["size"] > 10, "a", "b")
    probabilities = np.column_stack([(frame["size"] > 10) * 0.8 + 0.1, (frame["size"] <= 10) * 0.8 + 0.1])
    whole = count_rows(expected.empty(), frame, labels, probabilities, schema)
    return expected.model_copy(update={"predictions": whole.predictions, "probabilities": whole.probabilities})


def test_a_resample_of_the_training_data_has_not_drifted(training):
    schema, features = training
    result = measured(schema, with_reference_predictions(schema, features), table(30_000, seed=3))
    assert result.drifted == {}
    assert all(stat.psi < 0.01 for stat in result.features.values())
    assert result.features["size"].p_value > 0.001 and result.features["colour"].unseen == 0


def test_shifted_numbers_new_categories_and_missing_values_drift_each_by_its_own_threshold(training):
    schema, features = training
    shifted = table(30_000, seed=3, shift=1.5, colours=["red", "green", "blue", "purple", "orange"], missing=0.2)
    result = measured(schema, with_reference_predictions(schema, features), shifted)
    assert result.drifted["size"].startswith("PSI ")
    assert result.drifted["colour"].startswith("PSI ")  # 15% of the values are categories training never saw
    assert result.features["colour"].unseen == pytest.approx(0.15, abs=0.01)
    assert result.drifted["weight"].startswith("missing ") and result.features["weight"].missing_reference == 0
    assert result.features["weight"].missing_current == pytest.approx(0.2, abs=0.01)
    assert "prediction" in result.drifted  # more rows above 10: more predicted "a"


def test_the_ks_statistic_from_percentile_bins_is_within_a_bin_of_the_exact_one(training):
    schema, features = training
    current = table(30_000, seed=4, shift=0.3)
    result = measured(schema, with_reference_predictions(schema, features), current)
    exact = stats.ks_2samp(table(20_000, seed=1)["size"], current["size"]).statistic
    assert result.features["size"].statistic == pytest.approx(exact, abs=0.01)


@pytest.mark.parametrize(
    ("reference_values", "values"),
    [
        (np.random.default_rng(1).normal(size=5_000), np.random.default_rng(2).normal(0.5, 2, size=50_000)),
        (np.random.default_rng(1).integers(0, 12, 5_000), np.random.default_rng(2).integers(-3, 16, 50_000)),  # ties
        (np.random.default_rng(1).lognormal(size=5_000), np.random.default_rng(2).lognormal(size=50_000)),
        (np.array([0.0, 0.0, 1.0]), np.array([-np.inf, -1.0, 0.0, 0.5, 1.0, 2.0, np.inf])),  # edges 0 and 1 only
    ],
)
def test_numbers_are_placed_in_the_bins_binary_search_would_give(reference_values, values):
    edges = np.unique(np.quantile(reference_values.astype(float), FINE_QUANTILES))
    values = np.concatenate([values.astype(float), edges, np.nextafter(edges, -np.inf)])  # on and just below each edge
    assert (place(tuple(edges.tolist()), values) == np.searchsorted(edges, values, side="right")).all()


def test_counts_of_batches_add_up_to_the_counts_of_the_whole(training):
    schema, features = training
    reference_counts = with_reference_predictions(schema, features)
    frame = table(10_000, seed=5, shift=0.5)
    in_batches = measured(schema, reference_counts, frame, batch_rows=999)
    at_once = measured(schema, reference_counts, frame, batch_rows=len(frame))
    assert in_batches == at_once


# ---- batch_predictions with the version registered by the pipeline's own functions (Wine) ----


def scored_and_published(registry, source, output, run_id):
    plan = plan_for(registry, source, output)
    score_on_worker(plan, Storage(), batch_rows=50)
    return publish_output(plan, Storage(), RunIds("batch_predictions", run_id), log_to_mlflow=True)


def wine_shifted(path):
    """The Wine features with alcohol and proline far from training's, as a CSV file at `path`."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).data
    wine.assign(alcohol=wine["alcohol"] + 2, proline=wine["proline"] * 2).to_csv(path, index=False)
    return path


def test_the_registered_version_carries_its_reference_with_its_holdout_predictions_beside_a_small_mlmodel(
    registry, tmp_path
):
    folder = mlflow.artifacts.download_artifacts(f"models:/{MODEL}/1", dst_path=str(tmp_path))
    model = Model.load(folder)
    expected = carried(folder, None)
    assert expected is not None and set(expected.features) == set(model.get_input_schema().input_names())
    assert sum(expected.predictions.counts) > 0 and sum(expected.features["alcohol"].counts) > 0
    # MLflow parses MLmodel (YAML, in pure Python) several times per load: 99 percentiles of 13 features made it slow
    assert METADATA_KEY not in model.metadata and Path(folder, "MLmodel").stat().st_size < 8_000


def older_version(folder: Path, with_reference: bool) -> Path:
    """The registered version as this project registered it before the reference was a file: in the MLmodel's
    metadata, or (`with_reference` off) nowhere."""
    mlflow.artifacts.download_artifacts(f"models:/{MODEL}/1", dst_path=str(folder))
    metadata, reference = Model.load(str(folder)), folder / VERSION_FILE
    if with_reference:
        metadata.metadata[METADATA_KEY] = json.loads(reference.read_text())
    reference.unlink()
    metadata.save(str(folder / "MLmodel"))
    return folder


@pytest.mark.parametrize("engine", ["local", "spark"])
def test_a_version_that_carries_its_reference_in_its_mlmodel_is_still_measured(registry, tmp_path, engine):
    plan = plan_for(registry, wine_shifted(tmp_path / "shifted.csv"), tmp_path / "out")
    plan |= {"model_uri": str(older_version(tmp_path / "older", with_reference=True))}
    if engine == "spark":
        run_locally(plan, str(SPARK_JOB_SCRIPT), timeout_seconds=600)
    else:
        score_on_worker(plan, Storage())
    summary = publish_output(plan, Storage(), RunIds("batch_predictions", "older"), log_to_mlflow=False)
    assert summary["rows_scored"] == 178 and {"alcohol", "proline"} <= set(summary["drifted"] or {})


def test_wine_rows_have_not_drifted_and_shifted_ones_have_with_a_report_and_mlflow_metrics(registry, tmp_path):
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).data
    wine.to_csv(tmp_path / "same.csv", index=False)
    same = scored_and_published(registry, tmp_path / "same.csv", tmp_path / "same", "same")
    assert same["drifted"] == {}

    shifted = scored_and_published(registry, wine_shifted(tmp_path / "shifted.csv"), tmp_path / "shifted", "shifted")
    assert {"alcohol", "proline"} <= set(shifted["drifted"])
    report = (tmp_path / "shifted" / "drift" / "report.html").read_text()
    assert shifted["drift_report_uri"].endswith("shifted/drift/report.html") and "<b>Drift:</b>" in report
    assert "data:image/png;base64," in report
    figures = json.loads((tmp_path / "shifted" / "drift" / "drift.json").read_text())
    assert figures["features"]["alcohol"]["psi"] > 0.2

    run = MlflowClient().get_run(shifted["mlflow_run_id"])
    assert run.data.metrics["drift.psi.alcohol"] > 0.2 and run.data.metrics["drift.variables_drifted"] >= 2
    artifacts = {item.path for item in MlflowClient().list_artifacts(run.info.run_id, "drift")}
    assert artifacts == {"drift/drift.json", "drift/report.html"}


def test_spark_scoring_reports_the_drift_the_local_engine_reports(registry, tmp_path):
    source = wine_shifted(tmp_path / "shifted.csv")
    local = scored_and_published(registry, source, tmp_path / "local", "local")
    plan = plan_for(registry, source, tmp_path / "spark")
    run_locally(plan, str(SPARK_JOB_SCRIPT), timeout_seconds=600)
    spark = publish_output(plan, Storage(), RunIds("batch_predictions", "spark"), log_to_mlflow=False)
    assert {"alcohol", "proline"} <= set(spark["drifted"]) and spark["drifted"] == local["drifted"]
    figures = (json.loads((tmp_path / engine / "drift" / "drift.json").read_text()) for engine in ("local", "spark"))
    assert next(figures) == next(figures)
    assert "<b>Drift:</b>" in (tmp_path / "spark" / "drift" / "report.html").read_text()


def test_spark_scores_a_version_without_a_reference_and_measures_no_drift(registry, tmp_path):
    """Versions registered before models carried a reference: scored all the same, drift not measured."""
    older = older_version(tmp_path / "older", with_reference=False)
    plan = plan_for(registry, wine_shifted(tmp_path / "shifted.csv"), tmp_path / "out") | {"model_uri": str(older)}
    run_locally(plan, str(SPARK_JOB_SCRIPT), timeout_seconds=600)
    summary = publish_output(plan, Storage(), RunIds("batch_predictions", "older"), log_to_mlflow=False)
    assert summary["rows_scored"] == 178 and summary["drifted"] is None and summary["drift_report_uri"] is None
    assert not (tmp_path / "out" / "_drift").exists() and not (tmp_path / "out" / "drift").exists()


# ---- the Spark job's counting (spark_jobs/drift_counts.py) in a Spark session of this process ----


@pytest.fixture(scope="module")
def spark_counting():
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(SPARK_JOB_SCRIPT.parent))  # its sibling module, importable as --py-files makes it
        counted = runpy.run_path(str(SPARK_JOB_SCRIPT.with_name("drift_counts.py")))["counted"]
    spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    yield spark, counted
    spark.stop()
    SparkContext._gateway.shutdown()  # now, or at exit its connections log to streams pytest has closed
    SparkContext._gateway = SparkContext._jvm = None  # a later session starts its own


def test_the_spark_job_counts_rows_into_the_reference_bins_as_the_local_engine_does(spark_counting):
    """Numbers on, just below and just above the edges (a whole-number feature's edges are its values, 0 among
    them, and -0.0 is 0), infinities, NaN and null; categories known, unseen, empty and missing; boolean labels (the
    reference's bins say True, Spark writes true) and probabilities on their tenths."""
    spark, counted = spark_counting
    rng = np.random.default_rng(7)
    trained = pd.DataFrame({
        "grade": rng.integers(-5, 6, 2_000).astype(float), "size": rng.normal(10, 2, 2_000),
        "colour": rng.choice(COLOURS, 2_000), "organic": rng.random(2_000) < 0.4, "label": rng.random(2_000) < 0.5,
    })  # fmt: skip
    schema = infer_schema(trained, PipelineConfig(target_column="label"))
    expected = reference(model_input(trained, schema), np.arange(len(trained)), schema)
    grades, sizes = (np.array(expected.features[name].edges) for name in ("grade", "size"))
    assert 0.0 in grades and schema.probability_columns == ["probability_false", "probability_true"]
    values = {  # Python's floats: Spark takes no numpy ones
        "grade": [*grades.tolist(), *np.nextafter(grades, -np.inf).tolist(), -0.0, -np.inf, np.inf, np.nan, None],
        "size": [*sizes.tolist(), *np.nextafter(sizes, np.inf).tolist(), np.nan, None],
        "colour": ["red", "purple", None, "", "Red"],
        "organic": [True, False, None],
        "prediction": [True, False, False],
        "probability_false": [0.0, 0.1, float(np.nextafter(0.1, 0)), 0.5, 0.9, 1.0, -0.0, np.nan],
    }
    rows = max(len(column) for column in values.values())
    columns = {name: [column[row % len(column)] for row in range(rows)] for name, column in values.items()}
    columns["probability_true"] = [None if np.isnan(p) else 1 - p for p in columns["probability_false"]]
    frame = pd.DataFrame(columns)
    local = count_rows(expected.empty(), model_input(frame, schema), frame["prediction"].to_numpy(),
                       frame[schema.probability_columns].to_numpy(dtype=float), schema)  # fmt: skip
    assert local.features["grade"].missing and local.features["colour"].unseen and local.features["organic"].missing
    scored = spark.createDataFrame(
        list(zip(*columns.values(), strict=True)),
        "grade double, size double, colour string, organic boolean, prediction boolean, "
        "probability_false double, probability_true double",
    )
    features = [feature.model_dump(mode="json") for feature in schema.features]
    spark_counts = counted(scored, expected.model_dump(mode="json"), features, "prediction")
    assert spark_counts == json.loads(local.model_dump_json())
