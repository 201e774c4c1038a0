"""Where each setting's value comes from, read when a task runs (never when the DAG file is parsed).

Precedence, lowest first: defaults, environment variables, the Airflow Variable `ml_pipeline` (a JSON object; on
MWAA it can live in Secrets Manager as `airflow/variables/ml_pipeline`), then the DAG run's conf. The last two use
the field names as keys (a null or "" in the run conf, as the trigger form sends for an empty field, counts as not
set); environment variables use `ENV_NAMES`. Every value is checked with its type and range, and a bad one is
reported with its key and where it came from.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ml_pipeline.config.model import OPERATOR_SETTINGS, PipelineConfig
from ml_pipeline.config.scoring import ScoringEngine
from ml_pipeline.config.training import GateMetric
from ml_pipeline.errors import ConfigError

VARIABLE_NAME = "ml_pipeline"

ENV_NAMES = {name: f"ML_PIPELINE_{name.upper()}" for name in PipelineConfig.model_fields} | {
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
}
# Fields whose environment value is JSON (numbers, objects); the others are taken as text.
TEXT_TYPES = (str, str | None, GateMetric, ScoringEngine)
JSON_KINDS: dict[Any, str] = {float: "number", int: "whole number"}  # the others are JSON objects or lists
JSON_FIELDS = {
    name: JSON_KINDS.get(f.annotation, "JSON value")
    for name, f in PipelineConfig.model_fields.items()
    if f.annotation not in TEXT_TYPES
}


def _from_environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Values set in the environment, as JSON values (numbers, objects) except for text fields."""
    values, origins = {}, {}
    for name, env in ENV_NAMES.items():
        raw = environ.get(env)
        if not raw:
            continue
        origin = f"environment variable {env}"
        try:
            values[name] = json.loads(raw) if name in JSON_FIELDS else raw
        except json.JSONDecodeError:
            raise ConfigError(f"{name} = {raw!r} (from {origin}) is not a valid {JSON_FIELDS[name]}") from None
        origins[name] = origin
    return values, origins


def _check_keys(override: Mapping[str, Any], origin: str) -> None:
    unknown = sorted(set(override) - set(ENV_NAMES))
    if unknown:
        hints = [f"{key!r} (did you mean {match[0]!r}?)" if (match := difflib.get_close_matches(key, ENV_NAMES, 1))
                 else repr(key) for key in unknown]  # fmt: skip
        raise ConfigError(f"unknown configuration key {', '.join(hints)} in the {origin}")


def _check_operator_settings(conf: Mapping[str, Any], allowed: Any) -> None:
    """Refuse operator settings in a run conf, unless the layers below it list them in `run_conf_may_set`."""
    allowed = set(allowed) - {"run_conf_may_set"} if isinstance(allowed, list) else set()  # else: validation says
    if refused := sorted(set(conf) & OPERATOR_SETTINGS - allowed):
        raise ConfigError(
            f"{', '.join(refused)} cannot be set in the run conf: operator settings decide where tasks write and what "
            f"they reach; set them in the Airflow Variable {VARIABLE_NAME} or the environment, where run_conf_may_set "
            "can also let runs set them"
        )


def _describe(error: ErrorDetails, origins: Mapping[str, str]) -> str:
    message = re.sub(r"^\w+ should", "should", error["msg"].removeprefix("Value error, "))  # "Input should ..."
    if not error["loc"]:  # about several keys together
        return message
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    return f"{path} = {error['input']!r} (from {origins.get(str(error['loc'][0]), 'the defaults')}) {message}"


def parse_variable(raw: str | None) -> dict[str, Any] | None:
    """The Airflow Variable's text as a JSON object (None when it is not set)."""
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f"the Airflow Variable {VARIABLE_NAME} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"the Airflow Variable {VARIABLE_NAME} must be a JSON object, got {raw[:80]!r}")
    return value


def load_config(
    environ: Mapping[str, str] | None = None,
    *,
    variable: Mapping[str, Any] | None = None,
    conf: Mapping[str, Any] | None = None,
) -> PipelineConfig:
    """Defaults, then the environment, the Airflow Variable and the run conf (later wins), validated together."""
    values, origins = _from_environment(os.environ if environ is None else environ)
    # The trigger form sends every setting; the ones left empty (null, "") leave the value to the layers below.
    conf = {key: value for key, value in (conf or {}).items() if value is not None and value != ""}
    for override, origin in ((variable, f"Airflow Variable {VARIABLE_NAME}"), (conf, "run conf")):
        if not override:
            continue
        _check_keys(override, origin)
        if override is conf:
            _check_operator_settings(conf, values.get("run_conf_may_set", []))
        values.update(override)
        origins.update(dict.fromkeys(override, origin))
    try:
        config = PipelineConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError("; ".join(_describe(item, origins) for item in error.errors())) from None
    config._origins.update(origins)
    return config
