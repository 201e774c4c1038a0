"""The compose test's world: a throwaway docker-compose stack, built and healthy, with the pipeline parsed, unpaused and
run once through the REST API. The stack is always removed at the end (after printing its state and logs if anything
failed) unless --compose-keep; the options are declared in tests/conftest.py."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator

import pytest
from airflow_rest import AirflowRest, wait_until
from compose_stack import DAG_ID, ComposeStack
from mlflow import MlflowClient
from step_timing import Deadline, step

from ml_pipeline.registry.connection import CLIENT_LIMITS


@pytest.fixture(scope="session")
def deadline(request: pytest.FixtureRequest) -> Deadline:
    return Deadline(request.config.getoption("compose_timeout"))


@pytest.fixture(scope="session")
def compose(request: pytest.FixtureRequest, deadline: Deadline, free_port: Callable[[], int]) -> Iterator[ComposeStack]:
    """The stack, built and healthy. Removed at the end whatever happened, after printing its containers' state and
    logs if anything failed; left running with --compose-keep."""
    if not shutil.which("docker"):
        pytest.fail("docker is not on PATH: the stack needs Docker with the compose plugin")
    stack = ComposeStack(free_port(), free_port(), free_port(), deadline)
    healthy = False
    try:
        with step("build images"):
            stack.run("build")
        with step("docker compose up --wait"):
            # As `make up`: longer than the healthchecks' start periods and retries along the dependency chain.
            stack.run("up", "-d", "--wait", "--wait-timeout", "900")
        healthy = True
        print(
            f"    Airflow {stack.airflow_url}   MLflow {stack.mlflow_url}   model server {stack.serve_url}", flush=True
        )
        yield stack
    finally:
        if not healthy or request.session.testsfailed:
            stack.print_state_and_logs()
        if request.config.getoption("compose_keep"):
            print(f"\n{stack.how_to_remove()}", flush=True)
        else:
            with step("docker compose down -v"):
                stack.remove()


@pytest.fixture(scope="session")
def airflow(compose: ComposeStack, deadline: Deadline) -> AirflowRest:
    """The stack's REST API, logged in as the admin, once the pipeline is parsed and unpaused."""
    with step(f"wait for {DAG_ID} to be parsed"):
        api = wait_until(
            "a REST API token", lambda: AirflowRest.login(compose.airflow_url, *compose.login), deadline.limit(120)
        )
        api.wait_for_dag(DAG_ID, deadline.limit(180))
    with step(f"unpause {DAG_ID}"):
        api.patch(f"/dags/{DAG_ID}", {"is_paused": False})
    return api


@pytest.fixture(scope="session")
def first_run(airflow: AirflowRest, deadline: Deadline) -> str:
    """The id of a default run, triggered through the REST API, that succeeded."""
    run_id = f"compose-test-{int(time.time())}"
    with step("trigger a run through the REST API"):
        airflow.trigger(DAG_ID, run_id, {})
    with step("wait for the run to succeed"):
        run = airflow.wait_for_run(DAG_ID, run_id, deadline.limit(600))
        assert run["state"] == "success", f"{DAG_ID} run {run_id} {run['state']}"
    return run_id


@pytest.fixture(scope="session")
def mlflow_client(compose: ComposeStack) -> Iterator[MlflowClient]:
    """MLflow's client on the stack's server, logged in as the worker's tasks are (the admin of .env), with their
    bounded retries: seconds, not minutes, per request."""
    # sagemaker-mlflow's request-header provider fails for any URI but an ARN, and MLflow warns on every request.
    headers_log = logging.getLogger("mlflow.tracking.request_header.registry")
    level = headers_log.level
    headers_log.setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as env:
        for name, value in CLIENT_LIMITS.items():
            env.setenv(name, value)
        username, password = compose.mlflow_login
        env.setenv("MLFLOW_TRACKING_USERNAME", username)
        env.setenv("MLFLOW_TRACKING_PASSWORD", password)
        yield MlflowClient(tracking_uri=compose.mlflow_url)
    headers_log.setLevel(level)
