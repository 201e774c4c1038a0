"""Read a source in batches, so memory does not grow with the file: one CSV or Parquet file, or a folder (local or
an s3:// prefix) of CSV and Parquet parts. Batches keep running row numbers, so messages can name the row. A folder's
other files are skipped and named (the log, and get_data's summary), never dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml_pipeline.contract import BUNDLED_SOURCE
from ml_pipeline.data import validation as check
from ml_pipeline.errors import DataValidationError
from ml_pipeline.store.objects import Storage, StorageError, local_path

log = logging.getLogger(__name__)

BATCH_ROWS = 200_000
PARQUET = (".parquet", ".pq")
SUFFIXES = (".csv", *PARQUET)


def is_bundled(source_uri: str) -> bool:
    return not source_uri or source_uri == BUNDLED_SOURCE


@dataclass(frozen=True)
class Source:
    """A source's data files, and the files of its folder that are not data (skipped, by name)."""

    uri: str
    files: list[str]
    skipped: list[str]
    setting: str = "source_uri"  # the configuration key it came from, for messages
    encoding: str = "utf-8"  # of its CSV files

    def batches(
        self, storage: Storage, batch_rows: int = BATCH_ROWS, columns: list[str] | None = None
    ) -> Iterator[pd.DataFrame]:
        """The rows in frames of at most `batch_rows` (only `columns`, which must exist, when given); the bundled
        Wine data when no source is set."""
        if is_bundled(self.uri):
            from sklearn.datasets import load_wine

            yield load_wine(as_frame=True).frame
            return
        offset = 0
        try:
            for uri in self.files:
                with storage.local_copy(uri) as path:
                    if uri.lower().endswith(".csv"):
                        frames = _csv_batches(path, uri, batch_rows, columns, self.encoding)
                    else:
                        frames = parquet_batches(path, uri, batch_rows, columns)
                    for frame in frames:
                        if frame.empty:
                            continue
                        frame.index += offset
                        offset += len(frame)
                        yield frame
        except StorageError as error:
            raise DataValidationError(f"cannot read the source: {error}; check {self.setting}") from error
        if offset == 0:
            raise DataValidationError(f"{self.uri} has no data rows (at most a header); add rows to it")


def open_source(source_uri: str, storage: Storage, setting: str = "source_uri", encoding: str = "utf-8") -> Source:
    """The files a source names: itself, or the CSV and Parquet files of a folder or S3 prefix (in name order)."""
    if is_bundled(source_uri):
        return Source(source_uri, [], [], setting, encoding)
    if storage.is_folder(source_uri):
        everything = storage.list_files(source_uri)
        files = [uri for uri in everything if uri.lower().endswith(SUFFIXES)]
        skipped = [uri.removeprefix(source_uri.rstrip("/") + "/") for uri in everything if uri not in files]
        if not files:
            raise DataValidationError(
                f"{source_uri} holds no .csv or .parquet files{f' (only {check.listed(skipped)})' if skipped else ''}; "
                f"point {setting} at a file or a folder of them"
            )
        if skipped:
            log.warning("Skipped %d files of %s that are not .csv or .parquet: %s", len(skipped), source_uri,
                        check.listed(skipped, 10))  # fmt: skip
        return Source(source_uri, files, skipped, setting, encoding)
    if not source_uri.startswith("s3://") and not local_path(source_uri).exists():
        raise DataValidationError(f"{source_uri} does not exist; check {setting}")
    if not source_uri.lower().endswith(SUFFIXES):
        raise DataValidationError(f"{source_uri}: unsupported format; use a .csv or .parquet file, or a folder")
    return Source(source_uri, [source_uri], [], setting, encoding)


def _csv_batches(
    path: Path, uri: str, batch_rows: int, columns: list[str] | None, encoding: str
) -> Iterator[pd.DataFrame]:
    try:
        chunks = pd.read_csv(path, chunksize=batch_rows, encoding=encoding)
        first = True
        for frame in chunks:
            if first:
                check.check_separator(frame, uri)
                _check_present(columns, list(frame.columns), uri)
                first = False
            yield frame[columns] if columns else frame
    except pd.errors.EmptyDataError:
        raise DataValidationError(f"{uri} is empty; it needs a header and rows") from None
    except UnicodeDecodeError as error:
        raise DataValidationError(
            f"{uri} is not {encoding} text (byte {error.start + 1}); set csv_encoding to the file's encoding "
            "(e.g. latin-1 or cp1252)"
        ) from None
    except pd.errors.ParserError as error:
        raise DataValidationError(f"{uri} could not be parsed as CSV: {error}") from None


def _check_present(columns: list[str] | None, present: list[str], uri: str) -> None:
    if missing := [column for column in columns or () if column not in present]:
        raise DataValidationError(f"{uri}: missing columns: {check.listed(missing, 13)}")


def parquet_batches(path: Path, uri: str, batch_rows: int, columns: list[str] | None) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # Without pre-buffering Arrow reads a batch's pages as it decodes them, instead of whole row groups at once:
        # about half the peak memory of get_data on large files (docs/benchmarks.md, "Scale").
        parquet = pq.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowException, OSError) as error:
        raise DataValidationError(f"{uri} could not be parsed as PARQUET: {error}") from None
    _check_present(columns, parquet.schema_arrow.names, uri)
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        yield batch.to_pandas()
