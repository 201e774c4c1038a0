"""The pipeline's one configuration model, read when a task runs (never when the DAG file is parsed).

Precedence, lowest first: defaults, environment variables, the Airflow Variable `ml_pipeline` (a JSON object; on
MWAA it can live in Secrets Manager as `airflow/variables/ml_pipeline`), then the DAG run's conf. The last two use
the field names below as keys (a null or "" in the run conf, as the trigger form sends for an empty field, counts as
not set); environment variables use `ENV_NAMES`. Every value is checked with its type and range, and a bad one is
reported with its key and where it came from.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from ml_pipeline.budget import Budget
from ml_pipeline.classifiers import CLASSIFIERS, DEFAULT_CANDIDATES
from ml_pipeline.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_STATE = REPO_ROOT / ".local"
VARIABLE_NAME = "ml_pipeline"
GateMetric = Literal["f1_macro", "accuracy"]
ScoringEngine = Literal["local", "spark"]
SPARK_JOB_SCRIPT = REPO_ROOT / "spark_jobs" / "score_batch.py"


# A name that becomes a folder in the artifact store or a registry name: no separators, no climbing out ("..").
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Settings that decide where tasks write and which services and code they reach: a run conf (anyone who may trigger
# the DAG) sets them only when the operator lists them in `run_conf_may_set` (environment or Airflow Variable).
OPERATOR_SETTINGS = frozenset(
    {"artifact_root", "mlflow_tracking_uri", "mlflow_ui_url", "aws_conn_id", "spark_job_script_uri",
     "emr_application_id", "emr_execution_role_arn", "emr_python_env_uri", "max_model_mb", "max_fit_minutes",
     "run_conf_may_set"}
)  # fmt: skip


def _known_classifier(value: str) -> str:
    if value not in CLASSIFIERS:
        raise ValueError(f"should be one of {', '.join(CLASSIFIERS)}")
    return value


def _safe_name(value: str) -> str:
    if value and not SAFE_NAME.fullmatch(value):
        raise ValueError(
            "should be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (it names a folder "
            "of the artifact store and an MLflow entry)"
        )
    return value


class Candidate(BaseModel):
    """One model to train: a classifier from `classifiers.CLASSIFIERS` and its hyperparameters."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    classifier: str
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    name: str = Field("", description="unique in the run; defaults to the classifier's name")

    _known = field_validator("classifier")(_known_classifier)
    _safe = field_validator("name")(_safe_name)


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    mlflow_tracking_uri: str = Field(f"sqlite:///{LOCAL_STATE / 'mlflow' / 'mlflow.db'}", min_length=1)
    mlflow_ui_url: str = ""  # the MLflow UI as a browser reaches it, for links; empty: derived (ui_links.py)
    artifact_root: str = Field(str(LOCAL_STATE / "artifacts"), min_length=1)
    aws_conn_id: str = Field("aws_default", min_length=1)
    source_uri: str = Field(
        "", description="A .csv or .parquet file or a Parquet folder (s3:// or a path); default: the Wine data"
    )
    model_name: str = Field("wine-classifier", min_length=1)
    experiment_name: str = Field("classification_pipeline", min_length=1)
    candidates: list[Candidate] | None = Field(
        None,
        description='Several models, e.g. [{"classifier": "random_forest", "hyperparams": {"max_depth": 5}}]; '
        "default: the three in classifiers.py",
    )
    classifier: str | None = Field(None, description="Train this one classifier; default: the default candidates")
    hyperparams: dict[str, Any] | None = Field(
        None, description="The classifier's scikit-learn settings; default: its defaults"
    )
    test_size: float = Field(0.25, gt=0, lt=1, description="Share of the rows held out to score the candidates")
    random_seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed of the split and of the classifiers")
    min_rows: int = Field(100, ge=2, description="Fewer valid rows than this fails the run")
    max_holdout_overlap: float = Field(
        0.05, ge=0, lt=1, description="Largest share of holdout rows that may also be training rows (duplicates)"
    )
    gate_metric: GateMetric = Field("f1_macro", description="The holdout metric that decides the champion")
    max_model_mb: float = Field(
        Budget.max_model_mb, gt=0, description="Largest model a candidate may make, in MB (1 MB = 10^6 bytes)"
    )
    max_fit_minutes: float = Field(
        Budget.max_fit_minutes, gt=0, description="Longest fit a candidate may take, projected as it starts"
    )
    # batch_predictions (README, Batch predictions)
    scoring_source_uri: str = Field(
        "", description="Rows to score (a file or a Parquet folder); default: the Wine features"
    )
    model_version: str = Field(
        "", description="A registered version number; default: @champion", json_schema_extra={"pattern": "^[0-9]*$"}
    )
    scoring_engine: ScoringEngine = Field("local", description="local: on the worker; spark: Spark or EMR Serverless")
    max_rejected_fraction: float = Field(0.01, ge=0, le=1, description="More unscorable rows than this fails the run")
    log_scoring_to_mlflow: bool = Field(True, description="Log each scoring as a run of experiment batch_predictions")
    spark_job_script_uri: str = Field(str(SPARK_JOB_SCRIPT), min_length=1)
    emr_application_id: str = ""  # set: engine spark runs on EMR Serverless, not on the worker
    emr_execution_role_arn: str = ""
    emr_python_env_uri: str = ""  # a venv-pack archive for the job; empty: the application's image has the libraries
    run_conf_may_set: list[str] = Field(
        default_factory=list, description="Operator settings a run conf may set too (environment or Variable only)"
    )
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def origin(self, name: str) -> str:
        """Where a value came from, for messages: `run conf`, `environment variable ...`, `the defaults`."""
        return self._origins.get(name, "the defaults")

    _known = field_validator("classifier")(_known_classifier)
    _safe = field_validator("model_name")(_safe_name)

    @field_validator("run_conf_may_set")
    @classmethod
    def _operator_settings_only(cls, value: list[str]) -> list[str]:
        listable = OPERATOR_SETTINGS - {"run_conf_may_set"}
        if unknown := sorted(set(value) - listable):
            raise ValueError(f"may list only {', '.join(sorted(listable))}, not {', '.join(unknown)}")
        return value

    @field_validator("model_version")
    @classmethod
    def _version_number(cls, value: str) -> str:
        if value and not value.isdigit():
            raise ValueError("should be a registered version number such as 3, or empty for the champion")
        return value

    @model_validator(mode="after")
    def _one_way_to_name_candidates(self) -> PipelineConfig:
        if self.candidates is not None and (self.classifier is not None or self.hyperparams is not None):
            raise ValueError("set either candidates or classifier/hyperparams, not both")
        if self.candidates == []:
            raise ValueError("candidates is empty; list at least one, or leave it out for the defaults")
        return self

    @model_validator(mode="after")
    def _emr_jobs_need_a_role(self) -> PipelineConfig:
        if self.emr_application_id and not self.emr_execution_role_arn:
            raise ValueError("emr_application_id is set but emr_execution_role_arn is not; EMR jobs run as that role")
        return self

    def budget(self) -> Budget:
        return Budget(self.max_model_mb, self.max_fit_minutes)

    def candidate_list(self) -> list[Candidate]:
        """The candidates to train, each with a unique name (`random_forest`, `random_forest_2`, ...)."""
        if self.candidates is not None:
            chosen = self.candidates
        elif self.classifier is not None or self.hyperparams is not None:
            single = {"classifier": self.classifier or "logistic_regression", "hyperparams": self.hyperparams or {}}
            chosen = [Candidate.model_validate(single)]
        else:
            chosen = [Candidate.model_validate(candidate) for candidate in DEFAULT_CANDIDATES]
        named, seen = [], set()
        for candidate in chosen:
            name, number = candidate.name or candidate.classifier, 2
            while name in seen:
                name, number = f"{candidate.name or candidate.classifier}_{number}", number + 1
            seen.add(name)
            named.append(candidate.model_copy(update={"name": name}))
        return named


ENV_NAMES = {name: f"ML_PIPELINE_{name.upper()}" for name in PipelineConfig.model_fields} | {
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
}
# Fields whose environment value is JSON (numbers, objects); the others are taken as text.
TEXT_TYPES = (str, str | None, GateMetric, ScoringEngine)
JSON_KINDS = {float: "number", int: "whole number"}  # the others are JSON objects or lists
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


def _describe(error: dict[str, Any], origins: Mapping[str, str]) -> str:
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


def check_hyperparams(config: PipelineConfig) -> dict[str, str]:
    """scikit-learn's own checks of each candidate's settings (it imports sklearn, so it is not part of loading).

    Returns what is wrong with each invalid candidate: its train_model instance fails alone and the others go on.
    When no candidate is valid nothing could be trained, so this raises before any data is read.
    """
    from ml_pipeline.training import build_pipeline

    origin = config.origin("candidates" if config.candidates is not None else "hyperparams")
    candidates, invalid = config.candidate_list(), {}
    for candidate in candidates:
        try:
            build_pipeline(candidate.classifier, candidate.hyperparams, config.random_seed)
        except ConfigError as error:
            named = "" if candidate.name == candidate.classifier else f"candidate {candidate.name}: "
            invalid[candidate.name] = f"{named}{error} (from {origin})"
    if len(invalid) == len(candidates):
        raise ConfigError("; ".join(invalid.values()))
    return invalid
