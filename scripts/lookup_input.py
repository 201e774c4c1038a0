"""The rows `scripts/lookup_model.py --input` predicts: a .csv with a header or a .json object or list of objects.

Checked before the registry is contacted; anything that cannot be scored is one InputError naming the file and,
where it can, the column and the first row. The batch scoring's rules (ml_pipeline/scoring/rows.py) are not used
here: they reject per row, naming only the first bad feature, and take booleans for numbers, where a person asking
for a few predictions wants every bad column named, and a boolean refused.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ml_pipeline.contract import FEATURES

Record = dict[str, Any]
ABSENT = object()  # a JSON row without the key
SHOWN_CHARACTERS = 40  # of a bad value quoted in a message


class InputError(ValueError):
    """Rows to predict that cannot be scored; the message names the file, and the column and row where it can."""


def read_rows(path: Path) -> pd.DataFrame:
    """Rows to score from CSV (header row) or JSON (a list of objects, or one object), as float64 features.

    Anything that cannot be scored raises InputError: an unreadable or empty file, malformed CSV or JSON, no rows,
    missing feature columns, or a value that is not a finite number (null, NaN, inf, text, nested).
    """
    parse = RECORD_PARSERS.get(path.suffix.lower())
    if parse is None:
        raise InputError(f"{path}: expected a .csv or .json file; give the rows in one of those formats")
    records = parse(path, read_text(path))
    check_columns(path, records)
    check_values(path, records)
    return pd.DataFrame([[float(record[name]) for name in FEATURES] for record in records], columns=list(FEATURES))


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
    return [dict(zip(header, row, strict=True)) for row in rows]


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


def check_columns(path: Path, records: list[Record]) -> None:
    present = {key for record in records for key in record}
    missing = [column for column in FEATURES if column not in present]
    if missing:
        raise InputError(
            f"{path}: missing feature columns: {', '.join(missing)}; "
            f"give all {len(FEATURES)} (scripts/sample_input.csv has them)"
        )


def check_values(path: Path, records: list[Record]) -> None:
    problems = [problem for column in FEATURES if (problem := first_problem(records, column))]
    if problems:
        raise InputError(
            f"{path}: features must be finite numbers, but {', '.join(problems)}; fix or remove those rows"
        )


def first_problem(records: list[Record], column: str) -> str | None:
    """Where and why `column` first holds something other than a finite number (rows count from 1)."""
    for number, record in enumerate(records, 1):
        problem = value_problem(record.get(column, ABSENT))
        if problem:
            return f"'{column}' in row {number} is {problem}"
    return None


def value_problem(value: Any) -> str | None:
    """Why one value cannot be scored, or None for a finite number (text that reads as one included)."""
    if value is ABSENT:
        return "missing"
    if value is None or isinstance(value, bool | list | dict):
        return kind(value)
    if isinstance(value, str) and not value.strip():
        return "empty"
    try:
        number = float(value)
    except OverflowError:
        return "not finite (too large for float64)"
    except ValueError:
        return f"text {shown(repr(value))}"
    if math.isnan(number):
        return "NaN"
    return None if math.isfinite(number) else f"not finite ({shown(str(value).strip())})"


def kind(value: Any) -> str:
    """A JSON value's type, as a person reads it."""
    names = {type(None): "null", bool: "a boolean", str: "a string", list: "a nested list", dict: "a nested object"}
    return names.get(type(value), "a number")


def shown(text: str) -> str:
    return text if len(text) <= SHOWN_CHARACTERS else f"{text[: SHOWN_CHARACTERS - 3]}..."
