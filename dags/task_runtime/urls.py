"""Browser addresses of what a task produced: MLflow runs and model versions, and S3 outputs.

Tasks publish them as Airflow extra links. The MLflow UI a person opens is not always the tracking URI a worker
uses (a container name, a database file, a SageMaker ARN), so the base comes from `mlflow_ui_url` when it is set.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

# `make ui` serves the local store's MLflow UI here.
LOCAL_MLFLOW_UI = "http://127.0.0.1:5000"
# MLflow 3's UI opens in its GenAI mode unless a page asks for model training (or the browser chose it before).
MODEL_TRAINING = {"workflowType": "machine_learning"}


def mlflow_ui_base(tracking_uri: str, ui_url: str) -> str | None:
    """The MLflow UI for this tracking URI; None for a SageMaker ARN without `mlflow_ui_url` (no stable address)."""
    if ui_url:
        return ui_url.rstrip("/")
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    if tracking_uri.startswith("arn:"):
        return None
    return LOCAL_MLFLOW_UI


def mlflow_page(base: str, route: str, **query: str) -> str:
    """A page of the MLflow UI (its routes live after `#`), in model-training mode."""
    return f"{base}/#/{route}?{urlencode(MODEL_TRAINING | query, quote_via=quote)}"


def run_url(base: str, run_id: str) -> str:
    return mlflow_page(base, f"runs/{quote(run_id)}")


def artifact_url(base: str, experiment_id: str, run_id: str, path: str) -> str:
    """The run's artifact `path` open in its Artifacts tab (the UI shows HTML and images in place)."""
    return mlflow_page(base, f"experiments/{quote(experiment_id)}/runs/{quote(run_id)}/artifactPath/{quote(path)}")


def version_url(base: str, model_name: str, version: str) -> str:
    return mlflow_page(base, f"models/{quote(model_name, safe='')}/versions/{quote(version)}")


def runs_url(base: str, experiment_id: str, tags: dict[str, str]) -> str:
    """The experiment's runs that carry all these tags (a run that does not exist yet shows up once logged)."""
    search = " and ".join(f"tags.{name} = '{value}'" for name, value in tags.items())
    return mlflow_page(base, f"experiments/{quote(experiment_id)}/runs", searchFilter=search)


def s3_console_url(uri: str, region: str | None) -> str | None:
    """The AWS console's view of an s3:// folder; None for other stores (local files have no browser address)."""
    if not uri.startswith("s3://"):
        return None
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    query = {"prefix": prefix.rstrip("/") + "/"} | ({"region": region} if region else {})
    return f"https://s3.console.aws.amazon.com/s3/buckets/{quote(bucket)}?{urlencode(query)}"
