"""Airflow's REST API as tests see it: a token from POST /auth/token, calls under /api/v2, and waits that poll.

Shared by the browser tests (tests/ui) and the docker-compose stack test (tests/compose). Waits go through tenacity;
a connection error or a request that times out counts as "not yet" (a busy machine), any other error fails at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, retry_if_result, stop_after_delay, wait_fixed

HTTP_TIMEOUT = 60
NOT_YET = (requests.ConnectionError, requests.Timeout)
FINISHED = ("success", "failed")


class AirflowRestError(Exception):
    """Airflow answered with an error status; the message has the call, the status and the start of the body."""


def wait_until[T](what: str, probe: Callable[[], T], timeout: float, interval: float = 2.0) -> T:
    """probe()'s first truthy result; TimeoutError naming `what` after `timeout` seconds."""

    def timed_out(state: RetryCallState) -> None:
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}") from state.outcome.exception()

    def say_not_yet(state: RetryCallState) -> None:
        if state.outcome.failed:
            print(f"    (no answer yet: {type(state.outcome.exception()).__name__})", flush=True)

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_exception_type(NOT_YET) | retry_if_result(lambda result: not result),
        before_sleep=say_not_yet,
        retry_error_callback=timed_out,
    )
    return retrying(probe)


def label(task: dict[str, Any]) -> str:
    """`task_id`, or `task_id[name]` for a mapped instance."""
    if task.get("map_index", -1) < 0:
        return task["task_id"]
    return f"{task['task_id']}[{task.get('rendered_map_index') or task['map_index']}]"


class AirflowRest:
    """A logged-in session on one Airflow api-server."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def login(cls, url: str, username: str, password: str) -> AirflowRest:
        response = requests.post(
            f"{url}/auth/token", json={"username": username, "password": password}, timeout=HTTP_TIMEOUT
        )
        raise_for_status(response, "POST /auth/token")
        return cls(url, response.json()["access_token"])

    def call(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        """The JSON answer of `method /api/v2<path>`; None for a 404 when `missing_ok` (not there yet)."""
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=HTTP_TIMEOUT, **kwargs)
        if missing_ok and response.status_code == 404:
            return None
        raise_for_status(response, f"{method} /api/v2{path}")
        return response.json()

    def get(self, path: str, *, missing_ok: bool = False, **params: Any) -> Any:
        return self.call("GET", path, missing_ok=missing_ok, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("POST", path, json=body)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("PATCH", path, json=body)

    def run_ids(self, dag_id: str) -> list[str]:
        return [run["dag_run_id"] for run in self.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]]

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> None:
        self.post(f"/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf})
        print(f"    triggered {dag_id} {run_id} with conf {json.dumps(conf)}", flush=True)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int | None = None) -> dict[str, Any]:
        """A task instance; {} while a mapped one does not exist yet (its upstream has not expanded it)."""
        mapped = "" if map_index is None else f"/{map_index}"
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}{mapped}"
        return self.get(path, missing_ok=map_index is not None) or {}

    def mapped_instances(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped")["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        value = self.get(path, map_index=map_index)["value"]
        return json.loads(value) if isinstance(value, str) else value

    def wait_for_dag(self, dag_id: str, timeout: float) -> None:
        """Until the DAG processor has loaded `dag_id`; an import error in any DAG file fails at once."""

        def parsed() -> bool:
            errors = self.get("/importErrors")["import_errors"]
            if errors:
                raise AirflowRestError(f"DAG import errors: {json.dumps(errors, indent=2)}")
            return self.get(f"/dags/{dag_id}", missing_ok=True) is not None

        wait_until(f"{dag_id} in the API", parsed, timeout)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """The run once it has finished, printing its tasks' states as they change (and failed tasks' log ends)."""
        last_summary = ""

        def finished() -> dict[str, Any] | None:
            nonlocal last_summary
            summary = ", ".join(f"{label(task)}={task['state']}" for task in self.task_instances(dag_id, run_id))
            if summary != last_summary:
                print(f"    {summary}", flush=True)
                last_summary = summary
            run = self.get(f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in FINISHED else None

        run = wait_until(f"{dag_id} run {run_id} to finish", finished, timeout, interval=3)
        if run["state"] == "failed":
            self.print_failed_task_logs(self.task_instances(dag_id, run_id))
        return run

    def print_failed_task_logs(self, tasks: list[dict[str, Any]], lines: int = 30) -> None:
        """The end of each failed task's log, so that a failed run says why."""
        for task in (task for task in tasks if task["state"] == "failed"):
            print(f"    --- {label(task)} try {task['try_number']} (last {lines} log lines)", flush=True)
            try:
                messages = self.log_messages(task)
            except (AirflowRestError, requests.RequestException) as error:
                print(f"    (no log: {error})", flush=True)
                continue
            for message in messages[-lines:]:
                print(f"    | {message[:2000]}", flush=True)

    def log_messages(self, task: dict[str, Any]) -> list[str]:
        path = f"/dags/{task['dag_id']}/dagRuns/{task['dag_run_id']}/taskInstances/{task['task_id']}"
        content = self.call(
            "GET",
            f"{path}/logs/{task['try_number']}",
            headers={"Accept": "application/json"},
            params={"map_index": task["map_index"]},
        )["content"]
        fields = ("timestamp", "level", "event", "error_detail")
        return [
            " ".join(str(entry.get(key, "")) for key in fields).strip() if isinstance(entry, dict) else str(entry)
            for entry in content
        ]


def raise_for_status(response: requests.Response, call: str) -> None:
    if not response.ok:
        raise AirflowRestError(f"{call}: HTTP {response.status_code} {response.text[:500]}")
