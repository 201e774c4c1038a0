"""The stack's model server: it answers with the champion, and after a DAG run moves the alias it answers with the new
champion, without a restart."""

from __future__ import annotations

import time

import httpx
import pytest
from airflow_rest import AirflowRest, wait_until
from compose_stack import DAG_ID, MODEL_NAME, ComposeStack
from step_timing import Deadline, step

pytestmark = pytest.mark.compose

SERVICE = "model-server"
ROWS = {"dataframe_split": {
    "columns": ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
                "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "od280/od315_of_diluted_wines",
                "proline"],
    "data": [[14.23, 1.71, 2.43, 15.6, 127, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065],
             [12.37, 1.13, 2.16, 19, 87, 3.5, 3.1, 0.19, 1.87, 4.45, 1.22, 2.87, 420]],
}}  # fmt: skip


def predict(url: str) -> tuple[str, list]:
    """The version that answered and its predictions."""
    answer = httpx.post(f"{url}/invocations", json=ROWS, timeout=30)
    answer.raise_for_status()
    return answer.headers["X-Model-Version"], answer.json()["predictions"]


def answering_with(url: str, version: str) -> bool:
    try:
        return predict(url)[0] == version
    except httpx.HTTPError:
        return False


def started_at(compose: ComposeStack) -> str:
    container = compose.run("ps", "-q", SERVICE, capture=True).strip()
    return compose.run_docker("inspect", "-f", "{{.State.StartedAt}} {{.RestartCount}}", container)


def test_the_model_server_follows_the_champion_without_a_restart(
    airflow: AirflowRest, first_run: str, compose: ComposeStack, mlflow_client, deadline: Deadline
):
    champion = mlflow_client.get_model_version_by_alias(MODEL_NAME, "champion").version
    with step(f"ask the model server for predictions from the champion, v{champion}"):
        wait_until(f"answers from v{champion}", lambda: answering_with(compose.serve_url, champion),
                   deadline.limit(120), interval=1)  # fmt: skip
        version, predictions = predict(compose.serve_url)
        assert predictions == [0, 1], f"v{version} predicted {predictions} for a class-0 and a class-1 Wine row"
        before = started_at(compose)
    run_id = f"compose-test-new-champion-{int(time.time())}"
    with step("run the pipeline again: a new version, as good on the same data, becomes champion"):
        airflow.trigger(DAG_ID, run_id, {})
        run = airflow.wait_for_run(DAG_ID, run_id, deadline.limit(600))
        assert run["state"] == "success", f"{DAG_ID} run {run_id} {run['state']}"
        new = mlflow_client.get_model_version_by_alias(MODEL_NAME, "champion").version
        assert new != champion, f"the run did not move the champion from v{champion}"
    with step(f"wait for the model server to answer with v{new}"):
        wait_until(f"answers from v{new}", lambda: answering_with(compose.serve_url, new), deadline.limit(120),
                   interval=1)  # fmt: skip
        assert started_at(compose) == before, "the model server was restarted"
        print(f"    v{champion} -> v{new} without a restart ({before})", flush=True)
