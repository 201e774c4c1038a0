"""scripts/local_ui.py (`make ui`) without starting Airflow: what it binds to, and how it stops process groups."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import local_ui
import pytest

BIND = "127.0.0.1"


def process_group(script: str) -> subprocess.Popen:
    """A leader running `script` in its own session, with two children in its group."""
    return subprocess.Popen(
        ["bash", "-c", f"{script}; sleep 60 & sleep 60 & wait"], start_new_session=True, stdin=subprocess.DEVNULL
    )


def gone_soon(pgid: int) -> bool:
    deadline = time.monotonic() + 3
    while local_ui.group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not local_ui.group_alive(pgid)


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


def test_a_group_that_obeys_sigterm_stops_at_once():
    leader = process_group("trap 'kill $(jobs -p); exit 0' TERM")
    time.sleep(0.3)
    started = time.monotonic()
    local_ui.stop_groups([leader.pid], grace=10, reap=leader.poll)
    assert time.monotonic() - started < 3
    assert gone_soon(leader.pid)


def test_a_group_that_ignores_sigterm_is_killed_when_the_grace_period_ends():
    leader = process_group("trap '' TERM")
    time.sleep(0.3)
    started = time.monotonic()
    local_ui.stop_groups([leader.pid], grace=1, reap=leader.poll)
    leader.wait(timeout=5)
    assert 1 <= time.monotonic() - started < 4
    assert leader.returncode == -signal.SIGKILL
    assert gone_soon(leader.pid)  # the children, killed too, are reaped by init


@pytest.mark.parametrize("finished", [True, False])
def test_the_watchdog_stops_the_servers_only_when_their_starter_did_not(finished: bool):
    leader = process_group("trap '' TERM")
    watchdog = subprocess.Popen(
        [sys.executable, local_ui.__file__, "--watchdog", "--grace", "0.5"], stdin=subprocess.PIPE, text=True
    )
    watchdog.communicate(f"{leader.pid}\n" + ("done\n" if finished else ""), timeout=10)  # then stdin closes
    time.sleep(0.3)
    assert (leader.poll() is None) is finished
    local_ui.stop_groups([leader.pid], grace=0, reap=leader.poll)
    leader.wait(timeout=5)
