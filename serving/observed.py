"""Every request's metrics and access-log line, and for an unexpected error a 500 with an incident id (the traceback
goes to the server log only). Plain ASGI middleware: Starlette's BaseHTTPMiddleware (`app.middleware("http")`) runs
each request in an extra task with memory streams, which cost a 1-row answer more than the metrics themselves."""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving import metrics
from serving.answers import error_response

log = logging.getLogger("serving")
access_log = logging.getLogger("serving.access")
ENDPOINTS = frozenset({"/invocations", "/ping", "/health", "/version", "/metrics"})
ERROR_KINDS = {400: "bad_request", 413: "too_large", 415: "bad_request", 503: "not_ready", 504: "timeout"}


class ObservedRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        head: dict[str, str | int] = {}  # the status and X-Model-Version of the answer, once it starts

        async def send_observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                head["status"] = message["status"]
                head["version"] = dict(message.get("headers", ())).get(b"x-model-version", b"-").decode()
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("Request %s %s failed (incident %s)", scope["method"], scope["path"], incident)
            if not head:  # nothing sent yet: the client gets one line, never the traceback
                message = f"the server failed on this request (incident {incident}); it is in the server log"
                await error_response(500, message)(scope, receive, send)
            head["status"] = 500
        _record(scope, int(head.get("status", 500)), str(head.get("version", "-")), time.perf_counter() - started)


def _record(scope: Scope, status: int, version: str, seconds: float) -> None:
    endpoint = scope["path"] if scope["path"] in ENDPOINTS else "other"
    metrics.REQUESTS.labels(endpoint, str(status)).inc()
    metrics.LATENCY.labels(endpoint).observe(seconds)
    if status >= 400:
        metrics.ERRORS.labels(ERROR_KINDS.get(status, "internal")).inc()
    client = scope["client"][0] if scope.get("client") else "-"
    access_log.info(
        '%s "%s %s" %d %.1f ms model v%s', client, scope["method"], scope["path"], status, seconds * 1000, version
    )
