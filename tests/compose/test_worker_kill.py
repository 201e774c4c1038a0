"""A worker that dies mid-task loses nothing: the task is retried on the restarted worker and the run succeeds."""

from __future__ import annotations

import time
from functools import partial

import pytest
from airflow_rest import AirflowRest, wait_until
from compose_stack import DAG_ID, WORKER, ComposeStack
from step_timing import Deadline, step

pytestmark = pytest.mark.compose


def test_train_model_is_retried_after_its_worker_is_killed(
    request: pytest.FixtureRequest, airflow: AirflowRest, compose: ComposeStack, deadline: Deadline
):
    if request.config.getoption("compose_skip_kill"):
        pytest.skip("--compose-skip-kill")
    run_id = f"compose-test-worker-kill-{int(time.time())}"
    with step("trigger a run with a slow train_model"):
        airflow.trigger(DAG_ID, run_id, slow_training(request.config.getoption("compose_kill_iterations")))
    with step("wait until train_model runs"):
        running = partial(train_model_running, airflow, run_id)
        wait_until("train_model to be running", running, deadline.limit(300), interval=1)
        time.sleep(2)  # well into the training, not at its start
        assert running(), "train_model finished before the worker could be killed; raise --compose-kill-iterations"
    with step(f"kill the {WORKER} container (SIGKILL) and start it again"):
        compose.run("kill", "-s", "SIGKILL", WORKER)
        # The worker's healthcheck: 300 s start period, then 6 retries of up to 40 s each.
        compose.run("up", "-d", "--no-deps", "--no-recreate", "--wait", "--wait-timeout", "600", WORKER)
    with step("wait for the retried run to succeed"):
        run = airflow.wait_for_run(DAG_ID, run_id, deadline.limit(900))
        assert run["state"] == "success", f"{DAG_ID} run {run_id} {run['state']}"
        tries = airflow.task_instance(DAG_ID, run_id, "train_model", 0)["try_number"]
        assert tries >= 2, f"train_model succeeded on try {tries}; it should have been retried"
        print(f"    train_model succeeded on try {tries}", flush=True)


def slow_training(iterations: int) -> dict:
    """A slow but small model: saga with tol=0 runs all `iterations` epochs (~50 us each) and stays 3x13 weights.

    (A big random forest is slow to fit too, but then also slow to serialise and upload in persist_model.)
    """
    return {"classifier": "logistic_regression", "hyperparams": {"solver": "saga", "tol": 0, "max_iter": iterations}}


def train_model_running(airflow: AirflowRest, run_id: str) -> bool:
    return airflow.task_instance(DAG_ID, run_id, "train_model", 0).get("state") == "running"
