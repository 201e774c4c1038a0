"""MLflow's scoring protocol, as `mlflow models serve` speaks it: the request body to a table of rows, checked against
the model's schema, and the answer `{"predictions": [...]}`. MLflow's own parsers read the body and write the answer;
what is added is one line per refusal (never MLflow's echo of the input or a traceback) and, on request, the
probability of each label.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import scoring_server as mlflow_scoring

from ml_pipeline.data.validation import listed
from ml_pipeline.errors import DataValidationError
from ml_pipeline.scoring.rows import check_features, reject_reasons
from serving.loading import ServedModel

JSON_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PROBABILITIES = "probabilities"  # "params": {"probabilities": true}, or ?probabilities=true for CSV


class RequestError(Exception):
    """A request the server refuses: the HTTP status and one line for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_request(body: bytes, content_type: str, query: Mapping[str, str]) -> tuple[pd.DataFrame, bool]:
    """The rows the body holds and whether the client asked for probabilities."""
    mime, _, parameters = (content_type or "").partition(";")
    mime = mime.strip().lower()
    if "charset" in parameters and "utf-8" not in parameters.lower():
        raise RequestError(415, "the body must be UTF-8")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(400, f"the body is not UTF-8 text ({error.reason} at byte {error.start})") from None
    if mime == mlflow_scoring.CONTENT_TYPE_CSV:
        return _csv_rows(text), _flag(query.get(PROBABILITIES))
    if mime == mlflow_scoring.CONTENT_TYPE_JSON:
        return _json_rows(text)
    raise RequestError(415, f"Content-Type {mime or '(none)'} is not served; send application/json or text/csv")


def _csv_rows(text: str) -> pd.DataFrame:
    try:
        return mlflow_scoring.parse_csv_input(io.StringIO(text))
    except Exception as error:
        raise RequestError(400, f"the body is not a CSV table with a header: {_cause(error)}") from None


def _json_rows(text: str) -> tuple[pd.DataFrame, bool]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(400, f"the body is not valid JSON: {error}") from None
    keys = [key for key in JSON_FORMATS if isinstance(document, dict) and key in document]
    if len(keys) != 1:
        raise RequestError(400, f"the JSON body must be an object with exactly one of {', '.join(JSON_FORMATS)}")
    params = document.get("params") or {}
    if not isinstance(params, dict):
        raise RequestError(400, "params must be a JSON object")
    try:
        parsed = mlflow_scoring.infer_and_parse_data({keys[0]: document[keys[0]]})
    except Exception as error:
        raise RequestError(400, f"{keys[0]} is not a table: {_cause(error)}") from None
    return _as_frame(parsed, keys[0]), _flag(params.get(PROBABILITIES))


def _as_frame(parsed: Any, key: str) -> pd.DataFrame:
    if isinstance(parsed, pd.DataFrame):
        return parsed
    if isinstance(parsed, dict):  # instances/inputs as records or columns: MLflow hands back columns
        try:
            return pd.DataFrame({name: np.asarray(values).ravel() for name, values in parsed.items()})
        except ValueError as error:
            raise RequestError(400, f"{key}: the columns have different lengths ({error})") from None
    raise RequestError(400, f"{key} must name its columns: rows as objects, or a dataframe_split with columns")


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


def _cause(error: Exception) -> str:
    """The useful part of a parser's error, on one line and without the input MLflow's messages repeat."""
    message = getattr(error, "message", None) or str(error)
    message = message.split("Error: ", 1)[-1].split("\nInput:", 1)[0]
    return " ".join(message.split()).strip("'\"")[:300]


def check_rows(rows: pd.DataFrame, model: ServedModel) -> None:
    """The model's columns are there and every row can be scored, or one line naming the column and the problem."""
    schema = model.schema
    try:
        check_features(list(rows.columns), {c: str(t) for c, t in rows.dtypes.items()}, schema, "the request")
    except DataValidationError as error:
        raise RequestError(400, str(error)) from None
    reasons = reject_reasons(rows, schema).dropna()
    if reasons.empty:
        return
    first, others = int(rows.index.get_loc(reasons.index[0])), reasons.iloc[1:]
    more = (
        f" (and {len(others)} more row{'s' * (len(others) > 1)}: {listed(sorted(set(others)), 3)})"
        if len(others)
        else ""
    )
    raise RequestError(400, f"row {first}: {reasons.iloc[0]}{more}; fix the rows and send them again")


def answer(model: ServedModel, rows: pd.DataFrame, probabilities: bool) -> str:
    """MLflow's answer format, `{"predictions": [...]}`, with each row's probability per label when asked for."""
    labels, scores = model.predict(rows)
    extra = None
    if probabilities:
        names = [_label_text(label) for label in model.estimator.classes_]
        extra = {PROBABILITIES: [dict(zip(names, row, strict=True)) for row in scores.tolist()]}
    out = io.StringIO()
    mlflow_scoring.predictions_to_json(labels, out, extra)
    return out.getvalue()


def _label_text(label: Any) -> str:
    value = label.item() if isinstance(label, np.generic) else label
    return str(value).lower() if isinstance(value, bool) else str(value)
