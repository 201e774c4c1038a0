"""The model server's one settings model: every setting, its environment variable (MODEL_SERVER_*), default and range.
`python -m serving --help` and docs/serving.md read it; a bad value stops the server with one line naming it."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ml_pipeline.contract import CHAMPION_ALIAS

# models:/<name>@<alias> follows the alias; models:/<name>/<version> and a directory are pinned.
FOLLOWED = re.compile(r"models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)")
PINNED = re.compile(r"models:/(?P<name>[^/@]+)/(?P<version>\d+)")


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODEL_SERVER_", extra="forbid", frozen=True)

    model_uri: str = Field(
        "",
        description="`models:/<name>@<alias>` to follow an alias, `models:/<name>/<version>` or a local MLflow model "
        f"directory to pin one version. Default: `models:/<model_name>@{CHAMPION_ALIAS}`, the pipeline's model.",
    )
    model_name: str = Field("", description="With a directory: the registered name it is a version of.")
    model_version: str = Field("", description="With a directory: which version it is (X-Model-Version, /version).")
    host: str = Field("127.0.0.1", description="Address to listen on; the container listens on 0.0.0.0.")
    port: int = Field(8000, ge=1, le=65535, description="Port to listen on (SageMaker's contract: 8080).")
    workers: int = Field(2, ge=1, le=64, description="Worker processes; each loads the model and follows the alias.")
    poll_seconds: float = Field(
        10.0, ge=0.5, le=3600, description="How often each worker asks the registry where the alias points."
    )
    load_timeout_seconds: float = Field(
        300.0, ge=1, le=3600, description="Longest a new version may take to download, load and warm up."
    )
    request_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="Longest one request may take; slower ones get 504 (send fewer rows)."
    )
    max_body_mb: float = Field(20.0, gt=0, le=1024, description="Largest request body; larger ones get 413.")
    max_rows: int = Field(10_000, ge=1, le=10_000_000, description="Most rows per request; more get 413.")
    graceful_stop_seconds: float = Field(
        30.0, ge=0, le=600, description="On SIGTERM, how long requests in flight may take to finish."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Server log level.")

    @model_validator(mode="after")
    def _directory_is_named(self) -> ServerSettings:
        if self.model_uri and not self.model_uri.startswith("models:/"):
            if not (self.model_name and self.model_version):
                raise ValueError(
                    "a model directory needs MODEL_SERVER_MODEL_NAME and MODEL_SERVER_MODEL_VERSION: which registered "
                    "version it is"
                )
        elif self.model_uri and not (FOLLOWED.fullmatch(self.model_uri) or PINNED.fullmatch(self.model_uri)):
            raise ValueError(
                f"MODEL_SERVER_MODEL_URI {self.model_uri!r} should be models:/<name>@<alias>, models:/<name>/<version> "
                "or a directory"
            )
        return self


def load_settings(**overrides: object) -> ServerSettings:
    """The settings from the environment (and `overrides`), or SettingsError with one line per bad value."""
    try:
        return ServerSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError("; ".join(_describe(item) for item in error.errors())) from None


def _describe(item: object) -> str:
    details = dict(item)  # type: ignore[call-overload]
    field = ".".join(str(part) for part in details.get("loc", ()))
    where = f"MODEL_SERVER_{field.upper()}: " if field else ""
    return f"{where}{details['msg'].removeprefix('Value error, ')}"


class SettingsError(ValueError):
    """A setting the server cannot start with."""
