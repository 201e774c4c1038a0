"""Read a source in batches, so memory does not grow with the file: one CSV or Parquet file, or a folder (local or
an s3:// prefix) of Parquet files. Batches keep running row numbers, so messages can name the row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ml_pipeline.contract import BUNDLED_SOURCE, FEATURES, TARGET
from ml_pipeline.data import validation as check
from ml_pipeline.errors import DataValidationError
from ml_pipeline.store.objects import Storage, StorageError

BATCH_ROWS = 200_000
PARQUET = (".parquet", ".pq")
SUFFIXES = (".csv", *PARQUET)


TRAINING_COLUMNS = (*FEATURES, TARGET)


def is_bundled(source_uri: str) -> bool:
    return not source_uri or source_uri == BUNDLED_SOURCE


def batches(
    source_uri: str,
    storage: Storage,
    batch_rows: int = BATCH_ROWS,
    columns: tuple[str, ...] | None = TRAINING_COLUMNS,
    setting: str = "source_uri",
) -> Iterator[pd.DataFrame]:
    """The source's rows in frames of at most `batch_rows`; the bundled Wine data when no source is set.

    Parquet sources are read for `columns` only (all of them when None), and must have them. Messages name the
    configuration key the source came from (`setting`).
    """
    if is_bundled(source_uri):
        from sklearn.datasets import load_wine

        yield load_wine(as_frame=True).frame
        return
    try:
        files = source_files(source_uri, storage, setting)
        offset = 0
        for uri in files:
            with storage.local_copy(uri) as path:
                if uri.lower().endswith(".csv"):
                    frames = _csv_batches(path, uri, batch_rows)
                else:
                    frames = _parquet_batches(path, uri, batch_rows, columns)
                for frame in frames:
                    if frame.empty:
                        continue
                    frame.index += offset
                    offset += len(frame)
                    yield frame
    except StorageError as error:
        raise DataValidationError(f"cannot read the source: {error}; check {setting}") from error
    if offset == 0:
        raise DataValidationError(f"{source_uri} has no data rows (at most a header); add rows to it")


def source_files(source_uri: str, storage: Storage, setting: str = "source_uri") -> list[str]:
    """The files a source names: itself, or the Parquet files of a folder or S3 prefix."""
    if storage.is_folder(source_uri):
        files = storage.list_files(source_uri, PARQUET)
        if not files:
            raise DataValidationError(f"{source_uri} holds no .parquet files; point {setting} at a file or a folder")
        return files
    if not source_uri.lower().endswith(SUFFIXES):
        raise DataValidationError(f"{source_uri}: unsupported format; use a .csv or .parquet file, or a folder")
    return [source_uri]


def _csv_batches(path: Path, uri: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    try:
        chunks = pd.read_csv(path, chunksize=batch_rows)
        first = True
        for frame in chunks:
            if first:
                check.check_separator(frame, uri)
                first = False
            yield frame
    except pd.errors.EmptyDataError:
        raise DataValidationError(f"{uri} is empty; it needs a header and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataValidationError(f"{uri} could not be parsed as CSV: {error}") from None


def _parquet_batches(path: Path, uri: str, batch_rows: int, columns: tuple[str, ...] | None) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # Without pre-buffering Arrow reads a batch's pages as it decodes them, instead of whole row groups at once:
        # about half the peak memory of get_data on large files (docs/benchmarks.md, "Scale").
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowException, OSError) as error:
        raise DataValidationError(f"{uri} could not be parsed as PARQUET: {error}") from None
    missing = [column for column in columns or () if column not in parquet.schema_arrow.names]
    if missing:
        raise DataValidationError(f"{uri}: missing columns: {check.listed(missing, 13)}")
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(columns) if columns else None):
        yield batch.to_pandas()
