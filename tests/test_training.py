"""train_model: a scaling + classifier pipeline, fitted and scored on the holdout, written to the store."""

import json

import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ml_pipeline.config import ConfigError
from ml_pipeline.data import snapshot_dataset
from ml_pipeline.storage import Storage
from ml_pipeline.training import build_pipeline, model_from_bytes, train_and_evaluate


@pytest.fixture
def dataset(tmp_path):
    return snapshot_dataset("", str(tmp_path / "run"), Storage(), test_size=0.25, seed=42, min_rows=100)


def train(dataset, tmp_path, classifier="logistic_regression", hyperparams=None):
    return train_and_evaluate(
        dataset["train_uri"],
        dataset["holdout_uri"],
        str(tmp_path / "run"),
        Storage(),
        classifier=classifier,
        hyperparams=hyperparams or {},
        seed=42,
    )


@pytest.mark.parametrize("classifier", ["logistic_regression", "random_forest", "gradient_boosting"])
def test_each_classifier_learns_wine_well(dataset, tmp_path, classifier):
    result = train(dataset, tmp_path, classifier)
    assert result["metrics"]["accuracy"] >= 0.9
    assert result["metrics"]["f1_macro"] >= 0.9
    assert result["params"]["classifier"] == classifier


def test_model_and_evaluation_are_written_to_the_store(dataset, tmp_path):
    result = train(dataset, tmp_path)
    model = model_from_bytes(Storage().read_bytes(result["model_uri"]))
    assert isinstance(model, Pipeline) and isinstance(model.named_steps["scaler"], StandardScaler)
    evaluation = json.loads(Storage().read_bytes(result["evaluation_uri"]))
    matrix = evaluation["confusion_matrix"]
    assert len(matrix) == 3 and sum(map(sum, matrix)) == dataset["holdout_rows"]
    assert evaluation["labels"] == ["0", "1", "2"]
    assert set(evaluation["report"]) >= {"0", "1", "2", "macro avg"}
    assert {"precision_class_0", "recall_class_2", "f1_class_1"} <= set(evaluation["metrics"])


def test_hyperparameters_reach_the_classifier(dataset, tmp_path):
    result = train(dataset, tmp_path, "random_forest", {"n_estimators": 7, "max_depth": 2})
    model = model_from_bytes(Storage().read_bytes(result["model_uri"]))
    assert len(model.named_steps["classifier"].estimators_) == 7
    assert result["params"]["max_depth"] == 2


def test_weak_hyperparameters_give_a_measurably_worse_model(dataset, tmp_path):
    weak = train(dataset, tmp_path, "random_forest", {"n_estimators": 1, "max_depth": 1})
    assert weak["metrics"]["f1_macro"] < 0.9


def test_unknown_hyperparameters_are_a_configuration_error():
    with pytest.raises(ConfigError, match="invalid hyperparams for logistic_regression: .*max_depht"):
        build_pipeline("logistic_regression", {"max_depht": 3}, 42)


def test_every_classifier_the_configuration_accepts_can_be_built():
    from ml_pipeline.config import CLASSIFIERS
    from ml_pipeline.training import ESTIMATORS

    assert set(CLASSIFIERS) == set(ESTIMATORS)
