"""Write Wine-schema synthetic data of any size, for benchmarks and tests.

    .venv/bin/python scripts/synthetic_wine.py ROWS OUT [--seed 7] [--noise 1.0] [--parts N]

Each row is a real Wine row of a randomly drawn class (in Wine's class proportions) plus Gaussian noise scaled by
that class's own spread, so the classes overlap a little more than in Wine but models still learn them, and rows do
not repeat. OUT ending in `.parquet` or `.csv` is one file; anything else is a folder of `part-NNNNN.parquet` files.
Memory stays flat: rows are made and written in batches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import synthetic_files

TARGET = "target"  # the bundled Wine data's label column, and the pipeline's default target_column
BATCH_ROWS = 100_000


def batches(rows: int, seed: int = 7, noise: float = 1.0) -> Iterator[pd.DataFrame]:
    """`rows` synthetic rows, in frames of at most BATCH_ROWS."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame
    names = [column for column in wine.columns if column != TARGET]
    features = wine[names].to_numpy()
    labels = wine[TARGET].to_numpy()
    spread = np.stack([features[labels == label].std(axis=0) for label in np.unique(labels)])
    rng = np.random.default_rng(seed)
    for start in range(0, rows, BATCH_ROWS):
        size = min(BATCH_ROWS, rows - start)
        picked = rng.integers(0, len(features), size)
        noisy = features[picked] + rng.normal(size=(size, len(names))) * spread[labels[picked]] * noise
        frame = pd.DataFrame(np.abs(noisy), columns=names)  # measurements are never negative
        frame[TARGET] = labels[picked]
        yield frame


def write(rows: int, out: Path, *, seed: int = 7, noise: float = 1.0, parts: int = 1) -> Path:
    """Write the rows to one CSV or Parquet file, or to `parts` Parquet files in a folder; return `out`. Each part
    has its own seed, so parts differ."""
    return synthetic_files.write(rows, out, parts, lambda _, count, part: batches(count, seed + part, noise))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, help="how many rows to write")
    parser.add_argument("out", type=Path, help="a .parquet or .csv file, or a folder for Parquet parts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--noise", type=float, default=1.0, help="noise, in units of each class's spread")
    parser.add_argument("--parts", type=int, default=1, help="Parquet files when OUT is a folder")
    args = parser.parse_args(argv)
    write(args.rows, args.out, seed=args.seed, noise=args.noise, parts=args.parts)
    print(f"wrote {args.rows} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
