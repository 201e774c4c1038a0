"""Write mixed-type synthetic classification data of any size, for benchmarks and tests.

    .venv/bin/python scripts/synthetic_table.py ROWS OUT [--seed 7] [--parts N] [--columns 50] [--categorical 10]
        [--classes 3] [--imbalance 10] [--missing 0.05] [--with-id] [--with-constant]

Wine is small, all numeric and never missing; real tables are not. These have float, integer, boolean and text
columns (text ones with 3 to 200 levels of Zipf-like frequencies, so some levels are rare), values missing in about a
third of the columns (`--missing` of each one's values; the label is drawn from the complete row) and an imbalanced
text label drawn from a hidden multinomial logit over some numeric and some categorical columns: models learn it,
never perfectly. It does not use the Wine contract, on purpose. From Python: `batches(...)` yields frames, `write(...)`
writes them, and `columns_of(...)` says which columns are of which kind.
Rows are drawn in blocks seeded by (seed, block), so they are the same whatever the batch size or the number of parts
(the parts, concatenated, are the one-file output). OUT ending in `.parquet` or `.csv` is one file; anything else is
a folder of `part-NNNNN.parquet` files. Memory stays flat: rows are made and written in batches.
"""

from __future__ import annotations

import argparse
import itertools
import string
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import synthetic_files

TARGET = "label"
ROW_ID = "row_id"  # --with-id: a unique integer per row (its position)
CONSTANT, CONSTANT_VALUE = "source_system", "crm"  # --with-constant: one value in every row
BATCH_ROWS = 100_000
BLOCK_ROWS = 10_000  # the unit of randomness: a batch or a part is made of whole or cut blocks
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default `str`: Arrow strings, missing is null on disk
SHAPES = (  # numeric columns are monotone in hidden normals: shifted normal, log-normal, bounded; counts if integer
    lambda z, j: z * (1 + j % 4) + 10 * (j % 5),
    lambda z, j: np.exp(0.75 * z + j % 3),
    lambda z, j: np.tanh(z),
)
SIGNAL = 4.0  # spread of the hidden logits; larger makes the label easier to learn


@dataclass(frozen=True)
class Columns:
    """The table's columns by kind; `numeric` includes `integer` and `categorical` includes `boolean`."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    integer: str | None
    boolean: str | None
    levels: tuple[int, ...]  # categories of each categorical column
    with_missing: tuple[str, ...]  # the only columns that may hold missing values
    row_id: str | None = None
    constant: str | None = None

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)

    @property
    def names(self) -> tuple[str, ...]:
        """Every column of the table, in order."""
        return (*filter(None, [self.row_id]), *self.features, *filter(None, [self.constant]), TARGET)


def columns_of(
    columns: int = 50, categorical: int = 10, *, with_id: bool = False, with_constant: bool = False
) -> Columns:
    """Which columns a table of `columns` features, `categorical` of them categorical, has."""
    if not 0 <= categorical < columns:
        raise ValueError(f"need 0 <= categorical < columns (one numeric column at least), got {categorical}/{columns}")
    numeric = tuple(f"num_{j:03d}" for j in range(columns - categorical))
    cats = tuple(f"cat_{c:03d}" for c in range(categorical))
    integer, boolean = numeric[0] if len(numeric) > 1 else None, cats[0] if len(cats) > 1 else None
    texts = len(cats) - (boolean is not None)  # text levels spread geometrically from 3 to 200
    levels = [*([2] if boolean else []), *(round(3 * (200 / 3) ** (t / max(texts - 1, 1))) for t in range(texts))]
    missing = tuple(name for kind in (numeric, cats) for index, name in enumerate(kind) if index % 3 == 2)
    ids = (ROW_ID if with_id else None), (CONSTANT if with_constant else None)
    return Columns(numeric, cats, integer, boolean, tuple(levels), missing, *ids)


def class_names(classes: int) -> tuple[str, ...]:
    """Text labels, the most frequent first."""
    if not 2 <= classes <= 26:
        raise ValueError(f"classes must be 2 to 26, got {classes}")
    return ("stay", "churn") if classes == 2 else tuple(f"class_{x}" for x in string.ascii_lowercase[:classes])


def _draw(rng: np.random.Generator, rows: int, cols: Columns, classes: int, cut: slice = slice(None)) -> dict:
    """All the randomness of `rows` rows, drawn in one fixed order, one row per column of each array."""
    cdfs = [np.cumsum(1 / np.arange(1, n + 1) ** 1.3) for n in cols.levels]  # Zipf-like
    uniform, z = rng.random((len(cdfs), rows)), rng.standard_normal((len(cols.numeric), rows))
    missing, gumbel = rng.random((len(cols.with_missing), rows)), rng.gumbel(size=(classes, rows))
    codes = np.array([np.searchsorted(cdf / cdf[-1], u, "right") for cdf, u in zip(cdfs, uniform, strict=True)])
    drawn = {"z": z, "codes": codes.reshape(len(cdfs), rows), "missing": missing, "gumbel": gumbel}
    return {key: values[:, cut] for key, values in drawn.items()}


def _logits(draw: dict[str, np.ndarray], weights: np.ndarray, effects: list[np.ndarray]) -> np.ndarray:
    """Classes by rows: a linear score over the first numeric columns plus effects of the odd categorical ones."""
    categories = sum((effect[:, draw["codes"][2 * c + 1]] for c, effect in enumerate(effects)), 0.0)
    return weights @ draw["z"][: weights.shape[1]] + categories


def _hidden_model(seed: int, cols: Columns, classes: int, imbalance: float) -> tuple[np.ndarray, list, np.ndarray]:
    """Weights on the first quarter of numeric columns, effects of odd categorical ones, class biases fitted so that
    the classes' shares fall geometrically from the first to the last by `imbalance`."""
    rng = np.random.default_rng([seed, 1])
    informative = max(1, len(cols.numeric) // 4), len(cols.levels) // 2
    scale = SIGNAL / np.sqrt(sum(informative))
    weights = rng.normal(0, scale, (classes, informative[0]))
    effects = [rng.normal(0, scale, (classes, cols.levels[2 * c + 1])) for c in range(informative[1])]
    share = float(imbalance) ** -np.linspace(0, 1, classes)[:, None]
    share /= share.sum()
    logits = _logits(_draw(np.random.default_rng([seed, 2]), 20_000, cols, classes), weights, effects)
    bias = np.zeros((classes, 1))
    for _ in range(200):  # intercepts of a multinomial logit, fitted to the wanted shares on a fixed sample
        odds = np.exp(logits + bias - (logits + bias).max(0))
        step = np.log(share / (odds / odds.sum(0)).mean(1, keepdims=True))
        bias += step
        if np.abs(step).max() < 1e-4:
            break
    return weights, effects, bias


def _batch(seed: int, start: int, stop: int, cols: Columns, model: tuple, classes: int, missing: float) -> pd.DataFrame:
    """Rows `start` to `stop`, cut from the blocks that hold them."""
    drawn = []
    for block in range(start // BLOCK_ROWS, (stop - 1) // BLOCK_ROWS + 1):
        cut = slice(max(start - block * BLOCK_ROWS, 0), min(stop - block * BLOCK_ROWS, BLOCK_ROWS))
        drawn.append(_draw(np.random.default_rng([seed, 0, block]), BLOCK_ROWS, cols, classes, cut))
    draw = {key: np.concatenate([part[key] for part in drawn], axis=1) for key in drawn[0]}
    z, codes, rows = draw["z"], draw["codes"], stop - start
    gone = dict(zip(cols.with_missing, draw["missing"] < missing, strict=True))
    out: dict[str, object] = {cols.row_id: np.arange(start, stop)} if cols.row_id else {}
    for j, name in enumerate(cols.numeric):
        values = np.floor(np.exp(0.6 * z[j] + 1.5)).astype(np.int64) if name == cols.integer else SHAPES[j % 3](z[j], j)
        out[name] = np.where(gone[name], np.nan, values) if name in gone else values
    for c, name in enumerate(cols.categorical):
        if name == cols.boolean:
            out[name] = codes[c] == 0
        else:
            levels = pa.array([f"v{i:03d}" for i in range(cols.levels[c])])
            out[name] = pd.array(levels.take(pa.array(codes[c], mask=gone.get(name))), dtype=TEXT)
    if cols.constant:
        out[cols.constant] = pd.array(np.full(rows, CONSTANT_VALUE, dtype=object), dtype=TEXT)
    weights, effects, bias = model
    picked = np.argmax(_logits(draw, weights, effects) + bias + draw["gumbel"], 0)
    out[TARGET] = pd.array(np.asarray(class_names(classes), dtype=object)[picked], dtype=TEXT)
    return pd.DataFrame(out, index=pd.RangeIndex(start, stop))


def batches(
    rows: int,
    seed: int = 7,
    *,
    columns: int = 50,
    categorical: int = 10,
    classes: int = 3,
    imbalance: float = 10.0,
    missing: float = 0.05,
    with_id: bool = False,
    with_constant: bool = False,
    start: int = 0,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pd.DataFrame]:
    """Rows `start` to `start + rows` of the table for `seed`, in frames of at most `batch_rows`, indexed by row.
    `missing` is the share of values missing in each of `columns_of(...).with_missing`."""
    if rows < 0 or seed < 0 or start < 0 or batch_rows < 1 or not 0 <= missing < 1 or imbalance < 1:
        raise ValueError("need rows, seed and start >= 0, batch_rows >= 1, 0 <= missing < 1 and imbalance >= 1")
    cols = columns_of(columns, categorical, with_id=with_id, with_constant=with_constant)
    class_names(classes)  # raises unless 2 to 26
    model = _hidden_model(seed, cols, classes, imbalance)
    cuts = [start, *range((start // batch_rows + 1) * batch_rows, start + rows, batch_rows), start + rows]  # global
    return (_batch(seed, a, b, cols, model, classes, missing) for a, b in itertools.pairwise(cuts) if b > a)


def write(rows: int, out: Path, *, seed: int = 7, parts: int = 1, **options: Any) -> Path:
    """Write the rows to one CSV or Parquet file, or to `parts` Parquet files in a folder; return `out`.
    `options` are those of `batches`. The parts, concatenated, are the one-file rows."""
    if not 1 <= parts <= rows or (parts > 1 and out.suffix in (".csv", ".parquet")):
        raise ValueError(f"need 1 <= parts <= rows, and parts 1 when OUT is a file: got {rows} rows, {parts} parts")
    batches(rows, seed, **options)  # checks the options before anything is written
    return synthetic_files.write(rows, out, parts, lambda first, count, _: batches(count, seed, start=first, **options))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, help="how many rows to write")
    parser.add_argument("out", type=Path, help="a .parquet or .csv file, or a folder for Parquet parts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--parts", type=int, default=1, help="Parquet files when OUT is a folder")
    parser.add_argument("--columns", type=int, default=50, help="feature columns")
    parser.add_argument("--categorical", type=int, default=10, help="of which categorical")
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--imbalance", type=float, default=10.0, help="most over least frequent class")
    parser.add_argument("--missing", type=float, default=0.05, help="share missing in the columns that can be")
    parser.add_argument("--with-id", action="store_true", help=f"a first column {ROW_ID!r}, unique per row")
    parser.add_argument("--with-constant", action="store_true", help=f"a column {CONSTANT!r} of one value")
    args = vars(parser.parse_args(argv))
    try:
        print(write(args.pop("rows"), args.pop("out"), **args))
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
