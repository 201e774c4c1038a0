"""The processes of `make bench-serve`: a server started in its own process group on 127.0.0.1 and a free port,
timed until /ping answers 200 and always stopped with its whole group; Locust runs against it; small HTTP helpers.
Everything they print goes to the bench's log (LOG)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from local_airflow.process_groups import stop as stop_groups

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOG = REPO / ".local" / "bench-serve.log"
LOCUSTFILE = Path(__file__).resolve().parent / "serve_load.py"
READY_TIMEOUT = 180.0  # seconds from process start to /ping 200
STOP_TIMEOUT = 20.0  # seconds after SIGTERM before SIGKILL
MAX_REQUESTS = 100_000  # per Locust run, whatever its run time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def log_line(text: str) -> None:
    with LOG.open("a") as log:
        log.write(f"\n===== {time.strftime('%H:%M:%S')} {text}\n")


def request(url: str, body: bytes | None = None, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """GET (or POST a JSON body): status, headers (lower-case names), body; a refused connection is status 0."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=timeout) as answer:  # noqa: S310
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}, b""


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """In its own session: Ctrl-C reaches only the bench, whose `finally` stops the group."""
    with LOG.open("ab") as log:
        return subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


@contextlib.contextmanager
def server(name: str, launch: Callable[[int], tuple[list[str], dict[str, str]]]) -> Iterator[tuple[str, float]]:
    """The server that `launch(port)` names (command, environment) started, up to its first /ping 200: yields its
    URL and the seconds from process start to ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command, env = launch(port)
    log_line(f"{name}: {' '.join(command)}")
    started = time.monotonic()
    process = spawn(command, env)
    try:
        while request(f"{url}/ping", timeout=2)[0] != 200:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode} before it was ready; see {LOG}")
            if time.monotonic() - started > READY_TIMEOUT:
                raise RuntimeError(f"{name} was not ready within {READY_TIMEOUT:.0f} s; see {LOG}")
            time.sleep(0.05)
        yield url, time.monotonic() - started
    finally:
        stop_groups({name: process}, STOP_TIMEOUT)
        log_line(f"{name}: stopped")


def workers_serving(url: str) -> list[str]:
    """The version each worker of this project's server serves, from /metrics (one gauge per worker process)."""
    status, _, page = request(f"{url}/metrics")
    if status != 200:
        return []
    return [line.rsplit(" ", 1)[1] for line in page.decode().splitlines()
            if line.startswith("model_server_model_version{")]  # fmt: skip


def wait_for_version(url: str, version: str, workers: int, body: bytes, timeout: float) -> float | None:
    """Seconds until every worker serves `version` and an answer carries it in X-Model-Version; None if not in time."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        gauges = workers_serving(url)
        if len(gauges) >= workers and all(float(value) == float(version) for value in gauges):
            status, headers, _ = request(f"{url}/invocations", body)
            if status == 200 and headers.get("x-model-version") == version:
                return time.monotonic() - started
        time.sleep(0.1)
    return None


@contextlib.contextmanager
def load(url: str, users: int, body: Path, seconds: float) -> Iterator[Callable[..., dict[str, Any]]]:
    """Locust headless against `url`: `users` users started at once, for at most `seconds` and MAX_REQUESTS
    requests. Yields a function that waits for it to end (stopping it first if asked) and returns serve_load.py's
    summary; Locust is stopped in any case."""
    result = Path(tempfile.mkstemp(prefix="bench-serve-", suffix=".json")[1])
    env = os.environ | {"BENCH_SERVE_BODY": str(body), "BENCH_SERVE_RESULT": str(result),
                        "BENCH_SERVE_MAX_REQUESTS": str(MAX_REQUESTS)}  # fmt: skip
    command = [str(BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "--users", str(users),
               "--spawn-rate", str(users), "--run-time", f"{seconds:g}s", "--host", url, "--only-summary",
               "--stop-timeout", "5", "--loglevel", "WARNING"]  # fmt: skip
    log_line(f"locust: {users} users, {body.name}, at most {seconds:g} s against {url}")
    process = spawn(command, env)

    def finish(now: bool = False) -> dict[str, Any]:
        if now:
            os.killpg(process.pid, signal.SIGTERM)  # Locust stops its users and writes its summary
        process.wait(timeout=seconds + 60)
        if not result.stat().st_size:
            raise RuntimeError(f"Locust wrote no summary (exit code {process.returncode}); see {LOG}")
        return dict(json.loads(result.read_text()))

    try:
        yield finish
    finally:
        if process.poll() is None:
            stop_groups({"locust": process}, STOP_TIMEOUT)
        result.unlink(missing_ok=True)
