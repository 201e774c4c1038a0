"""A batch_predictions run's output under its own prefix, written so that it is never seen half done.

    <artifact_root>/batch_predictions/<run_id>/
        predictions/part-00000.parquet ...   scored rows
        rejected/part-00000.parquet ...      rows that could not be scored, as text, with `reason`
        _counts/part-00000.json              the engine's row counts and seconds
        _drift/part-00000.json               the engine's counts in the drift reference's bins
        drift/drift.json, report.html        drift against the version's training data (publish_predictions)
        _SUCCESS                             the run's summary (JSON), written last

Each engine first clears the prefix, so a rerun replaces its own output and nothing else; readers take an output as
complete only when `_SUCCESS` is there.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ml_pipeline.contract import COMPLETE_MARKER, COUNTS_DIR, DRIFT_COUNTS_DIR, ScoringCounts, ScoringSummary
from ml_pipeline.data.profile import Profile
from ml_pipeline.errors import DataValidationError
from ml_pipeline.store.objects import Storage, explained_local_errors, join, local_path

PART_ROWS = 1_000_000  # per Parquet file: big enough for readers, small enough to upload as it fills


class PartWriter:
    """Appends frames to Parquet files of at most `part_rows` rows under a folder; each is stored once full.

    Every part has the first frame's schema, so a source whose column changes type fails with one line instead of
    leaving parts that cannot be read together.
    """

    def __init__(self, storage: Storage, folder_uri: str, part_rows: int = PART_ROWS) -> None:
        self.storage, self.folder_uri, self.part_rows = storage, folder_uri, part_rows
        self.rows = 0
        self._parts = 0
        self._part_rows = 0
        self._writer: Any = None
        self._path = Path()
        self._schema: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        start = 0
        while start < len(frame):
            chunk = frame.iloc[start : start + self.part_rows - self._part_rows]
            table = self._table(chunk)
            if self._writer is None:
                self._open()
            self._writer.write_table(table)
            self._part_rows += len(chunk)
            self.rows += len(chunk)
            start += len(chunk)
            if self._part_rows >= self.part_rows:
                self._store()

    def close(self) -> int:
        """Store the last part; returns the rows written."""
        if self._writer is not None:
            self._store()
        return self.rows

    def _table(self, frame: pd.DataFrame) -> Any:
        import pyarrow as pa

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._schema is None:
            self._schema = table.schema
            return table
        try:
            return table.cast(self._schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as error:
            raise DataValidationError(
                f"a column's type changes within the source ({error}); give each column one type"
            ) from None

    def _uri(self) -> str:
        return join(self.folder_uri, f"part-{self._parts:05d}.parquet")

    def _open(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._uri().startswith("s3://"):  # written locally, then uploaded in one streamed request
            handle, name = tempfile.mkstemp(suffix=".parquet")
            os.close(handle)
            self._path = Path(name)
        else:  # hidden until complete (readers of a folder skip names starting with "."), then renamed into place
            final = local_path(self._uri())
            self._path = final.with_name(f".{final.name}.inprogress")
            self._path.parent.mkdir(parents=True, exist_ok=True)
        # Dictionary encoding only for text: on float columns it is tried and dropped, at twice the writing time.
        text = [f.name for f in self._schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        self._writer = pq.ParquetWriter(self._path, self._schema, use_dictionary=text)
        self._part_rows = 0

    def _store(self) -> None:
        self._writer.close()
        self._writer = None
        if self._uri().startswith("s3://"):
            try:
                self.storage.write_file(self._uri(), self._path)
            finally:
                self._path.unlink(missing_ok=True)
        else:
            with explained_local_errors(self._uri()):
                os.replace(self._path, local_path(self._uri()))
        self._parts += 1


def clear(storage: Storage, output_uri: str) -> None:
    """Remove an earlier attempt's output (the marker with it), before anything new is written."""
    storage.delete_folder(output_uri)


def write_counts(storage: Storage, output_uri: str, counts: ScoringCounts) -> None:
    storage.write_bytes(join(output_uri, COUNTS_DIR, "part-00000.json"), (json.dumps(counts) + "\n").encode())


def read_counts(storage: Storage, output_uri: str) -> ScoringCounts:
    """The engine's counts (JSON lines, one file or Spark's several, summed); fails when the engine left none."""
    folder = join(output_uri, COUNTS_DIR)
    files = storage.list_files(folder, (".json",)) if storage.is_folder(folder + "/") else []
    lines = [json.loads(line) for uri in files for line in storage.read_bytes(uri).decode().splitlines() if line]
    if not lines:
        raise DataValidationError(f"{folder} holds no counts: the scoring step did not finish; rerun it")

    def total(key: str) -> int:
        return sum(int(line[key]) for line in lines)

    return ScoringCounts(
        rows_in=total("rows_in"),
        rows_scored=total("rows_scored"),
        rows_rejected=total("rows_rejected"),
        rows_with_unseen_categories=total("rows_with_unseen_categories"),
        seconds=max(float(line["seconds"]) for line in lines),
    )


def write_drift_counts(storage: Storage, output_uri: str, reference: Profile, counts: Profile, part: int = 0) -> None:
    """The engine's counts in the reference's bins, and the reference itself (once), for publish_predictions."""
    folder = join(output_uri, DRIFT_COUNTS_DIR)
    if part == 0:
        storage.write_bytes(join(folder, "reference.json"), reference.model_dump_json().encode())
    storage.write_bytes(join(folder, f"part-{part:05d}.json"), counts.model_dump_json().encode())


def read_drift_counts(storage: Storage, output_uri: str) -> tuple[Profile, Profile] | None:
    """The reference and the engine's counts (one part, or one per Spark partition, added up); None when the
    engine wrote none (a version registered before models carried a reference)."""
    folder = join(output_uri, DRIFT_COUNTS_DIR)
    files = storage.list_files(folder, (".json",)) if storage.is_folder(folder + "/") else []
    parts = [Profile.model_validate_json(storage.read_bytes(uri)) for uri in files if "/part-" in uri]
    if not parts:
        return None
    for more in parts[1:]:
        parts[0].add(more)
    return Profile.model_validate_json(storage.read_bytes(join(folder, "reference.json"))), parts[0]


def mark_complete(storage: Storage, output_uri: str, summary: ScoringSummary) -> str:
    return storage.write_bytes(join(output_uri, COMPLETE_MARKER), json.dumps(summary, indent=2).encode())
