"""Checks that refuse data which cannot be trained on or cannot give an honest holdout score.

Each check raises `DataValidationError` with one line: what is wrong, where, and what to do about it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.errors import DataValidationError

# |x| at or above this overflows float64 once squared (as scaling and most solvers do): 1.3e154 ** 2 > 1.8e308.
OVERFLOW_LIMIT = 1e154
# Beyond this many classes per row, a target is a measurement or an identifier rather than a label.
MAX_CLASS_SHARE = 0.5
# Share of repeated rows with disagreeing labels from which repeats are taken as the data's nature, not copies.
NATURAL_REPEATS = 0.1


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


def check_target_column(frame: pd.DataFrame, target: str) -> None:
    if target not in frame.columns:
        raise DataValidationError(
            f"no column {target!r} (target_column) in the source; its columns are "
            f"{listed(map(str, frame.columns), 20)}: set target_column to the one holding the labels"
        )


def check_missing(frame: pd.DataFrame, columns: Iterable[str], max_fraction: float) -> None:
    """Missing values are imputed in training, up to a share per column: beyond it, the column is mostly guesses."""
    shares = frame[list(columns)].isna().mean()
    if (over := shares[shares > max_fraction]).any():
        worst = [f"{column} ({share:.0%})" for column, share in over.sort_values(ascending=False).items()]
        raise DataValidationError(
            f"too many missing values in: {listed(worst)}, more than max_missing_fraction {max_fraction}; fill them in "
            "the source, list those columns in exclude_columns, or raise max_missing_fraction"
        )


def check_unlabeled(unlabeled: int, rows: int, target: str, max_fraction: float) -> None:
    if rows and unlabeled / rows > max_fraction:
        raise DataValidationError(
            f"{unlabeled} of {rows} rows ({unlabeled / rows:.0%}) have no {target!r}, more than max_unlabeled_fraction "
            f"{max_fraction}; label them in the source, or raise max_unlabeled_fraction"
        )


def check_finite(features: pd.DataFrame) -> None:
    """Numeric features: a missing value can be imputed, an infinite or overflowing one cannot. Column by column, so
    the check costs one column's memory, not a copy of the table."""
    problems: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "infinite": np.isinf,
        f"too large (|x| >= {OVERFLOW_LIMIT:g}, overflows when squared)": _overflows,
    }
    for problem, test in problems.items():
        counts = {}
        for column in features.columns:
            with np.errstate(invalid="ignore"):
                found = int(test(features[column].to_numpy(dtype="float64", na_value=np.nan)).sum())
            if found:
                counts[column] = found
        if counts:
            raise DataValidationError(
                f"{problem} values in: {listed(f'{column} ({count})' for column, count in counts.items())}; "
                "fix or drop those rows in the source"
            )


def _overflows(values: np.ndarray) -> np.ndarray:
    return np.abs(values) >= OVERFLOW_LIMIT


def check_target(target: pd.Series, rows: int) -> None:
    name = target.name
    kinds = {type(value.item() if hasattr(value, "item") else value).__name__ for value in target.unique()}
    if len(kinds & {"str"}) and len(kinds) > 1:
        raise DataValidationError(f"{name!r} mixes text and numbers ({listed(sorted(kinds))}); use one kind of label")
    if pd.api.types.is_float_dtype(target) and not np.all(np.mod(target.to_numpy(), 1) == 0):
        raise DataValidationError(
            f"{name!r} looks continuous (e.g. {listed(target.head(3))}); "
            "this pipeline trains classifiers, so the target must hold class labels"
        )
    classes = target.nunique()
    if classes > max(20, MAX_CLASS_SHARE * rows):
        raise DataValidationError(
            f"{name!r} has {classes} distinct values in {rows} rows: it looks continuous or like an identifier, "
            "not class labels"
        )


def check_classes(target: pd.Series) -> None:
    counts = target.value_counts()
    if len(counts) < 2:
        raise DataValidationError(f"only one class in {target.name!r} ({listed(counts.index)}); need at least two")
    rare = counts[counts < 2]
    if not rare.empty:
        raise DataValidationError(
            f"classes with a single row cannot be split into train and holdout: {listed(rare.index)}; "
            "add rows for them or drop them"
        )


def row_hashes(features: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row of values: equal rows, equal hashes (8 bytes a row, whatever the width)."""
    return pd.util.hash_pandas_object(features, index=False).to_numpy()


def copies(hashes: np.ndarray, labels: pd.Series) -> np.ndarray:
    """Per row: whether it is a copy of another record. Rows whose feature values repeat are copies when their labels
    agree; but where a share of repeated rows (NATURAL_REPEATS) carry labels that disagree, rows sharing values are a
    property of the data (a table of a few categorical features, a census) and none count as copies."""
    groups = pd.DataFrame({"values": hashes, "label": pd.factorize(labels)[0]}).groupby("values")["label"]
    repeated = (groups.transform("size") > 1).to_numpy()
    agreeing = (groups.transform("nunique") == 1).to_numpy()
    if repeated.any() and (~agreeing[repeated]).mean() >= NATURAL_REPEATS:
        return np.zeros(len(hashes), dtype=bool)
    return repeated & agreeing


def check_size(hashes: np.ndarray, repeated: np.ndarray, min_rows: int) -> None:
    rows = len(hashes)
    if rows < min_rows:
        raise DataValidationError(f"only {rows} rows; at least {min_rows} are required (min_rows)")
    distinct = int((~repeated).sum()) + np.unique(hashes[repeated]).size
    if distinct < min_rows:
        raise DataValidationError(
            f"only {distinct} distinct rows among {rows} (the source repeats rows); "
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


def check_holdout(
    labels: np.ndarray,
    hashes: np.ndarray,
    repeated: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    max_overlap: float,
) -> None:
    """The holdout (rows at positions `split[1]`) must hold every class and rows the model has not seen (at
    `split[0]`): copies of training rows would inflate its score."""
    train, holdout = split
    absent = sorted(set(labels[train]) - set(labels[holdout]), key=str)
    if absent:
        raise DataValidationError(f"classes without holdout rows: {listed(absent)}; raise test_size")
    seen = int((np.isin(hashes[holdout], hashes[train]) & repeated[holdout]).sum())
    share = seen / len(holdout)
    if share > max_overlap:
        raise DataValidationError(
            f"{seen} of {len(holdout)} holdout rows ({share:.0%}) also appear in the training split, so the "
            f"holdout score would be inflated; remove duplicate rows from the source "
            f"(or raise max_holdout_overlap, now {max_overlap})"
        )
