"""Checks that refuse data which cannot be trained on or cannot give an honest holdout score.

Each check raises `DataValidationError` with one line: what is wrong, where, and what to do about it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.contract import FEATURES, TARGET
from ml_pipeline.errors import DataValidationError

# |x| at or above this overflows float64 once squared (as scaling and most solvers do): 1.3e154 ** 2 > 1.8e308.
OVERFLOW_LIMIT = 1e154
# Beyond this many classes per row, a target is a measurement or an identifier rather than a label.
MAX_CLASS_SHARE = 0.5


def listed(items: Iterable[Any], limit: int = 5) -> str:
    """`a, b, c and 7 more`: a readable list of plain values, never hundreds of them."""
    items = [item.item() if hasattr(item, "item") else item for item in items]
    items = [f"{item:.6g}" if isinstance(item, float) else str(item) for item in items]
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_separator(frame: pd.DataFrame, source: str) -> None:
    """A CSV written with another separator reads as one column whose name holds all the others."""
    if len(frame.columns) != 1:
        return
    header = str(frame.columns[0])
    for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if header.count(separator) >= 2:
            raise DataValidationError(
                f"{source} looks separated by {name}, not commas; save it as comma-separated CSV (or Parquet)"
            )


def check_columns(frame: pd.DataFrame) -> None:
    missing = [column for column in (*FEATURES, TARGET) if column not in frame.columns]
    if missing:
        raise DataValidationError(
            f"missing columns: {listed(missing, 13)}; the source needs the 13 Wine feature columns and {TARGET!r}"
        )


def check_numeric_features(frame: pd.DataFrame) -> None:
    for column in FEATURES:
        if pd.api.types.is_bool_dtype(frame[column]) or not pd.api.types.is_numeric_dtype(frame[column]):
            values = pd.to_numeric(frame[column], errors="coerce")
            bad = frame[column][values.isna() & frame[column].notna()]
            example = f" (e.g. {bad.iloc[0]!r} in row {bad.index[0] + 1})" if len(bad) else ""
            raise DataValidationError(
                f"non-numeric values in feature column {column}{example}; features must be numbers"
            )


def check_missing(frame: pd.DataFrame) -> None:
    nulls = frame[[*FEATURES, TARGET]].isna().sum()
    if nulls.any():
        counts = [f"{column} ({count})" for column, count in nulls[nulls > 0].items()]
        raise DataValidationError(f"missing values in: {listed(counts)}; fill or drop those rows in the source")


def check_finite(features: pd.DataFrame) -> None:
    values = features.to_numpy(dtype="float64")
    for problem, mask in (
        ("infinite", np.isinf(values)),
        (f"too large (|x| >= {OVERFLOW_LIMIT:g}, overflows when squared)", np.abs(values) >= OVERFLOW_LIMIT),
    ):
        if mask.any():
            counts = [f"{column} ({count})" for column, count in zip(FEATURES, mask.sum(axis=0), strict=True) if count]
            raise DataValidationError(f"{problem} values in: {listed(counts)}; fix or drop those rows in the source")


def check_target(target: pd.Series, rows: int) -> None:
    kinds = {type(value.item() if hasattr(value, "item") else value).__name__ for value in target.unique()}
    if len(kinds & {"str"}) and len(kinds) > 1:
        raise DataValidationError(f"{TARGET!r} mixes text and numbers ({listed(sorted(kinds))}); use one kind of label")
    if pd.api.types.is_float_dtype(target) and not np.all(np.mod(target.to_numpy(), 1) == 0):
        raise DataValidationError(
            f"{TARGET!r} looks continuous (e.g. {listed(target.head(3))}); "
            "this pipeline trains classifiers, so the target must hold class labels"
        )
    classes = target.nunique()
    if classes > max(20, MAX_CLASS_SHARE * rows):
        raise DataValidationError(
            f"{TARGET!r} has {classes} distinct values in {rows} rows: it looks continuous or like an identifier, "
            "not class labels"
        )


def check_classes(target: pd.Series) -> None:
    counts = target.value_counts()
    if len(counts) < 2:
        raise DataValidationError(f"only one class in {TARGET!r} ({listed(counts.index)}); need at least two")
    rare = counts[counts < 2]
    if not rare.empty:
        raise DataValidationError(
            f"classes with a single row cannot be split into train and holdout: {listed(rare.index)}; "
            "add rows for them or drop them"
        )


def row_hashes(features: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row of values: equal rows, equal hashes (8 bytes a row, whatever the width)."""
    return pd.util.hash_pandas_object(features, index=False).to_numpy()


def check_size(features: pd.DataFrame, min_rows: int) -> None:
    if len(features) < min_rows:
        raise DataValidationError(f"only {len(features)} rows; at least {min_rows} are required (min_rows)")
    distinct = np.unique(row_hashes(features)).size
    if distinct < min_rows:
        raise DataValidationError(
            f"only {distinct} distinct rows among {len(features)} (the source repeats rows); "
            f"at least {min_rows} distinct rows are required (min_rows)"
        )


def check_split_possible(target: pd.Series, test_size: float) -> None:
    """A stratified split needs every class on both sides: test_size must leave room for that."""
    rows, classes = len(target), target.nunique()
    holdout = math.ceil(test_size * rows)
    if holdout < classes or rows - holdout < classes:
        low, high = classes / rows, 1 - classes / rows
        raise DataValidationError(
            f"test_size {test_size} gives {holdout} holdout and {rows - holdout} training rows for {classes} classes; "
            f"every class needs a row on both sides: use a test_size between {low:.3f} and {high:.3f}"
        )


def check_holdout(frame: pd.DataFrame, train: np.ndarray, holdout: np.ndarray, max_overlap: float) -> None:
    """The holdout (rows at positions `holdout`) must hold every class and rows the model has not seen (at
    `train`), or its score means nothing."""
    labels = frame[TARGET].to_numpy()
    absent = sorted(set(labels[train]) - set(labels[holdout]), key=str)
    if absent:
        raise DataValidationError(f"classes without holdout rows: {listed(absent)}; raise test_size")
    hashes = row_hashes(frame[list(FEATURES)])
    repeated = int(np.isin(hashes[holdout], hashes[train]).sum())
    share = repeated / len(holdout)
    if share > max_overlap:
        raise DataValidationError(
            f"{repeated} of {len(holdout)} holdout rows ({share:.0%}) also appear in the training split, so the "
            f"holdout score would be inflated; remove duplicate rows from the source "
            f"(or raise max_holdout_overlap, now {max_overlap})"
        )
