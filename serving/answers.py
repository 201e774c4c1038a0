"""The server's HTTP answers besides predictions: MLflow's error body ({"error_code", "message"}, one line) and the
headers that name the version which answered."""

from __future__ import annotations

import json

from starlette.responses import Response

from serving.loading import ServedModel


def model_headers(model: ServedModel | None) -> dict[str, str]:
    return {"X-Model-Name": model.name, "X-Model-Version": model.version} if model else {}


def error_response(status: int, message: str, model: ServedModel | None = None) -> Response:
    code = "BAD_REQUEST" if status < 500 else "SERVICE_UNAVAILABLE" if status == 503 else "INTERNAL_ERROR"
    body = json.dumps({"error_code": code, "message": " ".join(message.split())})
    return Response(body, status_code=status, media_type="application/json", headers=model_headers(model))
