"""Where the synthetic data generators (synthetic_wine.py, synthetic_table.py) write their rows: one CSV or Parquet
file, or a folder of Parquet parts, batch by batch so memory stays flat."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# (first row, rows, part number) -> the part's frames
PartBatches = Callable[[int, int, int], Iterator[pd.DataFrame]]


def write_parquet(frames: Iterator[pd.DataFrame], path: Path) -> None:
    """One Parquet file, one row group per batch, every batch in the first one's schema."""
    writer = None
    try:
        for frame in frames:
            table = pa.Table.from_pandas(frame, schema=writer and writer.schema, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def write(rows: int, out: Path, parts: int, part_batches: PartBatches) -> Path:
    """OUT ending in `.csv` or `.parquet` is one file (of part 0, all rows); anything else a folder of `parts`
    Parquet files of consecutive row ranges, spread evenly. Returns `out`."""
    if out.suffix == ".csv":
        out.parent.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(part_batches(0, rows, 0)):
            frame.to_csv(out, mode="w" if index == 0 else "a", header=index == 0, index=False)
        return out
    if out.suffix == ".parquet":
        out.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(part_batches(0, rows, 0), out)
        return out
    out.mkdir(parents=True, exist_ok=True)
    for part in range(parts):
        first = part * (rows // parts) + min(part, rows % parts)
        count = rows // parts + (part < rows % parts)
        write_parquet(part_batches(first, count, part), out / f"part-{part:05d}.parquet")
    return out
