"""Start the model server: `python -m serving` (make serve), or `python -m serving serve` as SageMaker starts a
container (0.0.0.0:8080). Settings come from MODEL_SERVER_* variables (serving/settings.py; --help lists them)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if (REPO / "dags" / "ml_pipeline").is_dir():  # in the repository; the image puts ml_pipeline beside serving/
    sys.path.insert(0, str(REPO / "dags"))

# Worker processes are the parallelism: a worker whose model also spread each request over OpenMP/BLAS threads
# (scikit-learn's default, from varying request threads) made 1-row answers 3x slower (docs/benchmarks.md#serving).
ONE_THREAD_PER_WORKER = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def usage() -> str:
    from serving.settings import ServerSettings

    lines = [__doc__, "", "Settings (environment variable, default: meaning):"]
    for name, field in ServerSettings.model_fields.items():
        lines.append(f"  MODEL_SERVER_{name.upper()}={field.default!s}: {field.description}")
    return "\n".join(lines)


def logging_config(level: str) -> dict[str, object]:
    """Uvicorn's and the server's lines in one format on stderr, each with the worker's process id."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"stderr": handler},
        "loggers": {"serving": {"level": level.upper()}, "uvicorn": {"level": level.upper()},
                    "mlflow": {"level": "WARNING"}},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }  # fmt: skip


def main(argv: list[str]) -> int:
    for variable in ONE_THREAD_PER_WORKER:  # before numpy or scikit-learn load their thread pools; yours win
        os.environ.setdefault(variable, "1")
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        return 0
    from serving.settings import SettingsError, load_settings

    overrides: dict[str, object] = {"host": "0.0.0.0", "port": 8080} if argv[:1] == ["serve"] else {}  # noqa: S104
    if argv and argv[:1] != ["serve"]:
        print(f"error: unknown arguments {' '.join(argv)}; see python -m serving --help", file=sys.stderr)
        return 2
    from ml_pipeline.errors import ConfigError
    from serving.app import with_default_source

    try:
        settings = with_default_source(load_settings(**overrides))
    except (SettingsError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    import uvicorn

    overrides["model_uri"] = settings.model_uri

    metrics_dir = tempfile.mkdtemp(prefix="model-server-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # before any worker imports prometheus_client
    for name, value in overrides.items():  # workers read their settings from the environment
        os.environ[f"MODEL_SERVER_{name.upper()}"] = str(value)
    url = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"  # noqa: S104
    print(f"Serving {settings.model_uri} on {url} ({settings.workers} workers); stop with Ctrl-C", file=sys.stderr,
          flush=True)  # fmt: skip
    print(f"  try: curl -s {url}/invocations -H 'Content-Type: text/csv' --data-binary @scripts/sample_input.csv",
          file=sys.stderr, flush=True)  # fmt: skip
    try:
        uvicorn.run(
            "serving.app:create_app", factory=True, host=settings.host, port=settings.port, workers=settings.workers,
            timeout_graceful_shutdown=int(settings.graceful_stop_seconds), access_log=False,
            log_config=logging_config(settings.log_level), log_level=settings.log_level,
        )  # fmt: skip
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
