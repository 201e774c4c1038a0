"""The settings of batch_predictions: which version scores which rows, on which engine, and how much may fail."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from ml_pipeline.config.store import REPO_ROOT

ScoringEngine = Literal["local", "spark"]
SPARK_JOB_SCRIPT = REPO_ROOT / "spark_jobs" / "score_batch.py"


class ScoringSettings(BaseModel):
    scoring_source_uri: str = Field(
        "", description="Rows to score (a .csv or .parquet file or a folder of them); default: the Wine features"
    )
    model_version: str = Field(
        "", description="A registered version number; default: @champion", json_schema_extra={"pattern": "^[0-9]*$"}
    )
    scoring_engine: ScoringEngine = Field("local", description="local: on the worker; spark: Spark or EMR Serverless")
    max_rejected_fraction: float = Field(0.01, ge=0, le=1, description="More unscorable rows than this fails the run")
    log_scoring_to_mlflow: bool = Field(True, description="Log each scoring as a run of experiment batch_predictions")
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

    @field_validator("model_version")
    @classmethod
    def _version_number(cls, value: str) -> str:
        if value and not value.isdigit():
            raise ValueError("should be a registered version number such as 3, or empty for the champion")
        return value

    @model_validator(mode="after")
    def _emr_jobs_need_a_role(self) -> ScoringSettings:
        if self.emr_application_id and not self.emr_execution_role_arn:
            raise ValueError("emr_application_id is set but emr_execution_role_arn is not; EMR jobs run as that role")
        return self
