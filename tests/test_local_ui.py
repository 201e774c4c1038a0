"""local_airflow/ui_servers.py (`make ui`) without starting Airflow: what it binds to. (Stopping:
test_process_groups.py.)"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from local_airflow import ui_servers

BIND = "127.0.0.1"


def test_every_airflow_listener_is_on_loopback_and_the_nav_link_points_at_the_local_mlflow(tmp_path: Path):
    everywhere = "0.0.0.0"  # noqa: S104 (what must not win)
    base = {"PATH": "/usr/bin", "AIRFLOW__API__HOST": everywhere, "AIRFLOW__CORE__DAGS_FOLDER": "/my/dags"}
    env = ui_servers.airflow_env(tmp_path, 18080, "http://127.0.0.1:15000", base)

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
    assert "--skip-serve-logs" in ui_servers.AIRFLOW_COMPONENTS["scheduler"]
    assert "--skip-serve-logs" in ui_servers.AIRFLOW_COMPONENTS["triggerer"]


def test_without_a_local_mlflow_no_link_is_configured(tmp_path: Path):
    assert "ML_PIPELINE_MLFLOW_UI_URL" not in ui_servers.airflow_env(tmp_path, 8080, None, {})


def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind((BIND, 0))
        busy.listen()
        port = busy.getsockname()[1]
        running = ui_servers.running_ui(tmp_path, port, tracking_uri="https://mlflow.example")
        with pytest.raises(RuntimeError, match=f"port {port} on 127.0.0.1 is in use"), running:
            pass


def started(tmp_path: Path, code: str) -> ui_servers.LocalUi:
    """A LocalUi whose one "server" is a Python process running `code`."""
    ui = ui_servers.LocalUi("http://127.0.0.1:1", None, tmp_path / "password", {"api-server": tmp_path / "api.log"})
    ui.processes["api-server"] = subprocess.Popen([sys.executable, "-c", code])
    return ui


def test_a_server_that_exits_during_startup_fails_at_once_naming_its_log(tmp_path: Path):
    ui = started(tmp_path, "raise SystemExit(3)")
    ui.processes["api-server"].wait()
    with pytest.raises(RuntimeError, match=r"api-server stopped during startup \(exit 3\); see .*api\.log"):
        ui_servers.wait_until_up(ui, {"api-server": "http://127.0.0.1:1/health"}, timeout=60)


def test_a_server_that_never_answers_fails_when_the_startup_bound_ends(tmp_path: Path, free_port):
    ui = started(tmp_path, "import time; time.sleep(60)")
    url = f"http://127.0.0.1:{free_port()}/health"
    try:
        with pytest.raises(RuntimeError, match=rf"api-server did not answer {url} within 1 s; see .*api\.log"):
            ui_servers.wait_until_up(ui, {"api-server": url}, timeout=1)
    finally:
        ui.processes["api-server"].kill()
        ui.processes["api-server"].wait()
