"""get_data: load the Wine data (or a CSV/Parquet source with its schema), validate it, split it, snapshot it."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import BUNDLED_SOURCE, FEATURES, TARGET, DatasetSnapshot
from ml_pipeline.data import sources
from ml_pipeline.data import validation as check
from ml_pipeline.store.objects import Storage, explained_local_errors, join

WRITE_ROWS = 100_000  # rows per slice (and Parquet row group) of the snapshot

__all__ = ["BUNDLED_SOURCE", "FEATURES", "TARGET", "load_source", "read_frame", "snapshot_dataset", "validate"]


def load_source(source_uri: str, storage: Storage) -> pd.DataFrame:
    """The source's rows with the expected columns, float features, checked batch by batch as they are read.

    Only what training needs is kept (14 columns as float64 and the labels): one copy of the data in memory.
    """
    frames = []
    for batch in sources.batches(source_uri, storage):
        frames.append(validate_batch(batch))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    frames.clear()
    return frame


def validate_batch(batch: pd.DataFrame) -> pd.DataFrame:
    """Checks that each row can answer on its own: columns, numbers, missing and non-finite values."""
    check.check_columns(batch)
    batch = batch[[*FEATURES, TARGET]]
    check.check_numeric_features(batch)
    check.check_missing(batch)
    # One schema whatever the file held (a CSV may give int columns): the model signature expects doubles.
    batch = batch.astype(dict.fromkeys(FEATURES, "float64"))
    check.check_finite(batch[list(FEATURES)])
    return batch


def validate(frame: pd.DataFrame, min_rows: int, test_size: float = 0.25) -> pd.DataFrame:
    """The whole data set's checks (on top of each batch's): size, distinct rows, labels, a possible split."""
    frame = validate_batch(frame).reset_index(drop=True)
    check_dataset(frame, min_rows, test_size)
    return frame


def check_dataset(frame: pd.DataFrame, min_rows: int, test_size: float) -> None:
    check.check_size(frame[list(FEATURES)], min_rows)
    check.check_target(frame[TARGET], len(frame))
    check.check_classes(frame[TARGET])
    check.check_split_possible(frame[TARGET], test_size)


def content_hash(frame: pd.DataFrame) -> str:
    """A hash of the values themselves, so the same data gives the same hash whatever file it came from."""
    return hashlib.sha256(check.row_hashes(frame[[*FEATURES, TARGET]]).tobytes()).hexdigest()


def split(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: the same data and seed always give the same holdout. Returns the rows'
    positions (sorted), so the data itself is never copied into two more frames."""
    positions = np.arange(len(frame))
    train, holdout = train_test_split(positions, test_size=test_size, random_state=seed, stratify=frame[TARGET])
    return np.sort(train), np.sort(holdout)


def write_rows(frame: pd.DataFrame, positions: np.ndarray, uri: str, storage: Storage) -> str:
    """Write those rows as Parquet, a slice at a time through a local file: never a second copy of the data."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.parquet"
        writer = None
        with explained_local_errors(f"{path} (the local copy of {uri})"):
            try:
                for start in range(0, len(positions), WRITE_ROWS):
                    rows = pa.Table.from_pandas(frame.iloc[positions[start : start + WRITE_ROWS]], preserve_index=False)
                    writer = writer or pq.ParquetWriter(path, rows.schema)
                    writer.write_table(rows)
            finally:
                if writer is not None:
                    writer.close()
        return storage.write_file(uri, path)


def read_frame(uri: str, storage: Storage) -> pd.DataFrame:
    with storage.local_copy(uri) as path:
        return pd.read_parquet(path)


def snapshot_dataset(config: PipelineConfig, run_prefix: str, storage: Storage) -> DatasetSnapshot:
    """Load, validate, split and write the data under `run_prefix`; return references and small facts."""
    frame = load_source(config.source_uri, storage)
    check_dataset(frame, config.min_rows, config.test_size)
    train, holdout = split(frame, config.test_size, config.random_seed)
    check.check_holdout(frame, train, holdout, config.max_holdout_overlap)
    return DatasetSnapshot(
        source=config.source_uri or BUNDLED_SOURCE,
        data_hash=content_hash(frame),
        rows=len(frame),
        classes=sorted(str(label) for label in frame[TARGET].unique()),
        train_rows=len(train),
        holdout_rows=len(holdout),
        test_size=config.test_size,
        random_seed=config.random_seed,
        train_uri=write_rows(frame, train, join(run_prefix, "data", "train.parquet"), storage),
        holdout_uri=write_rows(frame, holdout, join(run_prefix, "data", "holdout.parquet"), storage),
    )
