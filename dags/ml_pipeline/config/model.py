"""The pipeline's one configuration model: every setting, its type, range, default and description.

The trigger form (task_runtime/form.py), the generated docs/configuration.md and every message about a bad value read
these fields; layers.py reads the values from the environment, the Airflow Variable and the run conf.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ml_pipeline.config.classifiers import CLASSIFIERS, DEFAULT_CANDIDATES
from ml_pipeline.config.serving import EndpointName, ImageUri, InstanceType, RoleArn, check_serving
from ml_pipeline.contract import Candidate

REPO_ROOT = Path(__file__).resolve().parents[3]
LOCAL_STATE = REPO_ROOT / ".local"
GateMetric = Literal["f1_macro", "accuracy", "balanced_accuracy", "roc_auc", "log_loss"]
ScoringEngine = Literal["local", "spark"]
SPARK_JOB_SCRIPT = REPO_ROOT / "spark_jobs" / "score_batch.py"


# A name that becomes a folder in the artifact store or a registry name: no separators, no climbing out ("..").
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Settings that decide where tasks write and which services and code they reach: a run conf (anyone who may trigger
# the DAG) sets them only when the operator lists them in `run_conf_may_set` (environment or Airflow Variable).
OPERATOR_SETTINGS = frozenset(
    {"artifact_root", "mlflow_tracking_uri", "mlflow_ui_url", "aws_conn_id", "spark_job_script_uri",
     "emr_application_id", "emr_execution_role_arn", "emr_python_env_uri", "max_model_mb", "max_fit_minutes",
     "sagemaker_endpoint_name", "sagemaker_image_uri", "sagemaker_execution_role_arn", "sagemaker_instance_type",
     "sagemaker_instance_count", "sagemaker_rollback_alarms", "run_conf_may_set"}
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


@dataclass(frozen=True)
class Budget:
    """What one candidate may cost (training/budget.py holds it to this). 250 MB: what a worker slot's memory holds
    beside the data (mw1.small: 2 GB for 5 tasks, each process ~400 MB before it loads a model); 50 minutes:
    train_model's execution timeout is 60."""

    max_model_mb: float = 250.0
    max_fit_minutes: float = 50.0


class CandidateSpec(BaseModel):
    """One model to train: a classifier from `classifiers.CLASSIFIERS` and its hyperparameters."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    classifier: str
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    name: str = Field("", description="unique in the run; defaults to the classifier's name")

    _known = field_validator("classifier")(_known_classifier)
    _safe = field_validator("name")(_safe_name)

    def as_candidate(self) -> Candidate:
        """What train_model receives through XCom."""
        return Candidate(name=self.name, classifier=self.classifier, hyperparams=self.hyperparams)


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    mlflow_tracking_uri: str = Field(
        f"sqlite:///{LOCAL_STATE / 'mlflow' / 'mlflow.db'}",
        min_length=1,
        description="MLflow's tracking server and registry: an http(s):// URL, a database URI or a SageMaker MLflow "
        "tracking-server ARN",
    )
    mlflow_ui_url: str = Field(  # empty: derived (task_runtime/urls.py)
        "",
        description="The MLflow UI's address in a browser, for the tasks' links; default: the tracking URI if "
        "http(s)://, else http://127.0.0.1:5000",
    )
    artifact_root: str = Field(
        str(LOCAL_STATE / "artifacts"),
        min_length=1,
        description="Where tasks exchange data and models: a folder, or s3://bucket/prefix (on MWAA)",
    )
    aws_conn_id: str = Field(
        "aws_default", min_length=1, description="The Airflow connection for S3 (on MWAA: the execution role)"
    )
    source_uri: str = Field(
        "", description="A .csv or .parquet file, or a folder of them (s3:// or a path); default: the Wine data"
    )
    csv_encoding: str = Field("utf-8", min_length=1, description="The text encoding of CSV sources, e.g. latin-1")
    target_column: str = Field("target", min_length=1, description="The column holding the class labels")
    feature_columns: list[str] | None = Field(
        None, description="The columns the model reads; default: every other column but identifiers and constants"
    )
    exclude_columns: list[str] = Field(
        [], description="Columns that must not be features: identifiers, timestamps, leaks"
    )
    categorical_columns: list[str] = Field(
        [],
        description="Numeric columns to treat as categories (codes, zip codes); text and boolean ones always are",
    )
    max_training_rows: int = Field(
        1_000_000, ge=2, description="A larger source is sampled to this many rows, stratified by label"
    )
    max_missing_fraction: float = Field(
        0.5, ge=0, lt=1, description="Largest share of missing values a feature column may have in training"
    )
    max_unlabeled_fraction: float = Field(
        0.1, ge=0, lt=1, description="Largest share of rows without a label; they are dropped and counted"
    )
    model_name: str = Field("wine-classifier", min_length=1, description="The registered model's name in MLflow")
    experiment_name: str = Field(
        "classification_pipeline", min_length=1, description="The MLflow experiment of the training runs"
    )
    candidates: list[CandidateSpec] | None = Field(
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
    allow_schema_change: bool = Field(
        False, description="Promote a better model whose data schema the champion cannot score (columns, labels)"
    )
    max_model_mb: float = Field(
        Budget.max_model_mb, gt=0, description="Largest model a candidate may make, in MB (1 MB = 10^6 bytes)"
    )
    max_fit_minutes: float = Field(
        Budget.max_fit_minutes, gt=0, description="Longest fit a candidate may take, projected as it starts"
    )
    # batch_predictions (docs/batch-predictions.md)
    scoring_source_uri: str = Field(
        "", description="Rows to score (a .csv or .parquet file or a folder of them); default: the Wine features"
    )
    model_version: str = Field(
        "", description="A registered version number; default: @champion", json_schema_extra={"pattern": "^[0-9]*$"}
    )
    scoring_engine: ScoringEngine = Field("local", description="local: on the worker; spark: Spark or EMR Serverless")
    max_rejected_fraction: float = Field(0.01, ge=0, le=1, description="More unscorable rows than this fails the run")
    log_scoring_to_mlflow: bool = Field(True, description="Log each scoring as a run of experiment batch_predictions")
    # drift of each scoring run against the version's training data (docs/monitoring.md)
    drift_psi_threshold: float = Field(
        0.2, gt=0, description="A feature (or the predicted labels) whose PSI against training is above this drifted"
    )
    drift_missing_threshold: float = Field(
        0.1, gt=0, le=1, description="A feature whose share of missing values grew by more than this drifted"
    )
    drift_unseen_threshold: float = Field(
        0.05, gt=0, le=1, description="A categorical feature with more than this share of unseen categories drifted"
    )
    spark_job_script_uri: str = Field(
        str(SPARK_JOB_SCRIPT),
        min_length=1,
        description="The Spark job; for EMR Serverless, its copy in S3 that make deploy uploads",
    )
    emr_application_id: str = Field(
        "", description="An EMR Serverless application: the spark engine then runs there, not on the worker"
    )
    emr_execution_role_arn: str = Field("", description="The IAM role EMR Serverless jobs run as")
    emr_python_env_uri: str = Field(
        "", description="A venv-pack archive of the job's Python; default: the application's image has the libraries"
    )
    # deploy_champion (docs/serving-aws.md)
    sagemaker_endpoint_name: EndpointName = Field(
        "", description="The SageMaker real-time endpoint deploy_champion rolls each champion out to; empty: none"
    )
    sagemaker_image_uri: ImageUri = Field(
        "", description="The model server image in ECR: a repository (its newest image) or repository:tag"
    )
    sagemaker_execution_role_arn: RoleArn = Field("", description="The IAM role the endpoint runs as")
    sagemaker_instance_type: InstanceType = Field("ml.m5.large", description="The endpoint's instance type")
    sagemaker_instance_count: int = Field(1, ge=1, le=10, description="The endpoint's instances (billed each hour)")
    sagemaker_rollback_alarms: list[str] = Field(
        [], max_length=10, description="CloudWatch alarms that roll a deployment back while they are in alarm"
    )
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

    @field_validator("csv_encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError("should be a text encoding Python knows, such as utf-8, latin-1 or cp1252") from None
        return value

    @model_validator(mode="after")
    def _columns_agree(self) -> PipelineConfig:
        features = set(self.feature_columns or ())
        if self.target_column in features | set(self.exclude_columns):
            raise ValueError(f"target_column {self.target_column!r} cannot also be a feature or excluded")
        if both := sorted(features & set(self.exclude_columns)):
            raise ValueError(f"{', '.join(both)} cannot be both in feature_columns and exclude_columns")
        if self.feature_columns == []:
            raise ValueError("feature_columns is empty; list at least one, or leave it out for every other column")
        return self

    @model_validator(mode="after")
    def _emr_jobs_need_a_role(self) -> PipelineConfig:
        if self.emr_application_id and not self.emr_execution_role_arn:
            raise ValueError("emr_application_id is set but emr_execution_role_arn is not; EMR jobs run as that role")
        return self

    _serving = model_validator(mode="after")(check_serving)

    def budget(self) -> Budget:
        return Budget(self.max_model_mb, self.max_fit_minutes)

    def candidate_list(self) -> list[CandidateSpec]:
        """The candidates to train, each with a unique name (`random_forest`, `random_forest_2`, ...)."""
        if self.candidates is not None:
            chosen = self.candidates
        elif self.classifier is not None or self.hyperparams is not None:
            single = {"classifier": self.classifier or "logistic_regression", "hyperparams": self.hyperparams or {}}
            chosen = [CandidateSpec.model_validate(single)]
        else:
            chosen = [CandidateSpec.model_validate(candidate) for candidate in DEFAULT_CANDIDATES]
        named, seen = [], set()
        for candidate in chosen:
            name, number = candidate.name or candidate.classifier, 2
            while name in seen:
                name, number = f"{candidate.name or candidate.classifier}_{number}", number + 1
            seen.add(name)
            named.append(candidate.model_copy(update={"name": name}))
        return named
