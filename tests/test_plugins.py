"""plugins/: what Airflow itself reports after loading the plugins folder (the list the UI's navigation uses)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def loaded_plugins(**env: str) -> dict[str, dict]:
    environment = os.environ | {"AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS)} | env
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "plugins", "--output", "json"],
        env=environment, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return {plugin["name"]: plugin for plugin in json.loads(result.stdout)}


def test_the_airflow_browse_menu_links_to_the_mlflow_model_registry():
    """In a menu (category browse) Airflow 3.3.1's UI renders an external view as a link; alone at the top it
    renders a `<button href>` that does nothing. Without `url_route` it opens in a new tab, not in an iframe."""
    plugin = loaded_plugins(ML_PIPELINE_MLFLOW_UI_URL="http://127.0.0.1:5000/")["mlflow_ui_link"]
    assert plugin["external_views"] == [
        {
            "name": "MLflow",
            "href": "http://127.0.0.1:5000/#/models?workflowType=machine_learning",
            "destination": "nav",
            "category": "browse",
        }
    ]


@pytest.mark.parametrize("url", ["", "   "])
def test_without_an_mlflow_ui_url_no_link_is_added(url):
    assert loaded_plugins(ML_PIPELINE_MLFLOW_UI_URL=url)["mlflow_ui_link"]["external_views"] == []
