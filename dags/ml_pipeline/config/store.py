"""Where everything is kept: the local state folder, the artifact store, MLflow; and what a name in them may be."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

REPO_ROOT = Path(__file__).resolve().parents[3]
LOCAL_STATE = REPO_ROOT / ".local"
# A name that becomes a folder in the artifact store or a registry name: no separators, no climbing out ("..").
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def safe_name(value: str) -> str:
    if value and not SAFE_NAME.fullmatch(value):
        raise ValueError(
            "should be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (it names a folder "
            "of the artifact store and an MLflow entry)"
        )
    return value


class StoreSettings(BaseModel):
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
