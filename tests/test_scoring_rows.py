"""Which rows a model can score, why the others cannot, and the columns every scored row gets, by the schema the
model carries."""

import numpy as np
import pandas as pd
import pytest
import tables
from sklearn.linear_model import LogisticRegression

from ml_pipeline.config.classifiers import CLASSIFIERS
from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.data.inference import infer_schema
from ml_pipeline.data.schema import DatasetSchema, Feature, model_input, probability_columns
from ml_pipeline.errors import DataValidationError
from ml_pipeline.scoring import rows
from ml_pipeline.scoring.rows import (
    check_columns,
    output_columns,
    reject_reasons,
    rejected_rows,
    scored_rows,
    unseen_categories,
)
from ml_pipeline.training.train import build_pipeline

LABELS = ["red", "rose", "white"]


def schema(a_had_missing=False, b_had_missing=False, city=False):
    features = [Feature(name="a", kind="numeric", dtype="float64", had_missing=a_had_missing),
                Feature(name="b", kind="numeric", dtype="float64", had_missing=b_had_missing)]  # fmt: skip
    if city:
        features.append(Feature(name="city", kind="categorical", dtype="str", had_missing=False,
                                categories=["paris", "lyon"]))  # fmt: skip
    return DatasetSchema(target="t", labels=LABELS, features=features, probability_columns=probability_columns(LABELS))


def test_each_bad_row_gets_the_first_bad_feature_in_the_models_order():
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "a": ["1.5", None, "abc", "inf", "2", "nan"],
            "b": [1.0, np.nan, 2.0, 3.0, float("-inf"), 4.0],
        }
    )
    reasons = reject_reasons(frame, schema()).fillna("ok").tolist()
    assert reasons == ["ok", "a is missing", "a is not a number", "a is not finite", "b is not finite", "a is missing"]


def test_numeric_columns_reject_only_missing_and_infinite_values():
    frame = pd.DataFrame({"a": [1.0, np.nan, np.inf], "b": [1, 2, 3]})
    assert reject_reasons(frame, schema()).fillna("ok").tolist() == ["ok", "a is missing", "a is not finite"]


# Text as a CSV gives it: numbers in every form to_numeric reads, and what it does not (Unicode digits among them).
TEXT_VALUES = ["1", "1.", ".5", "+1", "-1e5", " 2 ", "\t3\n", "1_000", "\uff11\uff12", "\u0663", "0x10", "1e999",
               "inf", "-Infinity", "nan", "NaN", "", " ", "1,5", "1d", "1e", "--1", "1" * 30]  # fmt: skip


@pytest.mark.parametrize("value", TEXT_VALUES)
def test_rows_of_text_numbers_get_the_same_reasons_whether_or_not_the_whole_frame_is_checked_first(value, monkeypatch):
    frame = pd.DataFrame({"a": ["1.5", value], "b": ["2", "-0.25"]})
    checked_first = reject_reasons(frame, schema()).fillna("ok").tolist()
    monkeypatch.setattr(rows, "_nothing_to_reject", lambda *_: False)  # each column searched for its problems
    assert checked_first == reject_reasons(frame, schema()).fillna("ok").tolist()


def test_a_missing_value_is_scored_where_training_had_gaps_and_refused_where_it_had_none():
    frame = pd.DataFrame({"a": [np.nan, 1.0, 2.0], "b": [1.0, np.nan, 2.0], "city": ["paris", "lyon", None]})
    reasons = reject_reasons(frame, schema(a_had_missing=True, city=True)).fillna("ok").tolist()
    assert reasons == ["ok", "b is missing", "city is missing"]


def test_unseen_categories_are_scored_and_counted_per_row():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0], "city": ["paris", "madrid", "lyon"]})
    assert reject_reasons(frame, schema(city=True)).isna().all()
    assert unseen_categories(model_input(frame, schema(city=True)), schema(city=True)).tolist() == [False, True, False]


def test_rejected_rows_keep_their_values_as_text_with_the_reason():
    frame = pd.DataFrame({"id": [7, 8], "a": ["x", "1"], "b": [1.0, 2.0]})
    rejected = rejected_rows(frame, reject_reasons(frame, schema()))
    assert rejected.to_dict("records") == [{"id": "7", "a": "x", "b": "1.0", "reason": "a is not a number"}]


@pytest.mark.parametrize(
    ("columns", "dtypes", "message"),
    [
        (["a"], {}, "lacks columns the model needs: b"),
        (["a", "b", "prediction"], {}, "already has columns named prediction"),
        (["a", "b", "probability_rose"], {}, "already has columns named probability_rose"),
        (["a", "b", "reason"], {}, "already has columns named reason"),
        (["a", "b"], {"b": "bool"}, "columns b hold booleans, but the model learned them as numbers"),
    ],
)
def test_a_source_that_does_not_fit_the_model_fails_with_one_line(columns, dtypes, message):
    with pytest.raises(DataValidationError, match=message):
        check_columns(columns, dtypes, schema(), "rows.csv")


def test_probability_columns_are_named_so_parquet_and_spark_accept_them():
    assert probability_columns(["<=50K", ">50K", "a b", "a-b", True]) == [
        "probability___50K", "probability__50K", "probability_a_b", "probability_a_b_2", "probability_true"
    ]  # fmt: skip


def test_scored_rows_carry_the_models_original_label_and_probabilities_and_the_version():
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    model = LogisticRegression().fit(train, np.repeat(LABELS, 20))
    frame = pd.DataFrame({"id": [1, 2], "a": ["0.5", "-1"], "b": [2.0, 0.0]})
    inputs = model_input(frame, schema())
    scored = scored_rows(frame, inputs, schema(), model, "wine", "3", pd.Timestamp("2026-11-23", tz="UTC"))
    assert list(scored.columns) == ["id", "a", "b", *output_columns(schema())]
    features = frame[["a", "b"]].astype(float)
    assert scored["prediction"].tolist() == model.predict(features).tolist()
    probabilities = scored[schema().probability_columns].to_numpy()
    np.testing.assert_allclose(probabilities, model.predict_proba(features))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert set(scored["model_version"]) == {"3"} and set(scored["model_name"]) == {"wine"}


@pytest.mark.parametrize("classifier", sorted(CLASSIFIERS))
def test_every_classifier_predicts_the_class_of_highest_probability(classifier):
    """What lets the local engine take the class from the probabilities it computes anyway."""
    frame = tables.mixed()
    mixed = infer_schema(frame, PipelineConfig(target_column="churn"))
    inputs = model_input(frame, mixed)
    model = build_pipeline(classifier, {}, 42, mixed).fit(inputs, frame["churn"])
    scored = scored_rows(frame, inputs, mixed, model, "churn", "1", pd.Timestamp.now(tz="UTC"))
    assert scored["prediction"].tolist() == model.predict(inputs).tolist()
