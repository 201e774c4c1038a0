"""The preprocessing every logged model carries, built from the data set's schema, so that a model takes raw rows
(in data/schema.py's model_input form) and nothing upstream has to prepare them.

- Numeric features: missing values imputed with the training mean, plus a missing-value indicator for columns that
  had gaps (the mean rather than the median: with the indicator either serves, and the median's sort costs three
  copies of the numeric columns, 0.8 GiB at a million rows); standardised only for classifiers that need it
  (`Classifier.scaled`). Classifiers that split on missing values themselves (`Classifier.native_missing`) get them
  as they are.
- Categorical features, by the classifier's `encoding`: one-hot (linear models), integer codes (tree ensembles), or
  codes the estimator treats as categories itself (HistGradientBoosting). Categories rarer than `MIN_FREQUENCY` rows
  share one "infrequent" slot; categories never seen in training are scored as that slot (one-hot) or as unknown
  (codes), never refused. Missing categories are a category of their own.

Only scikit-learn classes: the model loads wherever scikit-learn does (MLflow, Spark executors, EMR Serverless).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from ml_pipeline.config.classifiers import Classifier
from ml_pipeline.data.schema import DatasetSchema

MIN_FREQUENCY = 5  # rows a category needs in training to get its own slot
MAX_CATEGORIES = 250  # slots per column, the infrequent one included (HistGradientBoosting takes at most 255)
UNKNOWN, MISSING = -1, -2  # integer codes of unseen and missing categories for tree ensembles
# Types MLflow's skops format must be told to trust for these steps: the encoders keep their categories' dtype.
SKOPS_TRUSTED_TYPES = ("numpy.dtype",)


def _numeric(spec: Classifier) -> Pipeline | str:
    if spec.native_missing:
        return "passthrough"
    steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="mean", add_indicator=True))]
    if spec.scaled:
        steps.append(("scale", StandardScaler(copy=False)))  # in place: the imputer's output is a fresh array
    return Pipeline(steps)


def _categorical(spec: Classifier) -> Any:
    limits = {"min_frequency": MIN_FREQUENCY, "max_categories": MAX_CATEGORIES}
    if spec.encoding == "one_hot":
        return OneHotEncoder(handle_unknown="infrequent_if_exist", **limits)  # sparse: a column per category
    if spec.encoding == "native":
        return OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, **limits
        )
    return OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=UNKNOWN, encoded_missing_value=MISSING, **limits
    )


def preprocessor(schema: DatasetSchema, spec: Classifier) -> ColumnTransformer:
    """Categorical columns first, then numeric ones: the estimator's categorical features are the first outputs."""
    parts = []
    if categorical := schema.of_kind("categorical"):
        parts.append(("categorical", _categorical(spec), categorical))
    if numeric := schema.of_kind("numeric"):
        parts.append(("numeric", _numeric(spec), numeric))
    # Sparse output where it is mostly zeros (one-hot columns): a million rows of 500 categories stay small.
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def native_categories(schema: DatasetSchema, spec: Classifier) -> dict[str, Any]:
    """The estimator setting that marks the categorical outputs (the first ones), for classifiers that handle
    categories natively."""
    count = len(schema.of_kind("categorical"))
    return {"categorical_features": list(range(count))} if spec.encoding == "native" and count else {}
