"""The snapshot's split files: get_data writes them a slice at a time, train_model and persist_model read them a
batch at a time straight into model_input's form, so no task holds the file's rows twice (docs/benchmarks.md,
"Scale")."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ml_pipeline.data.schema import DatasetSchema, labels_of, model_input
from ml_pipeline.data.sources import parquet_batches
from ml_pipeline.store.objects import Storage, explained_local_errors

WRITE_ROWS = 100_000  # rows per slice (and Parquet row group) of the snapshot
# Rows per batch read: Arrow decodes a batch's column chunks in buffers several times its size (143 MiB for a batch of
# 100,000 rows x 50 columns), and its allocator keeps what it freed; 20,000 rows keep that small.
READ_ROWS = 20_000


def split(frame: pd.DataFrame, target: str, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: the same data and seed always give the same holdout. Returns the rows'
    positions (sorted), so the data itself is never copied into two more frames."""
    positions = np.arange(len(frame))
    train, holdout = train_test_split(positions, test_size=test_size, random_state=seed, stratify=frame[target])
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


def read_schema(uri: str, storage: Storage) -> DatasetSchema:
    return DatasetSchema.model_validate_json(storage.read_bytes(uri))


def read_split(uri: str, schema: DatasetSchema, storage: Storage) -> tuple[pd.DataFrame, pd.Series]:
    """A split's features as the model reads them, and its labels. Numeric columns are filled in place batch by
    batch, categorical ones kept as codes: the file's rows are never in memory in a second form."""
    import pyarrow.parquet as pq

    numeric, target = schema.of_kind("numeric"), schema.target
    with storage.local_copy(uri) as path:
        rows = pq.read_metadata(path).num_rows
        filled = {name: np.empty(rows) for name in numeric}
        texts = [name for name in schema.input_names if name not in filled]
        pieces: dict[str, list[pd.Series]] = {name: [] for name in [*texts, target]}
        start = 0
        for frame in parquet_batches(path, uri, READ_ROWS, [*schema.input_names, target]):
            features, stop = model_input(frame, schema), start + len(frame)
            for name in numeric:
                filled[name][start:stop] = features[name].to_numpy()
            for name, column in pieces.items():
                column.append(frame[target] if name == target else features[name])
            start = stop
    release_arrow_memory()
    columns = {name: filled.get(name) if name in filled else _joined(pieces[name]) for name in schema.input_names}
    labels = pd.concat(pieces[target], ignore_index=True) if pieces[target] else pd.Series([], name=target)
    return pd.DataFrame(columns, copy=False), labels_of(labels)


def release_arrow_memory() -> None:
    """Hand back to the system what Arrow's allocator kept from reading (hundreds of MiB after a large file), so the
    fit that follows can use it: numpy allocates elsewhere."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _joined(pieces: list[pd.Series]) -> pd.Categorical:
    """One categorical column from its batches' (whose categories may differ), as codes of their union."""
    if not pieces:
        return pd.Categorical([])
    return pd.api.types.union_categoricals([piece.array for piece in pieces], ignore_order=True)
