"""The throwaway stack the compose test runs on: its own compose project, free host ports and fresh secrets, so that
it never touches `make up`'s stack or .env; the cron schedule is off, so the only DAG runs are the test's own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from compose_env import generated_env
from step_timing import Deadline

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "ml-pipeline-test"
WORKER = "airflow-worker"
DAG_ID = "classification_pipeline"
MODEL_NAME = "wine-classifier"
BUCKET = "ml-pipeline-artifacts"


class ComposeStack:
    """`docker compose` on the test's project; every command is bounded by the session's deadline."""

    def __init__(self, airflow_port: int, mlflow_port: int, serve_port: int, deadline: Deadline) -> None:
        self.secrets = generated_env()
        self.airflow_port, self.mlflow_port, self.serve_port = airflow_port, mlflow_port, serve_port
        ports = {
            "AIRFLOW_UI_PORT": str(airflow_port),
            "MLFLOW_UI_PORT": str(mlflow_port),
            "SERVE_PORT": str(serve_port),
        }
        self.env = {**os.environ, **self.secrets, **ports, "AIRFLOW_USE_JOB_SCHEDULE": "false"}
        self.deadline = deadline

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"

    @property
    def login(self) -> tuple[str, str]:
        return self.secrets["AIRFLOW_ADMIN_USERNAME"], self.secrets["AIRFLOW_ADMIN_PASSWORD"]

    @property
    def mlflow_login(self) -> tuple[str, str]:
        return self.secrets["MLFLOW_ADMIN_USERNAME"], self.secrets["MLFLOW_ADMIN_PASSWORD"]

    def run(self, *args: str, capture: bool = False, check: bool = True, timeout: float | None = None) -> str:
        """Runs `docker compose <args>`; its output when `capture`. Fails on a non-zero exit when `check`."""
        command = ["docker", "compose", "--project-directory", str(ROOT), "-p", PROJECT, "--progress", "quiet", *args]
        result = subprocess.run(
            command,
            env=self.env,
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            timeout=timeout or self.deadline.remaining(),
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker compose {' '.join(args)} exited with {result.returncode}")
        return result.stdout or ""

    def run_docker(self, *args: str) -> str:
        """`docker <args>` (not compose) on the same engine, bounded like the rest; its output."""
        result = subprocess.run(["docker", *args], env=self.env, text=True, stdout=subprocess.PIPE, check=True,
                                timeout=min(120, self.deadline.remaining()))  # fmt: skip
        return result.stdout.strip()

    def print_state_and_logs(self) -> None:
        """What a failure needs to be understood: each container's state and the end of every service's log."""
        self.run("ps", "-a", check=False, timeout=120)
        self.run("logs", "--no-color", "--tail", "50", check=False, timeout=120)

    def remove(self) -> None:
        """Containers, networks and volumes; with its own bound, as the session's may be spent."""
        self.run("down", "-v", "--remove-orphans", check=False, timeout=300)

    def how_to_remove(self) -> str:
        (username, password), (mlflow_username, mlflow_password) = self.login, self.mlflow_login
        return (
            f"stack left running, Airflow login {username} / {password}, MLflow login {mlflow_username} / "
            f"{mlflow_password}; remove: docker compose -p {PROJECT} down -v"
        )
