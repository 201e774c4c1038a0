"""Rows in, predictions out: which rows a model can score, and the columns every scored row gets.

The local engine applies this to each record batch; the Spark job (spark_jobs/score_batch.py) applies the same
rules with Spark expressions, and the tests hold both to the same outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.contract import (
    MODEL_NAME_COLUMN,
    MODEL_VERSION_COLUMN,
    PREDICTION,
    PROBABILITY_PREFIX,
    REASON,
    SCORED_AT,
)
from ml_pipeline.data.validation import listed
from ml_pipeline.errors import DataValidationError

# Why a row is rejected: the first feature column (in the model's order) holding a value that is ...
MISSING = "{column} is missing"  # null or NaN (an empty CSV field reads as one)
NOT_A_NUMBER = "{column} is not a number"
NOT_FINITE = "{column} is not finite"


def output_columns(classes: Iterable[Any]) -> list[str]:
    """The columns scoring adds after the input's own."""
    return [PREDICTION, *probability_columns(classes), MODEL_NAME_COLUMN, MODEL_VERSION_COLUMN, SCORED_AT]


def probability_columns(classes: Iterable[Any]) -> list[str]:
    return [f"{PROBABILITY_PREFIX}{label}" for label in classes]


def check_columns(
    columns: Sequence[str], dtypes: dict[str, str], features: Sequence[str], classes: Sequence[Any], source: str
) -> None:
    """The source must hold the model's input columns, as numbers or text, and none of the columns scoring adds."""
    missing = [column for column in features if column not in columns]
    if missing:
        raise DataValidationError(
            f"{source} lacks columns the model needs: {listed(missing, 13)}; "
            f"give all {len(features)} of the model's input columns"
        )
    clashes = [column for column in (*output_columns(classes), REASON) if column in columns]
    if clashes:
        raise DataValidationError(
            f"{source} already has columns named {listed(clashes)}, which scoring adds; rename them in the source"
        )
    unusable = [column for column in features if dtypes.get(column) in ("bool", "boolean")]
    if unusable:
        raise DataValidationError(f"{source}: feature columns {listed(unusable)} hold booleans; features are numbers")


def reject_reasons(frame: pd.DataFrame, features: Sequence[str]) -> pd.Series:
    """Per row, why it cannot be scored (the first bad feature, in the model's order), or NA."""
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")
    numeric = all(pd.api.types.is_numeric_dtype(frame[column]) for column in features)
    if numeric and np.isfinite(frame[list(features)].to_numpy(dtype="float64")).all():
        return reasons  # the usual batch: every value a finite number, checked in one pass
    for column in features:
        raw = frame[column]
        if pd.api.types.is_numeric_dtype(raw):
            values, missing = raw, raw.isna()
        else:  # text: "NaN" is a missing value, as in Spark's cast
            values = pd.to_numeric(raw, errors="coerce")
            missing = raw.isna() | (raw.astype("string").str.strip().str.lower() == "nan")
        for problem, mask in (
            (MISSING, missing),
            (NOT_A_NUMBER, ~missing & values.isna()),
            (NOT_FINITE, np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))),
        ):
            fill = mask & reasons.isna()
            if fill.any():
                reasons[fill] = problem.format(column=column)
    return reasons


def scored_rows(
    frame: pd.DataFrame,
    features: Sequence[str],
    model: Any,
    model_name: str,
    model_version: str,
    scored_at: datetime,
) -> pd.DataFrame:
    """The rows (all valid) with their features as numbers, the model's class and class probabilities, and which
    model version scored them, when. `model` is the pinned version's scikit-learn estimator."""
    rows = frame.copy(deep=False)
    for column in features:
        rows[column] = pd.to_numeric(rows[column]).astype("float64")
    # One pass through the model: each classifier this project trains predicts the class of highest probability
    # (test_scoring_rows holds every one of them to it), so `predict` would compute the probabilities again.
    probabilities = model.predict_proba(rows[list(features)])
    rows[PREDICTION] = model.classes_[probabilities.argmax(axis=1)]
    for position, column in enumerate(probability_columns(model.classes_)):
        rows[column] = probabilities[:, position]
    rows[MODEL_NAME_COLUMN] = model_name
    rows[MODEL_VERSION_COLUMN] = model_version
    rows[SCORED_AT] = pd.Timestamp(scored_at)
    return rows


def rejected_rows(frame: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """The rows that cannot be scored, as text (whatever their columns held), with the reason for each."""
    bad = reasons.notna()
    return frame[bad].astype("string").assign(**{REASON: reasons[bad]})
