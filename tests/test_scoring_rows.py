"""Which rows a model can score, why the others cannot, and the columns every scored row gets."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ml_pipeline.config.classifiers import CLASSIFIERS
from ml_pipeline.errors import DataValidationError
from ml_pipeline.scoring.rows import check_columns, output_columns, reject_reasons, rejected_rows, scored_rows
from ml_pipeline.training.train import build_pipeline

FEATURES = ["a", "b"]


def test_each_bad_row_gets_the_first_bad_feature_in_the_models_order():
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "a": ["1.5", None, "abc", "inf", "2", "nan"],
            "b": [1.0, np.nan, 2.0, 3.0, float("-inf"), 4.0],
        }
    )
    reasons = reject_reasons(frame, FEATURES).fillna("ok").tolist()
    assert reasons == ["ok", "a is missing", "a is not a number", "a is not finite", "b is not finite", "a is missing"]


def test_numeric_columns_reject_only_missing_and_infinite_values():
    frame = pd.DataFrame({"a": [1.0, np.nan, np.inf], "b": [1, 2, 3]})
    assert reject_reasons(frame, FEATURES).fillna("ok").tolist() == ["ok", "a is missing", "a is not finite"]


def test_rejected_rows_keep_their_values_as_text_with_the_reason():
    frame = pd.DataFrame({"id": [7, 8], "a": ["x", "1"], "b": [1.0, 2.0]})
    rejected = rejected_rows(frame, reject_reasons(frame, FEATURES))
    assert rejected.to_dict("records") == [{"id": "7", "a": "x", "b": "1.0", "reason": "a is not a number"}]


@pytest.mark.parametrize(
    ("columns", "dtypes", "message"),
    [
        (["a"], {}, "lacks columns the model needs: b"),
        (["a", "b", "prediction"], {}, "already has columns named prediction"),
        (["a", "b", "reason"], {}, "already has columns named reason"),
        (["a", "b"], {"b": "bool"}, "feature columns b hold booleans"),
    ],
)
def test_a_source_that_does_not_fit_the_model_fails_with_one_line(columns, dtypes, message):
    with pytest.raises(DataValidationError, match=message):
        check_columns(columns, dtypes, FEATURES, [0, 1], "rows.csv")


def test_scored_rows_carry_the_models_class_and_probabilities_and_the_version():
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(60, 2)), columns=FEATURES)
    model = LogisticRegression().fit(train, np.repeat(["red", "white", "rose"], 20))
    frame = pd.DataFrame({"id": [1, 2], "a": ["0.5", "-1"], "b": [2.0, 0.0]})
    scored = scored_rows(frame, FEATURES, model, "wine", "3", pd.Timestamp("2026-11-23", tz="UTC"))
    assert list(scored.columns) == ["id", *FEATURES, *output_columns(model.classes_)]
    features = frame[FEATURES].astype(float)
    assert scored["prediction"].tolist() == model.predict(features).tolist()
    probabilities = scored[[f"probability_{label}" for label in model.classes_]].to_numpy()
    np.testing.assert_allclose(probabilities, model.predict_proba(features))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert set(scored["model_version"]) == {"3"} and set(scored["model_name"]) == {"wine"}


@pytest.mark.parametrize("classifier", sorted(CLASSIFIERS))
def test_every_classifier_predicts_the_class_of_highest_probability(classifier, wine_frame):
    """What lets the local engine take the class from the probabilities it computes anyway."""
    features = wine_frame.drop(columns="target")
    model = build_pipeline(classifier, {}, 42).fit(features, wine_frame["target"])
    scored = scored_rows(features, list(features.columns), model, "wine", "1", pd.Timestamp.now(tz="UTC"))
    assert scored["prediction"].tolist() == model.predict(features).tolist()
