"""train_model: the schema's preprocessing and a classifier as one pipeline, fitted and scored on the holdout,
written to the store."""

import json

import numpy as np
import pytest
import tables
from pipeline_runs import candidate, snapshot, train
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from ml_pipeline.config.classifiers import CLASSIFIERS
from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.config.training import Budget
from ml_pipeline.data.inference import infer_schema
from ml_pipeline.data.schema import model_input
from ml_pipeline.errors import ConfigError, ModelLoadError
from ml_pipeline.store.objects import Storage, join
from ml_pipeline.training.design import fit_pipeline
from ml_pipeline.training.train import build_pipeline, model_from_bytes, train_and_evaluate


@pytest.mark.parametrize("classifier", list(CLASSIFIERS))
def test_each_classifier_learns_wine_well(tmp_path, classifier):
    _, result = train(tmp_path, "run", classifier=classifier)
    assert result["metrics"]["accuracy"] >= 0.9
    assert result["metrics"]["f1_macro"] >= 0.9
    assert result["classifier"] == classifier


def test_model_and_evaluation_are_written_to_the_store(tmp_path):
    dataset, result = train(tmp_path, "run")
    model = model_from_bytes(Storage().read_bytes(result["model_uri"]), result["model_uri"])
    assert isinstance(model, Pipeline) and isinstance(model.named_steps["preprocess"], ColumnTransformer)
    evaluation = json.loads(Storage().read_bytes(result["evaluation_uri"]))
    matrix = evaluation["confusion_matrix"]
    assert len(matrix) == 3 and sum(map(sum, matrix)) == dataset["holdout_rows"]
    assert evaluation["labels"] == ["0", "1", "2"]
    assert set(evaluation["report"]) >= {"0", "1", "2", "macro avg"}
    assert {"precision_class_0", "recall_class_2", "f1_class_1"} <= set(evaluation["metrics"])


def test_hyperparameters_reach_the_classifier(tmp_path):
    _, result = train(tmp_path, "run", classifier="random_forest", hyperparams={"n_estimators": 7, "max_depth": 2})
    model = model_from_bytes(Storage().read_bytes(result["model_uri"]), result["model_uri"])
    assert len(model.named_steps["classifier"].estimators_) == 7
    assert result["params"]["max_depth"] == 2


def test_weak_hyperparameters_give_a_measurably_worse_model(tmp_path):
    _, weak = train(tmp_path, "run", classifier="random_forest", hyperparams={"n_estimators": 1, "max_depth": 1})
    assert weak["metrics"]["f1_macro"] < 0.9


def test_the_fingerprint_is_the_same_for_the_same_training_and_changes_with_any_setting(tmp_path, wine_frame):
    _, first = train(tmp_path, "a")
    _, again = train(tmp_path, "b", hyperparams={"C": 1.0})  # the default, spelled out: the same model
    _, other_c = train(tmp_path, "c", hyperparams={"C": 0.5})
    _, other_seed = train(tmp_path, "d", seed=7)
    wine_frame.iloc[1:].to_csv(tmp_path / "fewer.csv", index=False)
    _, other_data = train(tmp_path, "e", source=str(tmp_path / "fewer.csv"))
    assert first["fingerprint"] == again["fingerprint"]
    assert (
        len({first["fingerprint"], other_c["fingerprint"], other_seed["fingerprint"], other_data["fingerprint"]}) == 4
    )


@pytest.mark.parametrize(
    ("classifier", "hyperparams", "message"),
    [
        ("logistic_regression", {"max_depht": 3}, "invalid hyperparams for logistic_regression: .*max_depht"),
        ("logistic_regression", {"C": -1}, "The 'C' parameter of LogisticRegression must be a float in the range"),
        ("random_forest", {"n_estimators": 0}, "The 'n_estimators' parameter of RandomForestClassifier must be"),
        ("gradient_boosting", {"learning_rate": "fast"}, "The 'learning_rate' parameter of GradientBoostingClassifier"),
    ],
)
def test_invalid_hyperparameters_are_a_configuration_error_before_fitting(classifier, hyperparams, message):
    with pytest.raises(ConfigError, match=message):
        build_pipeline(classifier, hyperparams, 42, schema=None)


def test_settings_that_only_fail_when_fitting_are_a_configuration_error_too(tmp_path):
    with pytest.raises(ConfigError, match="logistic_regression cannot be trained with hyperparams"):
        train(tmp_path, "run", hyperparams={"solver": "lbfgs", "l1_ratio": 1.0})


def test_a_model_file_that_cannot_be_loaded_is_a_permanent_error():
    with pytest.raises(ModelLoadError, match="s3://x/model.joblib is not a model this pipeline can load"):
        model_from_bytes(b"not a model", "s3://x/model.joblib")


def test_every_classifier_the_configuration_accepts_can_be_built():
    assert {candidate.classifier for candidate in PipelineConfig().candidate_list()} <= set(CLASSIFIERS)
    for name in CLASSIFIERS:
        assert isinstance(build_pipeline(name, {}, 42, schema=None), Pipeline)


def mixed_schema_and_rows():
    frame = tables.mixed()
    schema = infer_schema(frame, PipelineConfig(target_column="churn", categorical_columns=["store_code"]))
    return schema, model_input(frame, schema), frame["churn"]


def fitted(classifier, schema, rows, labels):
    """The model as train_model fits it (training/design.py)."""
    model = build_pipeline(classifier, {}, 42, schema)
    fit_pipeline(model, classifier, lambda: (rows, labels), Budget())
    return model


@pytest.mark.parametrize("classifier", list(CLASSIFIERS))
def test_each_classifier_takes_raw_rows_with_categories_and_gaps_and_unseen_values(classifier):
    schema, rows, labels = mixed_schema_and_rows()
    model = fitted(classifier, schema, rows, labels)
    new = rows.head(4).assign(city=["madrid", None, "paris", "lyon"], age=[None, 30.0, 40.0, 50.0])
    assert set(model.predict(new)) <= {"stays", "leaves"}
    assert model.score(rows, labels) > 0.7


@pytest.mark.parametrize("classifier", list(CLASSIFIERS))
def test_each_classifier_round_trips_through_mlflows_skops_format(tmp_path, classifier):
    """A classifier or preprocessing step added without the types skops must trust fails here, naming them, not in
    persist_model."""
    import mlflow.sklearn

    from ml_pipeline.registry.publish import import_skops_quietly
    from ml_pipeline.training.train import skops_trusted_types

    import_skops_quietly()
    schema, rows, labels = mixed_schema_and_rows()
    model = fitted(classifier, schema, rows, labels)
    path = tmp_path / "model"
    mlflow.sklearn.save_model(model, path, serialization_format="skops",
                              skops_trusted_types=skops_trusted_types(classifier))  # fmt: skip
    loaded = mlflow.sklearn.load_model(str(path))
    assert (loaded.predict_proba(rows) == model.predict_proba(rows)).all()


@pytest.mark.parametrize("classifier", list(CLASSIFIERS))
@pytest.mark.parametrize("many_categories", [False, True], ids=["dense", "sparse_for_one_hot"])
def test_a_model_fitted_batch_by_batch_predicts_as_one_pipeline_fit_on_values_in_its_dtype(
    monkeypatch, classifier, many_categories
):
    import ml_pipeline.training.design as design

    monkeypatch.setattr(design, "BATCH_ROWS", 70)  # several batches of the 300 training rows
    frame = tables.mixed()
    if many_categories:  # one-hot columns outnumber the others: a sparse matrix
        frame["zip"] = np.random.default_rng(3).integers(0, 60, len(frame)).astype(str)
    schema = infer_schema(frame, PipelineConfig(target_column="churn"))
    rows, labels = model_input(frame, schema), frame["churn"]
    train, holdout = slice(0, 300), slice(300, None)
    model = fitted(classifier, schema, rows.iloc[train], labels.iloc[train])
    numeric = schema.of_kind("numeric")  # what the classifier is fitted on: the values in its dtype
    rounded = rows.astype(dict.fromkeys(numeric, CLASSIFIERS[classifier].dtype)).astype(
        dict.fromkeys(numeric, "float64")
    )
    whole = build_pipeline(classifier, {}, 42, schema).fit(rounded.iloc[train], labels.iloc[train])
    np.testing.assert_allclose(model.predict_proba(rows.iloc[holdout]), whole.predict_proba(rows.iloc[holdout]),
                               rtol=1e-6, atol=1e-9)  # fmt: skip
    sparse_output = model.named_steps["preprocess"].sparse_output_
    assert sparse_output == (many_categories and CLASSIFIERS[classifier].encoding == "one_hot")


def test_a_candidate_named_to_climb_out_of_the_store_writes_nothing_outside_it(tmp_path):
    root = tmp_path / "store"
    dataset = snapshot(root, "run")
    with pytest.raises(ConfigError, match="would lead outside"):
        train_and_evaluate(dataset, join(str(root), "run"), Storage(), candidate(name="../../../escape"))
    assert not list(tmp_path.glob("**/model.joblib"))
