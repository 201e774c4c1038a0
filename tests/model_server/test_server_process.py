"""The server as `make serve` starts it: worker processes on 127.0.0.1, each following the alias; swaps under load
without a failed request; SIGTERM lets requests in flight finish; bad settings stop it with one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_runs import MODEL
from serving_helpers import CSV_BODY, GOOD, OTHER, ask, move_champion, ready, wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def start_server(registry, free_port, tmp_path) -> Iterator:
    started: list[subprocess.Popen] = []

    def start(**settings: str) -> tuple[subprocess.Popen, int]:
        port = free_port()
        env = os.environ | {"MLFLOW_TRACKING_URI": registry, "MODEL_SERVER_PORT": str(port),
                            "MODEL_SERVER_WORKERS": "2", "MODEL_SERVER_POLL_SECONDS": "0.5"}  # fmt: skip
        env |= {f"MODEL_SERVER_{name.upper()}": value for name, value in settings.items()}
        log = (tmp_path / f"server-{port}.log").open("w")
        process = subprocess.Popen([sys.executable, "-m", "serving"], cwd=REPO, env=env, stdout=log, stderr=log,
                                   start_new_session=True)  # fmt: skip
        started.append(process)
        wait_until(lambda: ready(port) or process.poll() is not None, timeout=90, what="the server's readiness")
        assert process.poll() is None, (tmp_path / f"server-{port}.log").read_text()
        return process, port

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def worker_versions(port: int) -> dict[str, str]:
    page = ask(port, path="/metrics")[2].decode()
    return {line.split('pid="')[1].split('"')[0]: line.rsplit(" ", 1)[1] for line in page.splitlines()
            if line.startswith("model_server_model_version{")}  # fmt: skip


def test_every_worker_follows_the_alias_and_swaps_under_load_without_a_failed_request(start_server):
    _, port = start_server()
    wait_until(lambda: set(worker_versions(port).values()) == {"1.0"} and len(worker_versions(port)) == 2,
               what="both workers serving version 1")  # fmt: skip
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            status, headers, _ = ask(port, "POST", "/invocations", CSV_BODY)
            answers.append((status, headers.get("x-model-version", "")))

    clients = [threading.Thread(target=keep_asking) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        for version in (OTHER, GOOD, OTHER):
            move_champion(version)
            wait_until(lambda v=version: set(worker_versions(port).values()) == {f"{v}.0"}, timeout=30,
                       what=f"every worker serving version {version}")  # fmt: skip
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
    assert answers and {status for status, _ in answers} == {200}
    assert {version for _, version in answers} == {GOOD, OTHER}


def whole_answer(connection: socket.socket) -> str:
    """Head and body of one HTTP answer, which may arrive in several pieces."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
        piece = connection.recv(65536)
        if not piece:
            break
        data += piece
    return data.decode()


def _content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].decode().lower().splitlines():
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0


def test_sigterm_lets_a_request_in_flight_finish_and_then_stops(start_server):
    process, port = start_server(model_uri=f"models:/{MODEL}/{GOOD}", graceful_stop_seconds="20")
    head = f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: {len(CSV_BODY)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head.encode() + CSV_BODY[:50])  # the request has begun; the rest follows after SIGTERM
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGTERM)
        time.sleep(1)
        connection.sendall(CSV_BODY[50:])
        answer = whole_answer(connection)
    assert answer.startswith("HTTP/1.1 200"), answer
    assert '"predictions": [0, 0, 0, 0, 0]' in answer
    assert process.wait(timeout=30) == 0
    with pytest.raises(OSError):
        ask(port)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"MODEL_SERVER_WORKERS": "0"}, "MODEL_SERVER_WORKERS: Input should be greater than or equal to 1"),
        ({"MODEL_SERVER_MODEL_URI": "/opt/ml/model"},
         "a model directory needs MODEL_SERVER_MODEL_NAME and MODEL_SERVER_MODEL_VERSION"),
        ({"MODEL_SERVER_MODEL_URI": "models:/wine"},
         "MODEL_SERVER_MODEL_URI 'models:/wine' should be models:/<name>@<alias>, models:/<name>/<version> or a"),
        ({"ML_PIPELINE_MODEL_NAME": "a/b"}, "model_name = 'a/b' (from environment variable ML_PIPELINE_MODEL_NAME)"),
    ],
)  # fmt: skip
def test_bad_settings_stop_the_server_with_one_line(registry, settings, message):
    env = os.environ | {"MLFLOW_TRACKING_URI": registry} | settings
    done = subprocess.run([sys.executable, "-m", "serving"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith(f"error: {message}")
