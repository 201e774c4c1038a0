"""get_data: load the Wine data (or a CSV/Parquet source with its schema), validate it, split it, snapshot it."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from ml_pipeline.config import InvalidInputError
from ml_pipeline.storage import Storage, StorageError, join

FEATURES = (
    "alcohol",
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "color_intensity",
    "hue",
    "od280/od315_of_diluted_wines",
    "proline",
)
TARGET = "target"
BUNDLED_SOURCE = "sklearn:wine"


class DataValidationError(InvalidInputError):
    """The input data cannot be trained on; the message says what is wrong with it."""

    label = "Invalid input data"


def load_source(source_uri: str, storage: Storage) -> pd.DataFrame:
    """The bundled Wine data when no source is configured (no download), else a CSV or Parquet file."""
    if not source_uri or source_uri == BUNDLED_SOURCE:
        from sklearn.datasets import load_wine

        return load_wine(as_frame=True).frame
    suffix = source_uri.lower().rsplit(".", 1)[-1]
    if suffix not in ("csv", "parquet", "pq"):
        raise DataValidationError(f"{source_uri}: unsupported format, expected a .csv or .parquet file")
    try:
        raw = storage.read_bytes(source_uri)
    except StorageError as error:
        raise DataValidationError(f"cannot read source: {error}") from error
    try:
        return pd.read_csv(io.BytesIO(raw)) if suffix == "csv" else pd.read_parquet(io.BytesIO(raw))
    except Exception as error:
        raise DataValidationError(f"{source_uri} could not be parsed as {suffix.upper()}: {error}") from error


def validate(frame: pd.DataFrame, min_rows: int) -> pd.DataFrame:
    """Return the expected columns, in order, or raise naming the first problem found."""
    expected = [*FEATURES, TARGET]
    missing = [column for column in expected if column not in frame.columns]
    if missing:
        raise DataValidationError(f"missing columns: {', '.join(missing)}")
    frame = frame[expected]
    non_numeric = [column for column in FEATURES if not pd.api.types.is_numeric_dtype(frame[column])]
    if non_numeric:
        raise DataValidationError(f"non-numeric feature columns: {', '.join(non_numeric)}")
    nulls = frame.isna().sum()
    if nulls.any():
        details = ", ".join(f"{column} ({count})" for column, count in nulls[nulls > 0].items())
        raise DataValidationError(f"missing values in: {details}")
    if len(frame) < min_rows:
        raise DataValidationError(f"only {len(frame)} rows; at least {min_rows} are required")
    class_counts = frame[TARGET].value_counts()
    if len(class_counts) < 2:
        raise DataValidationError(f"only one class in {TARGET!r} ({class_counts.index[0]!r}); need at least two")
    rare = class_counts[class_counts < 2]
    if not rare.empty:
        raise DataValidationError(
            f"classes with a single row cannot be split into train and holdout: {', '.join(map(repr, rare.index))}"
        )
    # One schema whatever the file held (a CSV may give int columns): the model signature expects doubles.
    return frame.astype(dict.fromkeys(FEATURES, "float64")).reset_index(drop=True)


def content_hash(frame: pd.DataFrame) -> str:
    """A hash of the values themselves, so the same data gives the same hash whatever file it came from."""
    return hashlib.sha256(frame.to_csv(index=False, float_format="%.10g").encode()).hexdigest()


def split(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic stratified split: the same data and seed always give the same holdout."""
    train, holdout = train_test_split(frame, test_size=test_size, random_state=seed, stratify=frame[TARGET])
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def read_frame(uri: str, storage: Storage) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(storage.read_bytes(uri)))


def snapshot_dataset(
    source_uri: str, run_prefix: str, storage: Storage, *, test_size: float, seed: int, min_rows: int
) -> dict[str, Any]:
    """Load, validate, split and write the data under `run_prefix`; return references and small facts."""
    frame = validate(load_source(source_uri, storage), min_rows)
    train, holdout = split(frame, test_size, seed)
    return {
        "source": source_uri or BUNDLED_SOURCE,
        "data_hash": content_hash(frame),
        "rows": len(frame),
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "classes": sorted(str(label) for label in frame[TARGET].unique()),
        "train_uri": storage.write_bytes(join(run_prefix, "data", "train.parquet"), to_parquet_bytes(train)),
        "holdout_uri": storage.write_bytes(join(run_prefix, "data", "holdout.parquet"), to_parquet_bytes(holdout)),
    }
