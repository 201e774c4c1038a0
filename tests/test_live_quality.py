"""Live quality: true labels that arrive later are joined by id to past predictions, counted per version and day,
and the champion decays when its live gate metric falls below its holdout score by more than the margin."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from pipeline_runs import MODEL
from sklearn.datasets import load_wine
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, log_loss, roc_auc_score

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import RunIds
from ml_pipeline.errors import DataValidationError
from ml_pipeline.monitoring.quality import Tally, decayed
from ml_pipeline.scoring.batch import pin_version, publish_output, score_on_worker
from ml_pipeline.scoring.live_quality import measure_quality
from ml_pipeline.store.objects import Storage, run_prefix


@pytest.mark.parametrize("classes", [2, 3])
def test_metrics_from_counts_equal_scikit_learns_on_the_same_rows(classes):
    rng = np.random.default_rng(classes)
    probabilities = rng.dirichlet(np.ones(classes), 5_000)
    truth = np.array([rng.choice(classes, p=row) for row in probabilities])
    predicted = probabilities.argmax(axis=1)
    tally = Tally.empty([str(label) for label in range(classes)])
    for start in range(0, 5_000, 1_500):  # batches add up
        rows = slice(start, start + 1_500)
        tally.count(truth[rows], predicted[rows], probabilities[rows])
    figures = tally.metrics()
    assert figures["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert figures["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, predicted))
    assert figures["f1_macro"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert figures["log_loss"] == pytest.approx(log_loss(truth, probabilities, labels=list(range(classes))))
    exact = roc_auc_score(truth, probabilities[:, 1]) if classes == 2 else roc_auc_score(truth, probabilities,
                                                                                        multi_class="ovr")  # fmt: skip
    assert figures["roc_auc"] == pytest.approx(exact, abs=0.002)


def test_a_true_label_the_model_never_learned_counts_as_wrong():
    tally = Tally.empty(["a", "b"])
    tally.count(np.array([0, 1, 2, 2]), np.array([0, 1, 0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]] * 2))
    assert tally.metrics()["accuracy"] == 0.5 and tally.rows == 4
    assert tally.metrics()["f1_macro"] == pytest.approx(f1_score(list("abcc"), list("abab"), average="macro"))


def test_decay_is_worse_than_holdout_by_more_than_the_margin_whichever_way_the_metric_goes():
    assert decayed("f1_macro", live=0.80, holdout=0.90, margin=0.05)
    assert not decayed("f1_macro", live=0.86, holdout=0.90, margin=0.05)
    assert decayed("log_loss", live=0.50, holdout=0.20, margin=0.05)
    assert not decayed("log_loss", live=0.10, holdout=0.20, margin=0.05)


WINE = load_wine(as_frame=True)
ROWS = WINE.data.sample(60, random_state=7).rename_axis("wine_id").reset_index()  # the id: the row's number
TRUTH = WINE.target.loc[ROWS["wine_id"]].to_numpy()


def scored(registry, artifacts, tmp_path, run_id, days_ago, rows=ROWS):
    """One complete batch_predictions output, as if published `days_ago` days ago."""
    source = tmp_path / f"{run_id}.csv"
    rows.to_csv(source, index=False)
    config = PipelineConfig(mlflow_tracking_uri=registry, model_name=MODEL, scoring_source_uri=str(source),
                            artifact_root=str(artifacts))  # fmt: skip
    output = run_prefix(str(artifacts), "batch_predictions", run_id)
    plan = pin_version(config, output)
    score_on_worker(plan, Storage())
    summary = publish_output(plan, Storage(), RunIds("batch_predictions", run_id), log_to_mlflow=True)
    when = datetime.now(UTC) - timedelta(days=days_ago)
    for part in (artifacts / "batch_predictions" / run_id / "predictions").glob("*.parquet"):
        pd.read_parquet(part).assign(scored_at=pd.Timestamp(when)).to_parquet(part)
    summary["published_at"] = when.isoformat()
    (artifacts / "batch_predictions" / run_id / "_SUCCESS").write_text(json.dumps(summary))
    return plan, summary


def labels_file(tmp_path, ids, labels, name="labels.csv"):
    pd.DataFrame({"wine_id": ids, "target": labels}).to_csv(tmp_path / name, index=False)
    return str(tmp_path / name)


def settings(registry, artifacts, labels, **more):
    return PipelineConfig(
        **{
            "mlflow_tracking_uri": registry,
            "model_name": MODEL,
            "artifact_root": str(artifacts),
            "label_source_uri": labels,
            "id_column": "wine_id",
            "min_labeled_rows": 50,
        }
        | more
    )


def test_labels_join_by_id_per_version_and_day_and_late_labels_count_when_they_arrive(registry, tmp_path):
    artifacts = tmp_path / "artifacts"
    scored(registry, artifacts, tmp_path, "old", days_ago=40)  # outside the 30-day window
    scored(registry, artifacts, tmp_path, "monday", days_ago=2)
    plan, summary = scored(registry, artifacts, tmp_path, "tuesday", days_ago=1)

    first = settings(registry, artifacts, labels_file(tmp_path, ROWS["wine_id"][:20], TRUTH[:20]))
    early = measure_quality(plan, summary, first, Storage())
    assert [day["rows"] for day in early["days"]] == [20, 20] and early["labeled_rows"] == 40
    assert early["awaiting_labels"] == 80 and early["decayed"] is None  # 40 labeled: too few to say

    complete = settings(registry, artifacts, labels_file(tmp_path, ROWS["wine_id"], TRUTH))  # the late ones arrived
    late = measure_quality(plan, summary, complete, Storage())
    assert [day["rows"] for day in late["days"]] == [60, 60] and late["awaiting_labels"] == 0
    predicted = pd.read_parquet(artifacts / "batch_predictions" / "tuesday" / "predictions")
    expected = f1_score(TRUTH, predicted.set_index("wine_id").loc[ROWS["wine_id"], "prediction"], average="macro")
    assert late["days"][1]["metrics"]["f1_macro"] == pytest.approx(expected)
    assert late["live_score"] == pytest.approx(expected) and late["decayed"] is None
    holdout = MlflowClient().get_model_version(MODEL, "1").tags["holdout.f1_macro"]
    assert late["holdout_score"] == pytest.approx(float(holdout))

    run = MlflowClient().get_run(summary["mlflow_run_id"])
    history = MlflowClient().get_metric_history(run.info.run_id, "live.f1_macro.v1")
    assert len({entry.step for entry in history}) == 2, "one point per day"
    logged = {item.path for item in MlflowClient().list_artifacts(run.info.run_id, "quality")}
    assert logged == {"quality/quality.json", "quality/quality.png"}
    report = json.loads((artifacts / "batch_predictions" / "tuesday" / "quality" / "quality.json").read_text())
    assert report["labeled_rows"] == 120
    assert (artifacts / "batch_predictions" / "tuesday" / "quality" / "quality.png").read_bytes()[:4] == b"\x89PNG"


def test_the_champion_decays_when_its_labels_say_it_is_wrong(registry, tmp_path):
    artifacts = tmp_path / "artifacts"
    plan, summary = scored(registry, artifacts, tmp_path, "today", days_ago=0)
    wrong = settings(registry, artifacts, labels_file(tmp_path, ROWS["wine_id"], (TRUTH + 1) % 3))
    quality = measure_quality(plan, summary, wrong, Storage())
    assert quality["live_score"] < 0.2 and quality["decayed"].startswith("live f1_macro 0.")
    assert "holdout" in quality["decayed"] and "decay_margin 0.05" in quality["decayed"]

    too_few = settings(registry, artifacts, labels_file(tmp_path, ROWS["wine_id"], (TRUTH + 1) % 3),
                       min_labeled_rows=61)  # fmt: skip
    assert measure_quality(plan, summary, too_few, Storage())["decayed"] is None


def test_without_a_label_source_nothing_is_measured_and_rows_without_the_id_column_fail_clearly(registry, tmp_path):
    artifacts = tmp_path / "artifacts"
    plan, summary = scored(registry, artifacts, tmp_path, "no-ids", days_ago=0, rows=ROWS.drop(columns="wine_id"))
    unset = PipelineConfig(mlflow_tracking_uri=registry, model_name=MODEL, artifact_root=str(artifacts))
    assert measure_quality(plan, summary, unset, Storage()) is None
    labels = settings(registry, artifacts, labels_file(tmp_path, ROWS["wine_id"], TRUTH))
    with pytest.raises(DataValidationError, match="^id_column 'wine_id' is not a column of the scored rows"):
        measure_quality(plan, summary, labels, Storage())
