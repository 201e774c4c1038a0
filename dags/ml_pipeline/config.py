"""The pipeline's one configuration model, read when a task runs (never when the DAG file is parsed).

Precedence, lowest first: defaults, environment variables, the Airflow Variable `ml_pipeline` (a JSON object; on
MWAA it can live in Secrets Manager as `airflow/variables/ml_pipeline`), then the DAG run's conf. The last two use
the field names below as keys; environment variables use `ENV_NAMES`. Every value is checked with its type and
range, and a bad one is reported with its key and where it came from.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from ml_pipeline.classifiers import CLASSIFIERS
from ml_pipeline.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_STATE = REPO_ROOT / ".local"
VARIABLE_NAME = "ml_pipeline"
GateMetric = Literal["f1_macro", "accuracy"]


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    mlflow_tracking_uri: str = Field(f"sqlite:///{LOCAL_STATE / 'mlflow' / 'mlflow.db'}", min_length=1)
    artifact_root: str = Field(str(LOCAL_STATE / "artifacts"), min_length=1)
    aws_conn_id: str = Field("aws_default", min_length=1)
    source_uri: str = ""
    model_name: str = Field("wine-classifier", min_length=1)
    experiment_name: str = Field("classification_pipeline", min_length=1)
    classifier: str = "logistic_regression"
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    test_size: float = Field(0.25, gt=0, lt=1)
    random_seed: int = Field(42, ge=0, le=2**32 - 1)
    min_rows: int = Field(100, ge=2)
    max_holdout_overlap: float = Field(0.05, ge=0, lt=1)
    gate_metric: GateMetric = "f1_macro"
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def origin(self, name: str) -> str:
        """Where a value came from, for messages: `run conf`, `environment variable ...`, `the defaults`."""
        return self._origins.get(name, "the defaults")

    @field_validator("classifier")
    @classmethod
    def _known_classifier(cls, value: str) -> str:
        if value not in CLASSIFIERS:
            raise ValueError(f"should be one of {', '.join(CLASSIFIERS)}")
        return value


ENV_NAMES = {name: f"ML_PIPELINE_{name.upper()}" for name in PipelineConfig.model_fields} | {
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
}
# Fields whose environment value is JSON (numbers, objects); the others are taken as text.
JSON_KINDS = {float: "number", int: "whole number", dict[str, Any]: "JSON object"}
JSON_FIELDS = {
    name: JSON_KINDS[f.annotation] for name, f in PipelineConfig.model_fields.items() if f.annotation in JSON_KINDS
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


def _describe(error: dict[str, Any], origins: Mapping[str, str]) -> str:
    name = str(error["loc"][0]) if error["loc"] else "configuration"
    message = re.sub(r"^\w+ should", "should", error["msg"].removeprefix("Value error, "))  # "Input should ..."
    return f"{name} = {error['input']!r} (from {origins.get(name, 'the defaults')}) {message}"


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
    for override, origin in ((variable, f"Airflow Variable {VARIABLE_NAME}"), (conf, "run conf")):
        if not override:
            continue
        _check_keys(override, origin)
        values.update(override)
        origins.update(dict.fromkeys(override, origin))
    try:
        config = PipelineConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError("; ".join(_describe(item, origins) for item in error.errors())) from None
    config._origins.update(origins)
    return config


def check_hyperparams(config: PipelineConfig) -> None:
    """scikit-learn's own checks of the classifier settings (it imports sklearn, so it is not part of loading)."""
    from ml_pipeline.training import build_pipeline

    try:
        build_pipeline(config.classifier, config.hyperparams, config.random_seed)
    except ConfigError as error:
        raise ConfigError(f"{error} (hyperparams from {config.origin('hyperparams')})") from None
