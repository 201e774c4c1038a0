"""What the data says about itself: which columns are features, of which kind, and which are not features, and why.

The settings decide first (`target_column`, `feature_columns`, `exclude_columns`, `categorical_columns`); without
`feature_columns` every other column is a candidate, and the ones that cannot be honest features are set aside by
name: identifiers (unique per row), constants, timestamps and free text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.data.schema import (
    IDENTIFIER_MIN_ROWS,
    MAX_STORED_CATEGORIES,
    MAX_TEXT_SHARE,
    MOSTLY_NUMBERS,
    DatasetSchema,
    Feature,
    FeatureKind,
    as_text,
    plain,
    probability_columns,
)
from ml_pipeline.data.validation import listed
from ml_pipeline.errors import DataValidationError


def chosen_columns(columns: list[str], config: PipelineConfig) -> tuple[list[str], dict[str, str]]:
    """The candidate feature columns, and the ones the settings leave out (with why)."""
    named = {"feature_columns": config.feature_columns or [], "exclude_columns": config.exclude_columns,
             "categorical_columns": config.categorical_columns,
             "segment_column": [config.segment_column] if config.segment_column else []}  # fmt: skip
    for setting, wanted in named.items():
        if absent := [column for column in wanted if column not in columns]:
            raise DataValidationError(
                f"{setting} names {listed(absent)}, which the source lacks; its columns are {listed(columns, 20)}"
            )
    others = [column for column in columns if column not in (config.target_column, config.segment_column)]
    if config.feature_columns:
        return list(config.feature_columns), {
            c: "not in feature_columns" for c in others if c not in config.feature_columns
        }
    excluded = {column: "exclude_columns" for column in config.exclude_columns}
    return [column for column in others if column not in excluded], excluded


def kind_of(column: pd.Series, declared_categorical: bool) -> FeatureKind:
    if declared_categorical or pd.api.types.is_bool_dtype(column):
        return "categorical"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    return "categorical"


def not_a_feature(column: pd.Series, kind: FeatureKind) -> str | None:
    """Why an inferred column would be a dishonest or useless feature, or None."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return "a timestamp: derive features from it in the source, or exclude it"
    whole = kind == "categorical" or pd.api.types.is_integer_dtype(column)
    if not whole:  # measurements: only a constant is refused, and the extremes tell without counting values
        lowest, highest = column.min(), column.max()
        return "constant" if pd.isna(lowest) or lowest == highest else None
    distinct, rows = column.nunique(dropna=True), len(column)
    if distinct <= 1:
        return "constant"
    if rows >= IDENTIFIER_MIN_ROWS and distinct == rows:
        return "unique per row: an identifier"
    if kind == "categorical" and rows >= IDENTIFIER_MIN_ROWS and distinct > MAX_TEXT_SHARE * rows:
        return f"{distinct} distinct values in {rows} rows: free text or an identifier"
    return None


def check_mixed(column: pd.Series, name: str) -> None:
    """A text column of numbers with a few words in it is a numeric column whose gaps are written as text."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return
    counts = column.value_counts(dropna=True)  # each distinct value once: a million rows of codes are a few values
    numbers = pd.to_numeric(counts.index.to_series(), errors="coerce").notna().to_numpy()
    if numbers.all() or counts[numbers].sum() < MOSTLY_NUMBERS * counts.sum():
        return
    stray = column[column.isin(counts.index[~numbers])]
    raise DataValidationError(
        f"column {name} holds numbers and text (e.g. {stray.iloc[0]!r} in row {stray.index[0] + 1}); leave missing "
        f"values empty in the source, or list {name} in categorical_columns if its values are codes"
    )


def infer_schema(frame: pd.DataFrame, config: PipelineConfig) -> DatasetSchema:
    """The schema of the labelled rows in `frame` (its target already holds the labels as the model learns them)."""
    candidates, ignored = chosen_columns([str(column) for column in frame.columns], config)
    if config.segment_column:
        ignored[config.segment_column] = "segment_column: it picks each row's model"
    features = []
    for name in candidates:
        column = frame[name]
        declared = name in config.categorical_columns
        if not declared:
            check_mixed(column, name)
        kind = kind_of(column, declared)
        reason = None if config.feature_columns else not_a_feature(column, kind)
        if reason:
            ignored[name] = reason
            continue
        categories = as_text(column).value_counts().index[:MAX_STORED_CATEGORIES] if kind == "categorical" else []
        features.append(
            Feature(name=name, kind=kind, dtype=str(column.dtype), had_missing=bool(column.isna().any()),
                    categories=[str(category) for category in categories])
        )  # fmt: skip
    if not features:
        raise DataValidationError(
            f"no column can be a feature ({listed(f'{c}: {why}' for c, why in ignored.items())}); "
            "add feature columns to the source or name them in feature_columns"
        )
    labels = [plain(label) for label in np.unique(frame[config.target_column].to_numpy())]  # as sklearn's classes_
    return DatasetSchema(
        target=config.target_column,
        labels=labels,
        features=features,
        ignored=ignored,
        probability_columns=probability_columns(labels),
        segment_column=config.segment_column or None,
    )
