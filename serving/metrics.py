"""The server's Prometheus metrics (prometheus_client), summed over its worker processes.

The launcher gives every worker one PROMETHEUS_MULTIPROC_DIR; prometheus_client keeps each process's values there
and /metrics reads them all, so a scrape sees the server, not whichever worker answered it.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("model_server_requests", "Requests answered, by endpoint and HTTP status.", ["endpoint", "status"])
ERRORS = Counter(
    "model_server_errors", "Requests refused or failed, by kind: bad_request, too_large, timeout, not_ready, internal.",
    ["kind"],
)  # fmt: skip
LATENCY = Histogram(
    "model_server_request_seconds", "Time to answer a request, by endpoint.", ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip
ROWS = Counter("model_server_rows", "Rows scored.")
VERSION = Gauge(
    "model_server_model_version", "The model version each worker serves (0 before one is loaded).",
    multiprocess_mode="liveall",
)  # fmt: skip
SWAPS = Counter("model_server_swaps", "Versions swapped in, and versions that failed to load or warm up.", ["outcome"])


def swapped(version: str) -> None:
    SWAPS.labels("swapped").inc()
    VERSION.set(float(version) if version.isdigit() else 0)


def swap_failed() -> None:
    SWAPS.labels("failed").inc()


def exposition() -> tuple[bytes, str]:
    """The metrics page: all workers' values when they share a directory, else this process's."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def worker_stopped() -> None:
    """Drop this worker's live gauges, so a stopped worker's version is no longer reported."""
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.mark_process_dead(os.getpid())
