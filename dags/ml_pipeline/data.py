"""get_data: load the Wine data (or a CSV/Parquet source with its schema), validate it, split it, snapshot it."""

from __future__ import annotations

import hashlib
import io

import pandas as pd
from sklearn.model_selection import train_test_split

from ml_pipeline import validation as check
from ml_pipeline.contract import BUNDLED_SOURCE, FEATURES, TARGET, DatasetSnapshot
from ml_pipeline.errors import DataValidationError
from ml_pipeline.storage import Storage, StorageError, join

__all__ = ["BUNDLED_SOURCE", "FEATURES", "TARGET", "load_source", "read_frame", "snapshot_dataset", "validate"]


def load_source(source_uri: str, storage: Storage) -> pd.DataFrame:
    """The bundled Wine data when no source is configured (no download), else a CSV or Parquet file."""
    if not source_uri or source_uri == BUNDLED_SOURCE:
        from sklearn.datasets import load_wine

        return load_wine(as_frame=True).frame
    suffix = source_uri.lower().rsplit(".", 1)[-1]
    if suffix not in ("csv", "parquet", "pq"):
        raise DataValidationError(f"{source_uri}: unsupported format; use a .csv or .parquet file")
    try:
        raw = storage.read_bytes(source_uri)
    except StorageError as error:
        raise DataValidationError(f"cannot read the source: {error}; check source_uri") from error
    if not raw.strip():
        raise DataValidationError(f"{source_uri} is empty; it needs a header and rows")
    try:
        frame = pd.read_csv(io.BytesIO(raw)) if suffix == "csv" else pd.read_parquet(io.BytesIO(raw))
    except Exception as error:
        raise DataValidationError(f"{source_uri} could not be parsed as {suffix.upper()}: {error}") from error
    check.check_separator(frame, source_uri)
    check.check_rows_present(frame, source_uri)
    return frame


def validate(frame: pd.DataFrame, min_rows: int, test_size: float = 0.25) -> pd.DataFrame:
    """Return the expected columns, in order, with float features; or raise naming the first problem found."""
    check.check_columns(frame)
    frame = frame[[*FEATURES, TARGET]]
    check.check_numeric_features(frame)
    check.check_missing(frame)
    # One schema whatever the file held (a CSV may give int columns): the model signature expects doubles.
    frame = frame.astype(dict.fromkeys(FEATURES, "float64")).reset_index(drop=True)
    check.check_finite(frame[list(FEATURES)])
    check.check_size(frame[list(FEATURES)], min_rows)
    check.check_target(frame[TARGET], len(frame))
    check.check_classes(frame[TARGET])
    check.check_split_possible(frame[TARGET], test_size)
    return frame


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
    source_uri: str,
    run_prefix: str,
    storage: Storage,
    *,
    test_size: float,
    seed: int,
    min_rows: int,
    max_holdout_overlap: float = 0.05,
) -> DatasetSnapshot:
    """Load, validate, split and write the data under `run_prefix`; return references and small facts."""
    frame = validate(load_source(source_uri, storage), min_rows, test_size)
    train, holdout = split(frame, test_size, seed)
    check.check_holdout(train, holdout, max_holdout_overlap)
    return {
        "source": source_uri or BUNDLED_SOURCE,
        "data_hash": content_hash(frame),
        "rows": len(frame),
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "classes": sorted(str(label) for label in frame[TARGET].unique()),
        "test_size": test_size,
        "random_seed": seed,
        "train_uri": storage.write_bytes(join(run_prefix, "data", "train.parquet"), to_parquet_bytes(train)),
        "holdout_uri": storage.write_bytes(join(run_prefix, "data", "holdout.parquet"), to_parquet_bytes(holdout)),
    }
