"""The settings of classification_pipeline: the data, the candidates, what each may cost and the champion gate."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ml_pipeline.config.classifiers import CLASSIFIERS, DEFAULT_CANDIDATES
from ml_pipeline.config.store import safe_name
from ml_pipeline.contract import Candidate

GateMetric = Literal["f1_macro", "accuracy", "balanced_accuracy", "roc_auc", "log_loss"]
SegmentEngine = Literal["airflow", "spark"]


def _known_classifier(value: str) -> str:
    if value not in CLASSIFIERS:
        raise ValueError(f"should be one of {', '.join(CLASSIFIERS)}")
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
    _safe = field_validator("name")(safe_name)

    def as_candidate(self) -> Candidate:
        """What train_model receives through XCom."""
        return Candidate(name=self.name, classifier=self.classifier, hyperparams=self.hyperparams)


class TrainingSettings(BaseModel):
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
    require_approval: bool = Field(
        False, description="A new champion needs a person's approval in the Airflow UI; until then it is challenger"
    )
    approval_timeout_hours: float = Field(
        20,
        gt=0,
        le=22,
        description="Hours to wait for that approval; no answer counts as a rejection (at most 22: one run a day)",
    )
    segment_column: str = Field(
        "", description="Train one model per distinct value of this column (store, region); empty: one model"
    )
    min_segment_rows: int = Field(
        100, ge=4, description="A segment with fewer labelled rows gets no model of its own: the fallback serves it"
    )
    max_segments: int = Field(
        20_000, ge=1, description="More distinct values than this in segment_column fails the run (an identifier?)"
    )
    segment_worker_slots: int = Field(
        10,
        ge=1,
        description="Worker slots the segments spread over (MWAA: slots per worker x max workers); sets the groups",
    )
    segment_engine: SegmentEngine = Field(
        "airflow",
        description="airflow: groups of segments on the workers; spark: local Spark, or EMR with emr_application_id",
    )
    max_model_mb: float = Field(
        Budget.max_model_mb, gt=0, description="Largest model a candidate may make, in MB (1 MB = 10^6 bytes)"
    )
    max_fit_minutes: float = Field(
        Budget.max_fit_minutes, gt=0, description="Longest fit a candidate may take, projected as it starts"
    )

    _known = field_validator("classifier")(_known_classifier)
    _safe = field_validator("model_name")(safe_name)

    @model_validator(mode="after")
    def _one_way_to_name_candidates(self) -> TrainingSettings:
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
    def _columns_agree(self) -> TrainingSettings:
        features = set(self.feature_columns or ())
        if self.target_column in features | set(self.exclude_columns):
            raise ValueError(f"target_column {self.target_column!r} cannot also be a feature or excluded")
        if both := sorted(features & set(self.exclude_columns)):
            raise ValueError(f"{', '.join(both)} cannot be both in feature_columns and exclude_columns")
        if self.segment_column and self.segment_column in features | {self.target_column}:
            raise ValueError(f"segment_column {self.segment_column!r} cannot also be the target or a feature")
        if self.segment_column and self.require_approval:
            raise ValueError("require_approval works with one model, not with segment_column; set one of them")
        if self.feature_columns == []:
            raise ValueError("feature_columns is empty; list at least one, or leave it out for every other column")
        return self

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
