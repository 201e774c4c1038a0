"""scripts/local_ui.py (`make ui`) without starting Airflow: what it binds to. (Stopping: test_process_groups.py.)"""

from __future__ import annotations

import socket
from pathlib import Path

import local_ui
import pytest

BIND = "127.0.0.1"


def test_every_airflow_listener_is_on_loopback_and_the_nav_link_points_at_the_local_mlflow(tmp_path: Path):
    everywhere = "0.0.0.0"  # noqa: S104 (what must not win)
    base = {"PATH": "/usr/bin", "AIRFLOW__API__HOST": everywhere, "AIRFLOW__CORE__DAGS_FOLDER": "/my/dags"}
    env = local_ui.airflow_env(tmp_path, 18080, "http://127.0.0.1:15000", base)

    assert env["AIRFLOW__API__HOST"] == BIND
    assert env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST"] == BIND
    assert env["ML_PIPELINE_MLFLOW_UI_URL"] == "http://127.0.0.1:15000"
    assert env["AIRFLOW_HOME"] == str(tmp_path)
    passwords = tmp_path / "simple_auth_manager_passwords.json.generated"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(passwords)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/my/dags"  # the caller's settings win over the defaults
    assert env["PATH"].endswith("/usr/bin")
    # Airflow's task log servers cannot be bound to loopback (they listen on every interface): never started.
    assert "--skip-serve-logs" in local_ui.AIRFLOW_COMPONENTS["scheduler"]
    assert "--skip-serve-logs" in local_ui.AIRFLOW_COMPONENTS["triggerer"]


def test_without_a_local_mlflow_no_link_is_configured(tmp_path: Path):
    assert "ML_PIPELINE_MLFLOW_UI_URL" not in local_ui.airflow_env(tmp_path, 8080, None, {})


def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind((BIND, 0))
        busy.listen()
        port = busy.getsockname()[1]
        running = local_ui.running_ui(tmp_path, port, tracking_uri="https://mlflow.example")
        with pytest.raises(RuntimeError, match=f"port {port} on 127.0.0.1 is in use"), running:
            pass
