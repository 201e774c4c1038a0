"""The HTTP side: MLflow's scoring endpoints (/invocations, /ping, /health, /version) plus /metrics, with limits on
body size, rows and time, an access log line per request, and one line, never a traceback, for every refusal.

`create_app` is what each uvicorn worker process builds; `python -m serving` (serving/__main__.py) starts them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import mlflow
from fastapi import FastAPI, Request, Response

from serving import metrics
from serving.answers import error_response, model_headers
from serving.following import ModelFollower
from serving.loading import ServedModel, Source
from serving.observed import ObservedRequests
from serving.protocol import RequestError, answer, check_rows, read_request
from serving.settings import ServerSettings, load_settings


def create_app(settings: ServerSettings | None = None, follower: ModelFollower | None = None) -> FastAPI:
    """The app of one worker process: its own follower of the source, started with the app and stopped with it."""
    settings = settings or load_settings()
    follower = follower or ModelFollower(
        Source.of(with_default_source(settings)), settings.poll_seconds, settings.load_timeout_seconds
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The worker takes connections only once it has looked for its model and loaded it if there is one: until
        # then its siblings answer, so a client that saw /ping succeed never meets a worker still loading.
        follower.start()
        await asyncio.to_thread(follower.first_check_done.wait, settings.load_timeout_seconds + 30)
        yield
        follower.stop()
        metrics.worker_stopped()

    app = FastAPI(title="model server", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.follower = follower
    app.add_middleware(ObservedRequests)

    @app.get("/ping")
    async def ping() -> Response:
        """Readiness: 200 once this worker serves a version (SageMaker's and MLflow's health check), else 503."""
        if follower.model is None:
            return error_response(503, f"no model loaded yet: waiting for {follower.waiting_for}")
        return Response("\n", media_type="application/json")

    @app.get("/health")
    async def health() -> Response:
        """Liveness, always 200 while the process runs: what it serves, what it follows, what failed to load."""
        return Response(json.dumps(follower.health()), media_type="application/json")

    @app.get("/version")
    async def version() -> Response:
        model = follower.model
        report = {"model": model.name, "version": model.version} if model else {"model": None, "version": None}
        body = report | {"source": follower.source.uri, "mlflow": mlflow.__version__}
        return Response(json.dumps(body), media_type="application/json")

    @app.get("/metrics")
    async def metrics_page() -> Response:
        content, media_type = metrics.exposition()
        return Response(content, media_type=media_type)

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        model = follower.model  # this request's version, whatever swaps happen while it runs
        if model is None:
            return error_response(503, f"no model loaded yet: waiting for {follower.waiting_for}")
        body = await _bounded_body(request, settings.max_body_mb)
        work = asyncio.to_thread(_score, model, body, request, settings.max_rows)
        try:
            content = await asyncio.wait_for(work, settings.request_timeout_seconds)
        except TimeoutError:
            raise RequestError(
                504, f"scoring took longer than {settings.request_timeout_seconds:g} s; send fewer rows per request"
            ) from None
        return Response(content, media_type="application/json", headers=model_headers(model))

    @app.exception_handler(RequestError)
    async def refused(request: Request, error: RequestError) -> Response:
        return error_response(error.status, str(error), follower.model)

    return app


def with_default_source(settings: ServerSettings) -> ServerSettings:
    """The settings with the pipeline's model (models:/<model_name>@champion) when none is given, and MLflow pointed
    at the pipeline's tracking server (the same settings as `make run`: docs/configuration.md)."""
    from ml_pipeline.config.layers import load_config
    from ml_pipeline.contract import CHAMPION_ALIAS
    from ml_pipeline.registry.connection import use_tracking_server

    config = load_config()
    if settings.model_uri.startswith("models:/") or not settings.model_uri:
        use_tracking_server(config.mlflow_tracking_uri)
    if settings.model_uri:
        return settings
    return settings.model_copy(update={"model_uri": f"models:/{config.model_name}@{CHAMPION_ALIAS}"})


def _score(model: ServedModel, body: bytes, request: Request, max_rows: int) -> str:
    rows, probabilities = read_request(body, request.headers.get("content-type", ""), request.query_params)
    if len(rows) > max_rows:
        raise RequestError(413, f"{len(rows)} rows; at most {max_rows} per request: split the request")
    check_rows(rows, model)
    metrics.ROWS.inc(len(rows))
    return answer(model, rows, probabilities)


async def _bounded_body(request: Request, max_mb: float) -> bytes:
    """The body, refused with 413 as soon as it is larger than the limit (announced or not)."""
    limit = int(max_mb * 1024 * 1024)
    too_large = RequestError(413, f"the body is larger than {max_mb:g} MB; send fewer rows per request")
    if int(request.headers.get("content-length") or 0) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
