"""Locust's user for `make bench-serve` (bench/serve.py starts `locust -f bench/serve_load.py --headless`).

Each user POSTs the same JSON body to /invocations as soon as the previous answer is in, on one kept-alive
connection (FastHttpUser). Besides Locust's own statistics (its summary goes to the bench's log) the file keeps every
latency in full precision (Locust's percentiles are rounded to whole milliseconds) and writes, when Locust exits, one
JSON summary: requests and failures since the start, and over the measured window (from one second after all users
are running until the test stops) requests per second and latency percentiles, and the X-Model-Version of every answer.

Environment (set by bench/serve.py): BENCH_SERVE_BODY, the file holding the request body; BENCH_SERVE_RESULT, where
the summary goes; BENCH_SERVE_MAX_REQUESTS, after how many requests the test stops even if its run time is not over.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment

BODY = Path(os.environ.get("BENCH_SERVE_BODY", "/dev/null")).read_bytes()
RESULT = os.environ.get("BENCH_SERVE_RESULT", "")
MAX_REQUESTS = int(os.environ.get("BENCH_SERVE_MAX_REQUESTS", "100000"))
WARM_UP_SECONDS = 1.0  # after the last user started: new connections, first requests on each worker


class Recorder:
    def __init__(self) -> None:
        self.measure_from: float | None = None
        self.stopped_at: float | None = None
        self.latencies_ms: list[float] = []
        self.requests = 0
        self.failures: Counter[str] = Counter()
        self.versions: Counter[str] = Counter()
        self.quitting = False

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        start, end = self.measure_from, self.stopped_at or time.monotonic()
        window = end - start if start is not None and end > start else 0.0

        def percentile(share: float) -> float | None:
            return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else None

        return {
            "requests": self.requests, "failures": sum(self.failures.values()),
            "failure_kinds": dict(self.failures.most_common(5)), "versions": dict(self.versions),
            "measured": len(ordered), "seconds": window, "rps": len(ordered) / window if window else 0.0,
            "p50_ms": percentile(0.50), "p99_ms": percentile(0.99),
        }  # fmt: skip


recorder = Recorder()


@events.spawning_complete.add_listener
def _all_running(**_: Any) -> None:
    recorder.measure_from = time.monotonic() + WARM_UP_SECONDS


@events.request.add_listener
def _answered(response_time: float, exception: Exception | None, response: Any, context: Any, **_: Any) -> None:
    recorder.requests += 1
    version = response.headers.get("X-Model-Version") if response is not None and response.headers else None
    recorder.versions[version or "none"] += 1
    if exception is not None:
        recorder.failures[" ".join(str(exception).split())[:120]] += 1
    elif recorder.measure_from is not None and time.monotonic() >= recorder.measure_from:
        recorder.latencies_ms.append(response_time)
    if recorder.requests >= MAX_REQUESTS and not recorder.quitting and _environment is not None:
        recorder.quitting = True
        runner = _environment.runner
        if runner is not None:
            gevent.spawn(runner.quit)


_environment: Environment | None = None


@events.init.add_listener
def _keep(environment: Environment, **_: Any) -> None:
    global _environment
    _environment = environment


@events.test_stopping.add_listener
def _stopping(**_: Any) -> None:
    recorder.stopped_at = recorder.stopped_at or time.monotonic()


@events.quitting.add_listener
def _write(**_: Any) -> None:
    recorder.stopped_at = recorder.stopped_at or time.monotonic()
    if RESULT:
        Path(RESULT).write_text(json.dumps(recorder.summary()))


class Scorer(FastHttpUser):
    wait_time = constant(0)
    connection_timeout = 10.0
    network_timeout = 30.0

    @task
    def score(self) -> None:
        self.client.post("/invocations", data=BODY, headers={"Content-Type": "application/json"}, name="invocations")
