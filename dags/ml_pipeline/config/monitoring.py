"""The settings of monitoring: when a scoring run's rows have drifted from the version's training data, how live
quality is measured once true labels arrive, and what drift or decay sets off."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class MonitoringSettings(BaseModel):
    drift_psi_threshold: float = Field(
        0.2, gt=0, description="A feature (or the predicted labels) whose PSI against training is above this drifted"
    )
    drift_missing_threshold: float = Field(
        0.1, gt=0, le=1, description="A feature whose share of missing values grew by more than this drifted"
    )
    drift_unseen_threshold: float = Field(
        0.05, gt=0, le=1, description="A categorical feature with more than this share of unseen categories drifted"
    )
    label_source_uri: str = Field(
        "",
        description="True labels of rows scored before (.csv or .parquet, a file or folder): id_column and "
        "target_column; empty: live quality is not measured",
    )
    id_column: str = Field(
        "", description="The column that identifies a row in the scored source and in label_source_uri"
    )
    quality_window_days: int = Field(
        30, ge=1, le=366, description="Labels are joined to the predictions of this many past days (late labels count)"
    )
    decay_margin: float = Field(
        0.05, ge=0, description="The champion decayed when its live gate metric is worse than its holdout's by more"
    )
    min_labeled_rows: int = Field(
        100, ge=1, description="Fewer labeled predictions of the champion in the window decide nothing about decay"
    )
    retrain_on_drift: bool = Field(
        False, description="classification_pipeline also runs on each drift or decay event, not only daily"
    )
    alert_sns_topic_arn: str = Field(
        "",
        pattern=r"^$|^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$",
        description="The Amazon SNS topic told of failed tasks, drift and decay (one line and a link); empty: the "
        "task log only",
    )

    @model_validator(mode="after")
    def _labels_need_an_id(self) -> MonitoringSettings:
        if self.label_source_uri and not self.id_column:
            raise ValueError("label_source_uri is set but id_column is not; labels are joined to predictions by it")
        return self
