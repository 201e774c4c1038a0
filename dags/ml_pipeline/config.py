"""The pipeline's one configuration object, read when a task runs (never when the DAG file is parsed).

Precedence, lowest first: defaults, environment variables, the Airflow Variable `ml_pipeline` (a JSON
object; on MWAA it can live in Secrets Manager as `airflow/variables/ml_pipeline`), then the DAG run's
conf. The last two use the field names below as keys; environment variables use `ENV_NAMES`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_STATE = REPO_ROOT / ".local"
VARIABLE_NAME = "ml_pipeline"
CLASSIFIERS = ("logistic_regression", "random_forest", "gradient_boosting")
GATE_METRICS = ("f1_macro", "accuracy")


class InvalidInputError(ValueError):
    """Bad configuration or data: retrying cannot fix it, so the task should fail at once."""

    label = "Invalid input"


class ConfigError(InvalidInputError):
    """A configuration value is missing or malformed."""

    label = "Invalid configuration"


@dataclass(frozen=True)
class PipelineConfig:
    mlflow_tracking_uri: str = f"sqlite:///{LOCAL_STATE / 'mlflow' / 'mlflow.db'}"
    artifact_root: str = str(LOCAL_STATE / "artifacts")
    aws_conn_id: str = "aws_default"
    source_uri: str = ""
    model_name: str = "wine-classifier"
    experiment_name: str = "classification_pipeline"
    classifier: str = "logistic_regression"
    hyperparams: dict[str, Any] = field(default_factory=dict)
    test_size: float = 0.25
    random_seed: int = 42
    min_rows: int = 100
    gate_metric: str = "f1_macro"

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(f"classifier must be one of {', '.join(CLASSIFIERS)}; got {self.classifier!r}")
        if self.gate_metric not in GATE_METRICS:
            raise ConfigError(f"gate_metric must be one of {', '.join(GATE_METRICS)}; got {self.gate_metric!r}")
        if not 0 < self.test_size < 1:
            raise ConfigError(f"test_size must be between 0 and 1; got {self.test_size}")
        if self.min_rows < 2:
            raise ConfigError(f"min_rows must be at least 2; got {self.min_rows}")
        if not isinstance(self.hyperparams, dict):
            raise ConfigError(f"hyperparams must be a JSON object; got {self.hyperparams!r}")
        for name in ("mlflow_tracking_uri", "artifact_root", "model_name", "experiment_name"):
            if not getattr(self, name):
                raise ConfigError(f"{name} must not be empty")


ENV_NAMES = {f.name: f"ML_PIPELINE_{f.name.upper()}" for f in fields(PipelineConfig)} | {
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
}


def _coerce(name: str, value: Any) -> Any:
    """Turn strings from the environment into the field's type; JSON values pass through."""
    kind = {f.name: f.type for f in fields(PipelineConfig)}[name]
    if not isinstance(value, str) or kind == "str":
        return value
    try:
        if kind.startswith("dict"):
            return json.loads(value) if value.strip() else {}
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError as error:
        raise ConfigError(f"{ENV_NAMES[name]}={value!r} is not a valid {kind}: {error}") from error
    return value


def load_config(
    environ: Mapping[str, str] | None = None,
    *overrides: Mapping[str, Any] | None,
) -> PipelineConfig:
    """Build the configuration from the environment, then each override mapping in turn (later wins)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {name: environ[env] for name, env in ENV_NAMES.items() if environ.get(env)}
    for override in overrides:
        if not override:
            continue
        unknown = set(override) - set(ENV_NAMES)
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        values.update(override)
    return PipelineConfig(**{name: _coerce(name, value) for name, value in values.items()})
