"""The server as its image runs it: a client of an MLflow tracking server over HTTP with only what
serving/requirements.txt installs (mlflow-skinny, not mlflow), so nothing on its path may need MLflow's server side."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_helpers import CSV_BODY, ask, ready, wait_until

REPO = Path(__file__).resolve().parents[2]
# What `mlflow` installs beyond `mlflow-skinny` (its server, UI and SQL store), as top-level module names.
SERVER_ONLY_MODULES = ("sqlalchemy", "alembic", "flask", "flask_cors", "graphene", "gunicorn", "huey", "docker")
# None in sys.modules: `import` fails and importlib.util.find_spec answers None, as when the package is not installed.
BLOCKER = f"import sys\nsys.modules.update(dict.fromkeys({SERVER_ONLY_MODULES!r}))\n"


@pytest.fixture
def skinny_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a process (and the workers it spawns) in which MLflow's server-side packages are missing."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    return os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}


@pytest.fixture
def tracking_server(registry: str, free_port, tmp_path: Path) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 over the test registry (as the compose stack's MLflow service); its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "mlflow-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", registry, "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        cwd=tmp_path, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: _answers(f"{url}/health") or server.poll() is not None, timeout=90, what="MLflow's start")
        assert server.poll() is None, (tmp_path / "mlflow-server.log").read_text()
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (a loopback URL the test made)
            return answer.status == 200
    except OSError:
        return False


def test_the_blocker_hides_mlflows_server_side(skinny_env: dict[str, str]) -> None:
    found = subprocess.run([sys.executable, "-c", "import sqlalchemy"], env=skinny_env, capture_output=True, text=True)
    assert found.returncode != 0 and "ModuleNotFoundError" in found.stderr


def test_it_starts_and_scores_the_champion_from_a_tracking_server_with_mlflow_skinny_alone(
    tracking_server: str, skinny_env: dict[str, str], free_port, tmp_path: Path
) -> None:
    port = free_port()
    env = skinny_env | {"MLFLOW_TRACKING_URI": tracking_server, "MODEL_SERVER_PORT": str(port),
                        "MODEL_SERVER_WORKERS": "1"}  # fmt: skip
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "serving"], cwd=REPO, env=env, stdout=log, stderr=log,
                                  start_new_session=True)  # fmt: skip
    try:
        wait_until(lambda: ready(port) or server.poll() is not None, timeout=90, what="the server's readiness")
        assert server.poll() is None, log_path.read_text()
        status, _, body = ask(port, "POST", "/invocations", CSV_BODY)
        assert status == 200, body
        assert len(json.loads(body)["predictions"]) == 5
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
