"""End-to-end test of the local docker-compose stack: the DAG runs on it unchanged and survives a worker crash.

    python scripts/compose_test.py [--timeout 1500] [--keep] [--skip-kill-test]

Brings the stack up (own compose project, free host ports, fresh secrets: it never touches `make up`'s
stack or .env), triggers `classification_pipeline` through the Airflow REST API, checks through
MLflow's REST API that the run's model version exists with the `champion` alias and that its files are
stored by the tracking server, checks the pipeline's artifacts in the S3 endpoint, then kills the Celery
worker container while `train_model` runs and expects the task to be retried and the run to succeed.
The stack is torn down afterwards, also on failure (unless --keep). Every step prints its duration; the
whole run is bounded by --timeout; any failure exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compose_env import generated_env

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "classification_pipeline"
MODEL_NAME = "wine-classifier"
BUCKET = "ml-pipeline-artifacts"
WORKER = "airflow-worker"
HTTP_TIMEOUT = 60


class Failure(Exception):
    """A check failed; the message says which and why."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise Failure("overall time limit reached")
        return left


@contextmanager
def step(name: str) -> Iterator[None]:
    print(f"==> {name}", flush=True)
    started = time.monotonic()
    try:
        yield
    except BaseException:
        print(f"<== {name}: FAILED after {time.monotonic() - started:.1f}s", flush=True)
        raise
    print(f"<== {name}: ok in {time.monotonic() - started:.1f}s", flush=True)


def wait_for(what: str, probe: Callable[[], Any], deadline: Deadline, limit: float, interval: float = 2.0) -> Any:
    """Call probe() until it returns something truthy; fail after `limit` seconds (or the overall deadline).

    A busy machine can make a single request time out: that counts as "not yet", not as a failure.
    """
    end = time.monotonic() + min(limit, deadline.remaining())
    while True:
        try:
            result = probe()
        except (requests.ConnectionError, requests.Timeout) as error:
            print(f"    (no answer yet: {type(error).__name__})", flush=True)
            result = None
        if result:
            return result
        if time.monotonic() >= end:
            raise Failure(f"timed out after {limit:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Compose:
    def __init__(self, project: str, env: dict[str, str], deadline: Deadline) -> None:
        self.base = ["docker", "compose", "--project-directory", str(ROOT), "-p", project, "--progress", "quiet"]
        self.env = env
        self.deadline = deadline

    def run(self, *args: str, capture: bool = False, check: bool = True) -> str:
        result = subprocess.run(
            [*self.base, *args],
            env=self.env,
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            timeout=self.deadline.remaining(),
            check=False,
        )
        if check and result.returncode != 0:
            raise Failure(f"docker compose {' '.join(args)} exited with {result.returncode}")
        return result.stdout or ""


class Airflow:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def login(self, username: str, password: str) -> bool:
        credentials = {"username": username, "password": password}
        response = self.session.post(f"{self.url}/auth/token", json=credentials, timeout=HTTP_TIMEOUT)
        if not response.ok:
            raise Failure(f"POST /auth/token: HTTP {response.status_code} {response.text[:300]}")
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return True

    def call(self, method: str, path: str, *, ok_missing: bool = False, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=HTTP_TIMEOUT, **kwargs)
        if ok_missing and response.status_code == 404:
            return None
        if not response.ok:
            raise Failure(f"{method} /api/v2{path}: HTTP {response.status_code} {response.text[:500]}")
        return response.json()

    def trigger(self, run_id: str, conf: dict[str, Any]) -> None:
        self.call("POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": run_id, "logical_date": None, "conf": conf})
        print(f"    triggered {run_id} with conf {json.dumps(conf)}", flush=True)

    def run_state(self, run_id: str) -> str:
        return self.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]

    def task(self, run_id: str, task_id: str, map_index: int | None = None) -> dict[str, Any]:
        """A task instance; {} while a mapped one does not exist yet (its upstream has not expanded it)."""
        mapped = "" if map_index is None else f"/{map_index}"
        path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}{mapped}"
        return self.call("GET", path, ok_missing=map_index is not None) or {}

    def mapped(self, run_id: str, task_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped"
        return self.call("GET", path)["task_instances"]

    def xcom(self, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        value = self.call("GET", path, params={"map_index": map_index})["value"]
        return json.loads(value) if isinstance(value, str) else value

    def wait_for_success(self, run_id: str, deadline: Deadline, limit: float) -> None:
        last = ""

        def finished() -> str:
            nonlocal last
            tasks = self.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
            states = {label(task): task["state"] for task in tasks}
            summary = ", ".join(f"{task}={state}" for task, state in states.items())
            if summary != last:
                print(f"    {summary}", flush=True)
                last = summary
            state = self.run_state(run_id)
            if state == "failed":
                self.print_failed_task_logs(tasks)
                raise Failure(f"DAG run {run_id} failed ({summary})")
            return state if state == "success" else ""

        wait_for(f"DAG run {run_id} to succeed", finished, deadline, limit, interval=3)

    def print_failed_task_logs(self, tasks: list[dict[str, Any]], lines: int = 30) -> None:
        """The end of each failed task's log, so that a failure in CI says why."""
        for task in tasks:
            if task["state"] != "failed":
                continue
            instance = f"/dags/{DAG_ID}/dagRuns/{task['dag_run_id']}/taskInstances/{task['task_id']}"
            path = f"{instance}/logs/{task['try_number']}"
            headers, params = {"Accept": "application/json"}, {"map_index": task["map_index"]}
            try:
                content = self.call("GET", path, headers=headers, params=params)["content"]
            except (Failure, requests.RequestException) as error:
                print(f"    (no log for {label(task)}: {error})", flush=True)
                continue
            messages = [
                " ".join(str(entry.get(key, "")) for key in ("timestamp", "level", "event", "error_detail")).strip()
                if isinstance(entry, dict)
                else str(entry)
                for entry in content
            ]
            print(f"    --- {label(task)} try {task['try_number']} (last {lines} log lines)", flush=True)
            for message in messages[-lines:]:
                print(f"    | {message[:2000]}", flush=True)


class MLflow:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, endpoint: str, **params: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}{endpoint}", params=params, timeout=HTTP_TIMEOUT)
        if not response.ok:
            raise Failure(f"MLflow GET {endpoint} {params}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()

    def check_version(self, version: str, *, alias: str | None) -> None:
        found = self.get("/api/2.0/mlflow/model-versions/get", name=MODEL_NAME, version=version)
        model_version = found["model_version"]
        if model_version.get("status") != "READY":
            raise Failure(f"{MODEL_NAME} v{version} is {model_version.get('status')}, not READY")
        print(f"    {MODEL_NAME} v{version}: READY, aliases {model_version.get('aliases', [])}", flush=True)
        if alias:
            holder = self.get("/api/2.0/mlflow/registered-models/alias", name=MODEL_NAME, alias=alias)["model_version"]
            if holder["version"] != version:
                raise Failure(f"alias {alias!r} points at v{holder['version']}, expected v{version}")
            print(f"    alias {alias!r} -> v{version}", flush=True)
        # The model's files must be in the tracking server's artifact store (proxied, mlflow-artifacts:/).
        source = model_version.get("source", "")
        if not source.startswith("models:/m-"):
            raise Failure(f"{MODEL_NAME} v{version} does not come from a logged model: source {source!r}")
        model_id = source.removeprefix("models:/")
        artifact_uri = self.get(f"/api/2.0/mlflow/logged-models/{model_id}")["model"]["info"]["artifact_uri"]
        if not artifact_uri.startswith("mlflow-artifacts:/"):
            raise Failure(f"model {model_id} is stored at {artifact_uri}, not in the server's proxied store")
        path = artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/")
        files = {f["path"] for f in self.get("/api/2.0/mlflow-artifacts/artifacts", path=path).get("files", [])}
        if "MLmodel" not in files:
            raise Failure(f"no MLmodel file under {artifact_uri}: {sorted(files)}")
        print(f"    {artifact_uri}: {', '.join(sorted(files))}", flush=True)


def label(task: dict[str, Any]) -> str:
    """`task_id`, or `task_id[name]` for a mapped instance."""
    if task.get("map_index", -1) < 0:
        return task["task_id"]
    return f"{task['task_id']}[{task.get('rendered_map_index') or task['map_index']}]"


def check_mapped_on_worker(compose: Compose, airflow: Airflow, run_id: str) -> list[dict[str, Any]]:
    """train_model ran once per default candidate, each instance on the Celery worker; returns their results."""
    instances = airflow.mapped(run_id, "train_model")
    worker = compose.run("exec", "-T", WORKER, "hostname", capture=True).strip()
    names = sorted(label(instance) for instance in instances)
    if len(instances) != 3 or any(instance["state"] != "success" for instance in instances):
        raise Failure(f"expected 3 successful train_model instances, got {[(label(i), i['state']) for i in instances]}")
    elsewhere = [label(i) for i in instances if (i.get("hostname") or "").split(".")[0] != worker.split(".")[0]]
    if elsewhere:
        raise Failure(f"{', '.join(elsewhere)} did not run on the worker ({worker})")
    print(f"    {', '.join(names)}: success on {worker}", flush=True)
    return [airflow.xcom(run_id, "train_model", map_index=instance["map_index"]) for instance in instances]


def check_s3_objects(compose: Compose, uris: list[str]) -> None:
    """The pipeline's artifacts are in the S3 endpoint (checked from inside its container; it is not published)."""
    script = (
        "import boto3, sys\n"
        "s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:9000', region_name='us-east-1',"
        " aws_access_key_id='x', aws_secret_access_key='x')\n"
        "for uri in sys.argv[1:]:\n"
        "    bucket, key = uri.removeprefix('s3://').split('/', 1)\n"
        "    size = s3.head_object(Bucket=bucket, Key=key)['ContentLength']\n"
        "    print(f'    {uri}: {size} bytes')\n"
    )
    for uri in uris:
        if not uri.startswith(f"s3://{BUCKET}/"):
            raise Failure(f"artifact {uri} is not in s3://{BUCKET}")
    print(compose.run("exec", "-T", "s3", "python", "-c", script, *uris, capture=True), end="", flush=True)


def kill_worker_during_training(compose: Compose, airflow: Airflow, deadline: Deadline, iterations: int) -> None:
    """A slow but small model: saga with tol=0 runs all `iterations` epochs (~50 us each) and stays 3x13 weights.

    (A big random forest is slow to fit too, but then also slow to serialise and upload in persist_model.)
    """
    run_id = f"compose-test-worker-kill-{int(time.time())}"
    conf = {"classifier": "logistic_regression", "hyperparams": {"solver": "saga", "tol": 0, "max_iter": iterations}}
    with step("trigger a run with a slow train_model"):
        airflow.trigger(run_id, conf)
    with step("wait until train_model runs"):
        wait_for(
            "train_model to be running",
            lambda: airflow.task(run_id, "train_model", 0).get("state") == "running",
            deadline,
            limit=300,
            interval=1,
        )
        time.sleep(2)
        if airflow.task(run_id, "train_model", 0)["state"] != "running":
            raise Failure("train_model finished before the worker could be killed; raise --kill-test-iterations")
    with step(f"kill the {WORKER} container (SIGKILL) and start it again"):
        compose.run("kill", "-s", "SIGKILL", WORKER)
        # The worker's healthcheck: 300 s start period, then 6 retries of up to 40 s each.
        compose.run("up", "-d", "--no-deps", "--no-recreate", "--wait", "--wait-timeout", "600", WORKER)
    with step("wait for the retried run to succeed"):
        airflow.wait_for_success(run_id, deadline, limit=900)
    train = airflow.task(run_id, "train_model", 0)
    if train["try_number"] < 2:
        raise Failure(f"train_model succeeded on try {train['try_number']}; it should have been retried")
    print(f"    train_model succeeded on try {train['try_number']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=1500, help="overall time limit in seconds")
    parser.add_argument("--project", default="ml-pipeline-test", help="docker compose project name")
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    parser.add_argument("--skip-kill-test", action="store_true", help="skip the worker-kill test")
    parser.add_argument("--kill-test-iterations", type=int, default=400_000, help="max_iter of the slow run")
    args = parser.parse_args()
    if not shutil.which("docker"):
        print("docker is not on PATH: the stack needs Docker with the compose plugin", file=sys.stderr)
        return 1

    deadline = Deadline(args.timeout)
    secrets = generated_env()
    ports = {"AIRFLOW_UI_PORT": str(free_port()), "MLFLOW_UI_PORT": str(free_port())}
    env = {**os.environ, **secrets, **ports, "AIRFLOW_USE_JOB_SCHEDULE": "false"}
    compose = Compose(args.project, env, deadline)
    airflow_url = f"http://127.0.0.1:{ports['AIRFLOW_UI_PORT']}"
    mlflow = MLflow(f"http://127.0.0.1:{ports['MLFLOW_UI_PORT']}")
    started = time.monotonic()
    failed = True
    try:
        with step("build images"):
            compose.run("build")
        with step("docker compose up --wait"):
            # As `make up`: longer than the healthchecks' start periods and retries along the dependency chain.
            compose.run("up", "-d", "--wait", "--wait-timeout", "900")
        print(f"    Airflow {airflow_url}   MLflow {mlflow.url}", flush=True)
        with step(f"wait for {DAG_ID} to be parsed"):
            airflow = Airflow(airflow_url)
            login = (secrets["AIRFLOW_ADMIN_USERNAME"], secrets["AIRFLOW_ADMIN_PASSWORD"])
            wait_for("a REST API token", lambda: airflow.login(*login), deadline, limit=120)

            def parsed() -> bool:
                errors = airflow.call("GET", "/importErrors")["import_errors"]
                if errors:
                    raise Failure(f"DAG import errors: {json.dumps(errors, indent=2)}")
                return airflow.call("GET", f"/dags/{DAG_ID}", ok_missing=True) is not None

            wait_for(f"{DAG_ID} in the API", parsed, deadline, limit=180)
        with step(f"unpause {DAG_ID}"):
            airflow.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})

        run_id = f"compose-test-{int(time.time())}"
        with step("trigger a run through the REST API"):
            airflow.trigger(run_id, {})
        with step("wait for the run to succeed"):
            airflow.wait_for_success(run_id, deadline, limit=600)
        with step("check the model version and its champion alias in MLflow"):
            persisted = airflow.xcom(run_id, "persist_model")
            if persisted.get("alias") != "champion":
                raise Failure(f"the first run's version should become champion: {persisted}")
            mlflow.check_version(str(persisted["version"]), alias="champion")
        with step("check persist_model's extra links open the stack's MLflow UI"):
            links = airflow.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/persist_model/links")
            browser_mlflow = f"http://localhost:{ports['MLFLOW_UI_PORT']}/#/"
            expected = f"{browser_mlflow}models/{persisted['model_name']}/versions/{persisted['version']}?"
            if not (links["extra_links"].get("Model version") or "").startswith(expected):
                raise Failure(f"persist_model's 'Model version' link should start with {expected}: {links}")
        with step("check that each candidate trained in its own mapped instance on the Celery worker"):
            trainings = check_mapped_on_worker(compose, airflow, run_id)
        with step("check the run's artifacts in the S3 endpoint"):
            dataset = airflow.xcom(run_id, "get_data", key="dataset")
            models = [training["model_uri"] for training in trainings]
            check_s3_objects(compose, [dataset["train_uri"], dataset["holdout_uri"], *models])

        if not args.skip_kill_test:
            kill_worker_during_training(compose, airflow, deadline, args.kill_test_iterations)
        failed = False
    except (Failure, requests.RequestException, subprocess.TimeoutExpired) as error:
        print(f"FAILED: {error}", file=sys.stderr, flush=True)
    finally:
        if failed:
            compose.deadline = Deadline(120)
            compose.run("ps", "-a", check=False)
            compose.run("logs", "--no-color", "--tail", "50", check=False)
        if args.keep:
            login = f"{secrets['AIRFLOW_ADMIN_USERNAME']} / {secrets['AIRFLOW_ADMIN_PASSWORD']}"
            print(f"stack left running, login {login}; remove: docker compose -p {args.project} down -v", flush=True)
        else:
            with step("docker compose down -v"):
                compose.deadline = Deadline(300)
                compose.run("down", "-v", "--remove-orphans", check=False)
    print(f"compose-test {'FAILED' if failed else 'passed'} in {time.monotonic() - started:.0f}s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
