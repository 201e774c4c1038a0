"""Adds "MLflow" to the Airflow UI's Browse menu, so the model registry is one click from the DAG.

The URL is the MLflow UI as a browser sees it (not necessarily the tracking URI the workers use), taken from
`ML_PIPELINE_MLFLOW_UI_URL` when the Airflow API server loads its plugins. Without it, the plugin adds nothing.

Why a Browse entry, not a top-level one: Airflow 3.3.1's UI draws a lone top-level external view (no `url_route`)
as a `<button href=...>`, which a browser does not follow; inside a menu it is a real `<a target="_blank">` link.
An iframe view (`url_route`) is no option either: MLflow's server forbids framing by another origin.
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin


def mlflow_views(ui_url: str) -> list[dict[str, str]]:
    if not ui_url:
        return []
    # The registry, in MLflow's model-training view (its UI otherwise opens in GenAI mode).
    href = f"{ui_url.rstrip('/')}/#/models?workflowType=machine_learning"
    return [{"name": "MLflow", "href": href, "destination": "nav", "category": "browse"}]


class MlflowUiLinkPlugin(AirflowPlugin):
    name = "mlflow_ui_link"
    external_views = mlflow_views(os.environ.get("ML_PIPELINE_MLFLOW_UI_URL", "").strip())
