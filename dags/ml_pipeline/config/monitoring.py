"""The settings of monitoring: when a scoring run's rows have drifted from the version's training data."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
