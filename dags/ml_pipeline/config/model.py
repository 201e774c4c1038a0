"""The pipeline's one configuration model: every setting, its type, range, default and description, in groups by
concern (store.py, training.py, scoring.py, monitoring.py, serving.py).

The trigger form (task_runtime/form.py), the generated docs/configuration.md and every message about a bad value read
these fields; layers.py reads the values from the environment, the Airflow Variable and the run conf.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from ml_pipeline.config.monitoring import MonitoringSettings
from ml_pipeline.config.scoring import ScoringSettings
from ml_pipeline.config.serving import DeploymentSettings
from ml_pipeline.config.store import StoreSettings
from ml_pipeline.config.training import TrainingSettings

# Settings that decide where tasks write and which services and code they reach: a run conf (anyone who may trigger
# the DAG) sets them only when the operator lists them in `run_conf_may_set` (environment or Airflow Variable).
OPERATOR_SETTINGS = frozenset(
    {"artifact_root", "mlflow_tracking_uri", "mlflow_ui_url", "aws_conn_id", "spark_job_script_uri",
     "emr_application_id", "emr_execution_role_arn", "emr_python_env_uri", "max_model_mb", "max_fit_minutes",
     "sagemaker_endpoint_name", "sagemaker_image_uri", "sagemaker_execution_role_arn", "sagemaker_instance_type",
     "sagemaker_instance_count", "sagemaker_rollback_alarms", "alert_sns_topic_arn", "run_conf_may_set"}
)  # fmt: skip


# Fields come in the order of the groups from the last base to the first: store, training, scoring, monitoring,
# deployment, then run_conf_may_set.
class PipelineConfig(DeploymentSettings, MonitoringSettings, ScoringSettings, TrainingSettings, StoreSettings):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    run_conf_may_set: list[str] = Field(
        default_factory=list, description="Operator settings a run conf may set too (environment or Variable only)"
    )
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def origin(self, name: str) -> str:
        """Where a value came from, for messages: `run conf`, `environment variable ...`, `the defaults`."""
        return self._origins.get(name, "the defaults")

    @field_validator("run_conf_may_set")
    @classmethod
    def _operator_settings_only(cls, value: list[str]) -> list[str]:
        listable = OPERATOR_SETTINGS - {"run_conf_may_set"}
        if unknown := sorted(set(value) - listable):
            raise ValueError(f"may list only {', '.join(sorted(listable))}, not {', '.join(unknown)}")
        return value
