"""The rows `scripts/lookup_model.py --input` predicts: a .csv with a header or a .json object or list of objects.

The file's form is checked before the registry is contacted; its values are then checked against the model's own
schema by the batch scoring's rules (ml_pipeline/scoring/rows.py), so a row the lookup refuses is one batch scoring
would reject, for the same reason. Each problem is one InputError naming the file and, where it can, the row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ml_pipeline.data.schema import DatasetSchema
from ml_pipeline.scoring.rows import check_columns, reject_reasons

Record = dict[str, Any]
SHOWN_ROWS = 5  # bad rows named in one message


class InputError(ValueError):
    """Rows to predict that cannot be scored; the message names the file, and the row where it can."""


def read_rows(path: Path) -> pd.DataFrame:
    """Rows from CSV (header row; every value as text, as batch scoring reads a CSV's text columns) or JSON (a list
    of objects, or one object). Raises InputError for an unreadable or empty file, malformed CSV or JSON, no rows, or
    a value that is a nested list or object."""
    parse = RECORD_PARSERS.get(path.suffix.lower())
    if parse is None:
        raise InputError(f"{path}: expected a .csv or .json file; give the rows in one of those formats")
    records = parse(path, read_text(path))
    for number, record in enumerate(records, 1):
        for column, value in record.items():
            if isinstance(value, list | dict):
                raise InputError(f"{path}: {column!r} in row {number} is {kind(value)}; give plain values")
    return pd.DataFrame.from_records(records).set_axis(range(1, len(records) + 1))


def check_rows(path: Path, rows: pd.DataFrame, schema: DatasetSchema) -> None:
    """The rows against the model's schema: every input column present, every row one batch scoring would score."""
    dtypes = {column: str(dtype) for column, dtype in rows.dtypes.items()}
    try:
        check_columns(list(rows.columns), dtypes, schema, f"{path}:")
    except ValueError as error:
        raise InputError(f"{error} (scripts/sample_input.csv is an example for Wine)") from None
    reasons = reject_reasons(rows, schema).dropna()
    if len(reasons):
        shown = "; ".join(f"row {row}: {reason}" for row, reason in reasons.head(SHOWN_ROWS).items())
        more = f" and {len(reasons) - SHOWN_ROWS} more" if len(reasons) > SHOWN_ROWS else ""
        raise InputError(
            f"{path}: {len(reasons)} of {len(rows)} rows cannot be scored ({shown}{more}); fix or remove those rows"
        )


def read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text (byte {error.start + 1}); save it as UTF-8") from error
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error}); check the path") from error
    if not text.strip():
        raise InputError(f"{path}: the file is empty; give the features as a CSV header and rows, or as JSON objects")
    return text


def csv_records(path: Path, text: str) -> list[Record]:
    """One record per non-blank row after the header; every row must have as many values as the header."""
    reader = csv.reader(io.StringIO(text))
    try:
        header, *rows = (row for row in reader if row)
    except csv.Error as error:
        raise InputError(f"{path}: not valid CSV at line {reader.line_num}: {error}; fix that line") from error
    if not rows:
        raise InputError(f"{path}: has a header but no rows; add at least one row of feature values under the header")
    for number, row in enumerate(rows, 1):
        if len(row) != len(header):
            raise InputError(
                f"{path}: row {number} has {len(row)} values but the header has {len(header)} columns; "
                "give every row one value per column"
            )
    # An empty field is a missing value, as when batch scoring reads the file.
    return [{name: value if value.strip() else None for name, value in zip(header, row, strict=True)} for row in rows]


def json_records(path: Path, text: str) -> list[Record]:
    """A JSON object is one row, a list of objects is many."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}: not valid JSON at line {error.lineno} column {error.colno}: {error.msg}; fix the syntax there"
        ) from error
    except RecursionError as error:
        raise InputError(f"{path}: JSON nested too deeply; give an object or a list of flat objects") from error
    if isinstance(payload, dict):
        return [payload]
    if not isinstance(payload, list):
        raise InputError(f"{path}: the JSON is {kind(payload)}; give an object of feature values or a list of them")
    if not payload:
        raise InputError(f"{path}: the JSON list is empty; add at least one object of feature values")
    for number, record in enumerate(payload, 1):
        if not isinstance(record, dict):
            raise InputError(f"{path}: row {number} is {kind(record)}; give each row as an object of feature values")
    return payload


RECORD_PARSERS: dict[str, Callable[[Path, str], list[Record]]] = {".csv": csv_records, ".json": json_records}


def kind(value: Any) -> str:
    """A JSON value's type, as a person reads it."""
    names = {type(None): "null", bool: "a boolean", str: "a string", list: "a nested list", dict: "a nested object"}
    return names.get(type(value), "a number")
