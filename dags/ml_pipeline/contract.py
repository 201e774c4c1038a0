"""What the tasks hand each other through XCom, and the names the DAG, scripts, tests and bench share.

XCom carries only these small, typed references and facts; data and models travel through the artifact store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

BUNDLED_SOURCE = "sklearn:wine"

# Holdout metrics every model is scored with; the gate compares one of them (configuration `gate_metric`). ROC AUC is
# one-vs-rest for more than two classes. Higher is better, except for these:
METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss")
LOWER_IS_BETTER = frozenset({"log_loss"})

# Registry aliases.
CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"

# Tags on MLflow runs and model versions.
TAG_DAG_ID = "airflow_dag_id"
TAG_RUN_ID = "airflow_run_id"
TAG_DATA_HASH = "data_hash"
TAG_FINGERPRINT = "fingerprint"
TAG_CANDIDATE = "candidate"
TAG_LOGGED_MODEL = "logged_model_uri"  # on a candidate's MLflow run once its model is logged
TAG_GATE = "gate"
TAG_HOLDOUT = "holdout."  # prefix: holdout.accuracy, holdout.f1_macro, as scored by the gate
# require_approval: the answer to a proposed promotion (proposed, approved, rejected, timed out), and its details
# under the prefix: approval.reason, approval.compared_with (the champion it was gated against), approval.by,
# approval.at, approval.comment.
TAG_APPROVAL = "approval"
TAG_APPROVAL_DETAIL = "approval."
TAG_SEGMENT = "segment"  # on a segment's runs and versions: its slug


@dataclass(frozen=True)
class RunIds:
    """The DAG run a task belongs to: it names the run's folder in the artifact store and tags its MLflow records."""

    dag_id: str
    run_id: str
    segment: str | None = None  # one segment's records (its slug), which settle and reuse only their own

    @property
    def run_name(self) -> str:
        return ".".join(filter(None, (self.dag_id, self.run_id, self.segment)))


class Candidate(TypedDict):
    """One model to train (the configuration's `candidates`; names are unique within a run)."""

    name: str
    classifier: str
    hyperparams: dict[str, object]


class DatasetSnapshot(TypedDict):
    """get_data's XCom `dataset` (its return value lists the candidates): where the split and its schema live, what
    they are of."""

    source: str
    data_hash: str
    rows: int  # labelled rows kept: all of them, or the stratified sample of max_training_rows
    rows_read: int
    unlabeled_rows: int
    skipped_files: list[str]  # files of a source folder that are not data, by name
    classes: list[str]
    features: int
    ignored_columns: dict[str, str]  # column -> why it is not a feature
    train_rows: int
    holdout_rows: int
    test_size: float
    random_seed: int
    schema_uri: str
    train_uri: str
    holdout_uri: str
    reference_uri: str  # the training rows' distributions (data/profile.py), which drift is measured against


class TrainingResult(TypedDict):
    """One train_model instance's output: the fitted model's location, its settings and their fingerprint."""

    candidate: str
    classifier: str
    model_uri: str
    evaluation_uri: str
    params: dict[str, str | int | float | bool]
    metrics: dict[str, float]
    fit_seconds: float
    fingerprint: str


class PersistResult(TypedDict):
    """persist_model's output: the best candidate's registered version and the gate's decision about it."""

    best_candidate: str
    skipped: dict[str, str]  # candidate name -> why it has no model
    gate_metric: str
    model_name: str
    version: str
    mlflow_run_id: str
    reused: bool
    metrics: dict[str, float]
    alias: str
    promoted: bool
    reason: str
    previous_champion: str | None
    champion_score: float | None
    champion_metrics: dict[str, float] | None  # the champion's holdout metrics, when it could be scored
    proposed: bool  # require_approval: it would have taken champion, so it is @challenger until someone approves


# The HITL options of approve_champion (the Airflow UI shows these two as an approval) and what each leads to.
APPROVE = "Approve"
REJECT = "Reject"
Answer = Literal["approved", "rejected", "timed out"]


class ApprovalAnswer(TypedDict):
    """approve_champion's XCom `answer`: what a person chose in the Airflow UI, or that nobody did in time."""

    answer: Answer
    responded_by: str | None  # the user's name; None on a timeout
    responded_at: str | None  # ISO 8601, UTC
    comment: str


class ApprovalResult(TypedDict):
    """promote_champion's or keep_challenger's output: the proposal's outcome and where the aliases are now."""

    model_name: str
    version: str
    answer: Answer
    responded_by: str | None
    responded_at: str | None
    comment: str
    promoted: bool
    alias: str
    reason: str  # the gate's reason on approval (it gates again), or why it stays challenger
    previous_champion: str | None


# ---- batch_predictions ----
# The output's columns after the input's own: the predicted class (the original label), one probability column per
# class (named by data/schema.py's probability_columns), and which model scored the row, when. Rejected rows keep
# their input columns and gain `reason`.
PREDICTION = "prediction"
MODEL_NAME_COLUMN = "model_name"
MODEL_VERSION_COLUMN = "model_version"
# and, for a router, which segment's registered model and version answered the row
SEGMENT_MODEL_COLUMN = "segment_model"
SEGMENT_VERSION_COLUMN = "segment_version"
SCORED_AT = "scored_at"
REASON = "reason"
# Layout under a run's output prefix; the marker is written last, so an output without it is not complete.
PREDICTIONS_DIR = "predictions"
REJECTED_DIR = "rejected"
COUNTS_DIR = "_counts"
DRIFT_COUNTS_DIR = "_drift"  # the engine's counts in the reference's bins (data/profile.py)
DRIFT_DIR = "drift"  # drift.json and report.html, written by publish_predictions
QUALITY_DIR = "quality"  # quality.json and quality.png, written by measure_quality
COMPLETE_MARKER = "_SUCCESS"


# Where a batch is scored: on the Airflow worker, in local Spark, or on EMR Serverless.
Engine = Literal["local", "spark", "emr-serverless"]


class PinnedModel(TypedDict):
    """One registered version, resolved once from `@champion` (or a version number) for a whole DAG run."""

    model_name: str
    model_version: str
    model_uri: str  # models:/<name>/<version>, never an alias: a promotion during the run changes nothing
    artifact_uri: str  # where the version's files are, for what reads them directly (EMR Serverless, packaging)
    tracking_uri: str


class ScoringPlan(PinnedModel):
    """batch_predictions' pin_model output: the one model version and the output every engine of this run uses."""

    source: str
    csv_encoding: str  # of the source's CSV files
    output_uri: str
    engine: Engine
    max_rejected_fraction: float
    drift_thresholds: dict[str, float]  # psi, missing, unseen: the configuration's drift_*_threshold


class ScoringCounts(TypedDict):
    """What an engine writes to the output's `_counts/`: the rows it read, scored and rejected, how many scored rows
    held a category training never saw (they are scored all the same), and its time."""

    rows_in: int
    rows_scored: int
    rows_rejected: int
    rows_with_unseen_categories: int
    seconds: float


class ScoringSummary(ScoringCounts):
    """publish_predictions' output, also the complete marker's content."""

    engine: Engine
    rows_per_second: float
    model_name: str
    model_version: str
    output_uri: str
    predictions_uri: str
    rejected_uri: str
    mlflow_run_id: str | None
    drifted: dict[str, str] | None  # feature (or "prediction") -> the threshold it crossed; None: not measured
    drift_report_uri: str | None
    published_at: str  # UTC, ISO 8601: measure_quality reads only the outputs of its window


class DailyQuality(TypedDict):
    """One model version's live metrics on one day's predictions that have their true label."""

    model_version: str
    day: str  # UTC, YYYY-MM-DD, of scored_at
    rows: int
    metrics: dict[str, float]  # contract.METRICS


class LiveQuality(TypedDict):
    """measure_quality's output: the window's predictions joined to their true labels, and whether the pinned
    version (the champion, unless a version was named) decayed."""

    metric: str  # the gate metric
    labeled_rows: int
    awaiting_labels: int  # predictions of the window whose label has not arrived
    days: list[DailyQuality]
    live_score: float | None  # the pinned version's gate metric over the window; None: no labeled predictions
    live_rows: int  # the pinned version's labeled predictions in the window
    holdout_score: float | None  # as the gate scored it at registration
    decayed: str | None  # why it decayed, in one line; None: it did not, or too few labels to say
    report_uri: str


class EmrJob(TypedDict):
    """What EmrServerlessStartJobOperator needs, decided when the task runs (the configuration is read then)."""

    application_id: str
    execution_role_arn: str
    aws_conn_id: str
    name: str
    job_driver: dict[str, Any]
    configuration_overrides: dict[str, Any]
