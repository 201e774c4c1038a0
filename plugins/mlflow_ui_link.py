"""Adds an "MLflow" entry to the Airflow UI's navigation, so the model registry is one click from the DAG.

The URL is the MLflow UI as a browser sees it (not necessarily the tracking URI the workers use), taken from
`ML_PIPELINE_MLFLOW_UI_URL` when the Airflow API server loads its plugins. Without it, the plugin adds nothing.
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin


def mlflow_views(ui_url: str) -> list[dict[str, str]]:
    if not ui_url:
        return []
    return [{"name": "MLflow", "href": f"{ui_url.rstrip('/')}/#/models", "destination": "nav"}]


class MlflowUiLinkPlugin(AirflowPlugin):
    name = "mlflow_ui_link"
    external_views = mlflow_views(os.environ.get("ML_PIPELINE_MLFLOW_UI_URL", "").strip())
