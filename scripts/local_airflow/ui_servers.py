"""The servers of `make ui`: the Airflow UI (and the MLflow UI when tracking is local) on 127.0.0.1.

Airflow runs as the four components `airflow standalone` starts, but started one by one: Airflow 3.3.1's task log
servers (8793/8794) listen on every interface whatever the settings, and `standalone` cannot skip them. They only
serve log files to API servers on other machines; here the API server reads the files itself.
Each server runs in its own session, its output in a log file; process_groups stops them in a bounded time, even
if the script that started them dies first.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import tenacity

from . import process_groups
from .airflow_internals import INTERNALS
from .home import REPO

HOST = "127.0.0.1"
# The triggerer sometimes needs 10 s (its runner's shutdown timeout) and a loaded laptop a few more.
GRACE_SECONDS = 25.0
STARTUP_SECONDS = 180.0
AIRFLOW_COMPONENTS = {  # name: arguments of `airflow`
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}


@dataclass
class LocalUi:
    """What `running_ui` started: the URLs to open, the admin password file, each server's log file."""

    airflow_url: str
    mlflow_url: str | None  # None: the tracking URI is remote, no local MLflow UI
    password_file: Path
    logs: dict[str, Path]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    def exited(self) -> str | None:
        """The name of a server that has stopped on its own, if any."""
        return next((name for name, proc in self.processes.items() if proc.poll() is not None), None)


def configured_tracking_uri() -> str:
    """The pipeline's tracking URI (what `make run` writes to), so the UI shows its runs."""
    sys.path.insert(0, str(REPO / "dags"))
    from ml_pipeline.config.layers import load_config

    return load_config().mlflow_tracking_uri


def airflow_env(home: Path, port: int, mlflow_url: str | None, base: Mapping[str, str]) -> dict[str, str]:
    """The Airflow components' environment: the repository's folders unless `base` says otherwise; every
    listener on 127.0.0.1; what `airflow standalone` forces (LocalExecutor, simple auth manager)."""
    env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **base,
        "AIRFLOW_HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', os.defpath)}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": INTERNALS["SimpleAuthManager"].path,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json.generated"),
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        # where tasks reach the API server (the default, localhost:8080, is wrong for any other port)
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{port}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": HOST,  # in case a config enables it
    }
    if mlflow_url:
        env["ML_PIPELINE_MLFLOW_UI_URL"] = mlflow_url  # the plugin's Browse > MLflow link
    return env


def check_port_free(port: int) -> None:
    """Refuse a port another server listens on (it could answer the readiness check); like the servers,
    accept one a stopped server left in TIME_WAIT."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            raise RuntimeError(f"port {port} on {HOST} is in use; choose another one") from None


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (http URLs built here)
            return True
    except OSError:
        return False


def wait_until_up(ui: LocalUi, checks: dict[str, str], timeout: float) -> None:
    """Wait until each server answers its health URL; fail, naming its log, if one exits or is too slow."""
    pending = dict(checks)

    def still_starting() -> bool:
        if name := ui.exited():
            code = ui.processes[name].returncode
            raise RuntimeError(f"{name} stopped during startup (exit {code}); see {ui.logs[name]}")
        for name in [name for name, url in pending.items() if answers(url)]:
            del pending[name]
        return bool(pending)

    polling = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout), wait=tenacity.wait_fixed(0.5), retry=tenacity.retry_if_result(bool)
    )
    try:
        polling(still_starting)
    except tenacity.RetryError:
        name, url = next(iter(pending.items()))
        raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f} s; see {ui.logs[name]}") from None


@contextmanager
def running_ui(
    home: Path,
    airflow_port: int = 8080,
    mlflow_port: int = 5000,
    *,
    tracking_uri: str | None = None,
    startup_timeout: float = STARTUP_SECONDS,
    grace: float = GRACE_SECONDS,
) -> Iterator[LocalUi]:
    """Start the UIs, yield once both answer HTTP, and always stop them (at most `grace` s), even on errors.

    `home` is the AIRFLOW_HOME; its metadata database must be migrated (`airflow db migrate`). `tracking_uri`
    defaults to the pipeline's (`load_config()`); a remote one starts no MLflow server (`mlflow_url` is None).
    Raises RuntimeError when a port is taken or a server does not come up (naming its log file).
    """
    home = Path(home).resolve()
    tracking_uri = tracking_uri or configured_tracking_uri()
    mlflow_url = f"http://{HOST}:{mlflow_port}" if tracking_uri.startswith(("sqlite:", "file:", "/")) else None
    commands = {name: [sys.executable, "-m", "airflow", *args] for name, args in AIRFLOW_COMPONENTS.items()}
    check_port_free(airflow_port)
    if mlflow_url:
        check_port_free(mlflow_port)
        commands["mlflow"] = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri]
        commands["mlflow"] += ["--host", HOST, "--port", str(mlflow_port), "--workers", "1"]  # one user
    env = airflow_env(home, airflow_port, mlflow_url, os.environ)
    # MLflow's job runner (GenAI evaluations, trace rollups) is not needed to browse the registry; its 7 workers
    # take a minute to start on a laptop and hold up the stop while they do.
    mlflow_env = os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    password_file = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    logs = {name: home / "ui-logs" / f"{name}.log" for name in commands}
    ui = LocalUi(f"http://{HOST}:{airflow_port}", mlflow_url, password_file, logs)
    (home / "ui-logs").mkdir(parents=True, exist_ok=True)
    with ExitStack() as cleanup:  # runs in reverse: stop the servers, dismiss the watchdog
        watch = cleanup.enter_context(process_groups.watchdog(grace))
        cleanup.callback(process_groups.stop, ui.processes, grace)
        for name, command in commands.items():
            with logs[name].open("ab") as log:
                ui.processes[name] = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                    env=env if name in AIRFLOW_COMPONENTS else mlflow_env, start_new_session=True,
                )  # fmt: skip
            watch(ui.processes[name].pid)
        checks = {"api-server": f"{ui.airflow_url}/api/v2/monitor/health"}
        if mlflow_url:
            checks["mlflow"] = f"{mlflow_url}/health"
        wait_until_up(ui, checks, startup_timeout)
        yield ui
