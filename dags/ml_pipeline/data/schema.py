"""The data set's schema, inferred once by get_data from the data itself and then followed everywhere: training
builds its preprocessing from it, the registered model carries it (MLmodel metadata `dataset_schema`), and batch
scoring (local and Spark), the lookup and the gate read it from there. docs/your-data.md says what is inferred.

`model_input` is the one form rows take before a model sees them: numeric features as float64, categorical ones as
text (booleans `true`/`false`, whole numbers without `.0`, as Spark's casts write them) with NaN for missing, as
pandas and Spark's pandas UDFs hand a missing text value to a model; held as pandas categories.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

FeatureKind = Literal["numeric", "categorical"]
Label = bool | int | str
METADATA_KEY = "dataset_schema"  # where the registered model's MLmodel file keeps the schema
MAX_STORED_CATEGORIES = 1000  # per column, most frequent first: rarer ones count as unseen when scoring
IDENTIFIER_MIN_ROWS = 20  # below this, a column unique per row may just be a small sample
MAX_TEXT_SHARE = 0.5  # a text column with more distinct values than this share of rows is free text or an identifier
MOSTLY_NUMBERS = 0.9  # a text column this share of whose values are numbers is a numeric column with stray text


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: FeatureKind
    dtype: str  # as read from the source
    had_missing: bool  # training had missing values here: scoring accepts them, and only then
    categories: list[str] = []  # categorical: the values seen in training, most frequent first


class DatasetSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    labels: list[Label]  # sorted: the model's classes
    features: list[Feature]
    ignored: dict[str, str] = {}  # column -> why it is not a feature
    probability_columns: list[str]  # one per label, in `labels`' order: names Parquet and Spark accept
    # One model per segment: the column that names a row's segment. Models read it beside the features (as text),
    # the router to route the row, every other model to ignore it; None: no segments.
    segment_column: str | None = None

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def input_names(self) -> list[str]:
        """The columns a model reads: the features, then the segment column if there is one."""
        return [*self.feature_names, *([self.segment_column] if self.segment_column else [])]

    def of_kind(self, kind: FeatureKind) -> list[str]:
        return [feature.name for feature in self.features if feature.kind == kind]

    def describe(self) -> str:
        """One line for logs and summaries."""
        numeric, categorical = len(self.of_kind("numeric")), len(self.of_kind("categorical"))
        labels = ", ".join(str(label) for label in self.labels[:6]) + (" ..." if len(self.labels) > 6 else "")
        ignored = (
            f"; not features: {', '.join(f'{c} ({why})' for c, why in self.ignored.items())}" if self.ignored else ""
        )
        return (
            f"{numeric} numeric and {categorical} categorical features, {len(self.labels)} labels ({labels}){ignored}"
        )


def probability_columns(labels: list[Label]) -> list[str]:
    """`probability_<label>` with every character other than letters, digits and `_` replaced by `_`, numbered
    when two labels would give the same name."""
    names: list[str] = []
    for label in labels:
        base = "probability_" + re.sub(
            r"[^0-9A-Za-z_]", "_", str(label).lower() if isinstance(label, bool) else str(label)
        )
        name, number = base, 2
        while name in names:
            name, number = f"{base}_{number}", number + 1
        names.append(name)
    return names


def as_text(column: pd.Series) -> pd.Series:
    """A categorical column as the model reads it: text, NaN where missing. Pandas categories: each distinct value is
    written once and rows hold a code, so a million rows of a few categories cost megabytes, not a string each."""
    codes, distinct = pd.factorize(column, use_na_sentinel=True)
    texts = [_text(value) for value in distinct]
    # True and "true" are one category. Python strings (object), not Arrow's: encoders read categories as an object
    # array, which then shares each category's one string instead of making a string per row.
    categories = pd.Index(texts, dtype=object).unique()
    positions = categories.get_indexer(texts)
    return pd.Series(
        pd.Categorical.from_codes(np.where(codes >= 0, positions[codes], -1), categories=categories),
        index=column.index,
        name=column.name,
    )


def _text(value: object) -> str:
    """One value as Spark's cast to string writes it, for booleans and whole numbers."""
    if isinstance(value, bool | np.bool_):
        return str(value).lower()
    if isinstance(value, float | np.floating) and float(value).is_integer() and abs(float(value)) < 2**53:
        return str(int(value))
    return str(value)


def model_input(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """The features in the schema's order (then the segment column, as text) and the model's types (values that are
    not numbers become NaN: callers that must refuse them check first, as scoring/rows.py does)."""
    columns = {}
    for feature in schema.features:
        column = frame[feature.name]
        if feature.kind == "numeric":
            numeric = column.dtype == np.float64
            columns[feature.name] = column if numeric else pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            columns[feature.name] = as_text(column)
    if schema.segment_column:
        columns[schema.segment_column] = as_text(frame[schema.segment_column])
    # Not copied: float64 columns stay the caller's arrays (copy-on-write keeps both safe), one block per column.
    return pd.DataFrame(columns, index=frame.index, copy=False)


def labels_of(target: pd.Series) -> pd.Series:
    """Class labels (none missing) as the model learns them: whole-number floats (a CSV column that had gaps) become
    integers, and text stays text."""
    if pd.api.types.is_float_dtype(target) and np.all(np.mod(target, 1) == 0):
        return target.astype("int64")
    if not pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        return target.astype(object)
    return target


def plain(value: object) -> Label:
    value = value.item() if isinstance(value, np.generic) else value
    return value if isinstance(value, bool | int | str) else str(value)
