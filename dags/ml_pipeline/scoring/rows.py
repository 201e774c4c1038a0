"""Rows in, predictions out: which rows a model can score, and the columns every scored row gets, by the schema the
model carries (data/schema.py).

A row is rejected, with the first reason in the model's feature order, when a feature is missing that never was in
training, or a numeric feature is not a number or not finite. A category training never saw is scored (the model
treats it as infrequent or unknown) and counted. The local engine applies this to each record batch; the Spark job
(spark_jobs/score_batch.py) applies the same rules with Spark expressions, and the tests hold both to the same output.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.contract import (
    MODEL_NAME_COLUMN,
    MODEL_VERSION_COLUMN,
    PREDICTION,
    REASON,
    SCORED_AT,
    SEGMENT_MODEL_COLUMN,
    SEGMENT_VERSION_COLUMN,
)
from ml_pipeline.data.schema import DatasetSchema, Feature
from ml_pipeline.data.validation import listed
from ml_pipeline.errors import DataValidationError
from ml_pipeline.training.metrics import predict

# Why a row is rejected: the first feature column (in the model's order) holding a value that is ...
MISSING = "{column} is missing"  # null or NaN (an empty CSV field reads as one), where training had none
NOT_A_NUMBER = "{column} is not a number"
NOT_FINITE = "{column} is not finite"


def output_columns(schema: DatasetSchema) -> list[str]:
    """The columns scoring adds after the input's own (with segments, which segment model scored the row too)."""
    segments = [SEGMENT_MODEL_COLUMN, SEGMENT_VERSION_COLUMN] if schema.segment_column else []
    return [PREDICTION, *schema.probability_columns, MODEL_NAME_COLUMN, MODEL_VERSION_COLUMN, *segments, SCORED_AT]


def check_columns(columns: Sequence[str], dtypes: dict[str, str], schema: DatasetSchema, source: str) -> None:
    """The source must hold the model's input columns, numeric ones as numbers or text, and none of the columns
    scoring adds."""
    check_features(columns, dtypes, schema, source)
    clashes = [column for column in (*output_columns(schema), REASON) if column in columns]
    if clashes:
        raise DataValidationError(
            f"{source} already has columns named {listed(clashes)}, which scoring adds; rename them in the source"
        )


def check_features(columns: Sequence[str], dtypes: dict[str, str], schema: DatasetSchema, source: str) -> None:
    """The source must hold the model's input columns, numeric ones as numbers or text."""
    missing = [column for column in schema.input_names if column not in columns]
    if missing:
        raise DataValidationError(
            f"{source} lacks columns the model needs: {listed(missing, 13)}; "
            f"give all {len(schema.input_names)} of the model's input columns"
        )
    numeric = schema.of_kind("numeric")
    if unusable := [column for column in numeric if dtypes.get(column) in ("bool", "boolean")]:
        raise DataValidationError(
            f"{source}: columns {listed(unusable)} hold booleans, but the model learned them as numbers"
        )


def _problems(raw: pd.Series, feature: Feature) -> list[tuple[str, pd.Series]]:
    """(reason, rows it applies to) for one column, in the order they are reported."""
    if feature.kind == "categorical":
        missing = raw.isna()
        return [] if feature.had_missing else [(MISSING, missing)]
    if pd.api.types.is_numeric_dtype(raw):
        values, missing = raw, raw.isna()
    else:  # text (or JSON values): "NaN" and blanks are missing values, as in Spark's cast; a boolean is not a number
        booleans = raw.map(lambda value: isinstance(value, bool | np.bool_)).astype(bool)
        values = pd.to_numeric(raw.where(~booleans).map(_number), errors="coerce")
        missing = raw.isna() | raw.astype("string").str.strip().str.lower().isin(["nan", ""]).fillna(False)
    infinite = pd.Series(np.isinf(values.to_numpy(dtype="float64", na_value=np.nan)), index=raw.index)
    problems = [] if feature.had_missing else [(MISSING, missing)]
    return [*problems, (NOT_A_NUMBER, ~missing & values.isna()), (NOT_FINITE, infinite)]


def _number(value: Any) -> Any:
    """A value as pandas can convert it: integers too large for float64 are infinite, as float() makes them."""
    return float("inf") if isinstance(value, int) and abs(value) > 2**1023 else value


def reject_reasons(frame: pd.DataFrame, schema: DatasetSchema) -> pd.Series:
    """Per row, why it cannot be scored (the first bad feature, in the model's order), or NA."""
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")
    if _nothing_to_reject(frame, schema):
        return reasons
    for feature in schema.features:
        for problem, mask in _problems(frame[feature.name], feature):
            fill = mask & reasons.isna()
            if fill.any():
                reasons[fill] = problem.format(column=feature.name)
    return reasons


def _nothing_to_reject(frame: pd.DataFrame, schema: DatasetSchema) -> bool:
    """One look over the whole frame for the common case, every numeric feature a finite number (or text that
    to_numeric reads as one, as a CSV's columns come) and no categorical value missing where training had none: then
    no column can have a problem, and the per-column search is skipped (it costs milliseconds per request, more than
    the model on a few rows)."""
    numeric = frame[schema.of_kind("numeric")]
    numbers = numeric.select_dtypes(include="number")
    if not np.isfinite(numbers.to_numpy(dtype="float64", na_value=np.nan)).all():
        return False
    if len(numbers.columns) < len(numeric.columns):
        text = numeric.drop(columns=numbers.columns).to_numpy(dtype=object).ravel()
        if pd.api.types.infer_dtype(text, skipna=False) != "string":  # not only text: booleans, gaps, mixed values
            return False
        read = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if not np.isfinite(read).all():
            return False
    strict = [feature.name for feature in schema.features if feature.kind == "categorical" and not feature.had_missing]
    return not frame[strict].isna().to_numpy().any()


def unseen_categories(inputs: pd.DataFrame, schema: DatasetSchema) -> pd.Series:
    """Per row of model_input's form, whether a categorical feature holds a value training never saw (a missing value
    is not one)."""
    unseen = pd.Series(False, index=inputs.index)
    for feature in schema.features:
        if feature.kind == "categorical":
            text = inputs[feature.name]
            unseen |= text.notna() & ~text.isin(feature.categories)
    return unseen


def scored_rows(
    frame: pd.DataFrame,
    inputs: pd.DataFrame,
    schema: DatasetSchema,
    model: Any,
    model_name: str,
    model_version: str,
    scored_at: datetime,
) -> pd.DataFrame:
    """The rows (all valid) with the model's class and class probabilities, and which model version scored them,
    when. `inputs` are the rows in model_input's form; `model` is the pinned version's scikit-learn estimator, whose
    classes are its schema's labels."""
    rows = frame.copy(deep=False)
    rows[PREDICTION], probabilities = predict(model, inputs)
    for position, column in enumerate(schema.probability_columns):
        rows[column] = probabilities[:, position]
    rows[MODEL_NAME_COLUMN] = model_name
    rows[MODEL_VERSION_COLUMN] = model_version
    if schema.segment_column:  # a router says which of its models scored each row; any other model scored them all
        route = getattr(model, "route", None)
        names, versions = route(inputs) if route else (model_name, model_version)
        rows[SEGMENT_MODEL_COLUMN], rows[SEGMENT_VERSION_COLUMN] = names, versions
    rows[SCORED_AT] = pd.Timestamp(scored_at)
    return rows


def rejected_rows(frame: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """The rows that cannot be scored, as text (whatever their columns held), with the reason for each."""
    bad = reasons.notna()
    return frame[bad].astype("string").assign(**{REASON: reasons[bad]})
