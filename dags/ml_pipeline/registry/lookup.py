"""Which registered version a model name and an alias (`@champion`) or a version number mean, or why none does, and
that version loaded with the data set schema it carries."""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import CHAMPION_ALIAS, PinnedModel
from ml_pipeline.data.schema import METADATA_KEY, DatasetSchema
from ml_pipeline.errors import ModelLoadError, PipelineError
from ml_pipeline.registry.connection import explained_tracking_errors, is_not_found, use_tracking_server


class ModelNotFoundError(PipelineError, LookupError):
    """The registered model, version or alias does not exist."""

    label = "Model not found"


def resolve(client: MlflowClient, name: str, alias: str = CHAMPION_ALIAS, version: str | None = None) -> ModelVersion:
    """The version `models:/<name>@<alias>` (or `models:/<name>/<version>`) points at, aliases and tags included.

    One registry call when it exists; only a miss asks whether the model itself exists, which costs a call that
    loads every version of the model.
    """
    try:
        return client.get_model_version(name, version) if version else client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if not is_not_found(error):
            raise
        raise not_found(client, name, f"version {version}" if version else f"alias '{alias}'") from error


def pin(config: PipelineConfig) -> PinnedModel:
    """Resolve `@champion` (or the configured `model_version`) once; the DAG run then uses that version only."""
    tracking_uri = config.mlflow_tracking_uri
    use_tracking_server(tracking_uri)
    client = MlflowClient()
    with explained_tracking_errors(tracking_uri):
        version = resolve(client, config.model_name, version=config.model_version or None)
        artifact_uri = client.get_model_version_download_uri(version.name, version.version)
    return PinnedModel(
        model_name=version.name,
        model_version=str(version.version),
        model_uri=f"models:/{version.name}/{version.version}",
        artifact_uri=artifact_uri,
        tracking_uri=tracking_uri,
    )


def not_found(client: MlflowClient, name: str, wanted: str) -> ModelNotFoundError:
    """Why `wanted` (a version or an alias) of `name` is not there: no such model, or no such version or alias."""
    where = f"the registry at {mlflow.get_tracking_uri()}"
    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        if not is_not_found(error):
            raise
        return ModelNotFoundError(f"model '{name}' does not exist in {where}; check the model name and tracking URI")
    return ModelNotFoundError(f"model '{name}' has no {wanted} in {where}; {what_it_has(model)}")


def what_it_has(model: RegisteredModel) -> str:
    latest = max((int(version.version) for version in model.latest_versions or []), default=None)
    if latest is None:
        return "it has no versions yet; run the pipeline to register one"
    aliases = f"alias {' or '.join(sorted(model.aliases))}, or " if model.aliases else ""
    return f"use {aliases}a version up to {latest}"


def load_version(model_name: str, version: str) -> tuple[Any, DatasetSchema | None]:
    """A registered version's scikit-learn model, loaded as any service would load it, and the schema it carries
    (None for versions registered before models carried one)."""
    try:
        model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    except Exception as error:
        raise ModelLoadError(f"{model_name} v{version} cannot be loaded from the registry: {error}") from error
    return model.get_raw_model(), carried_schema(model)


def version_schema(model_name: str, version: str) -> DatasetSchema | None:
    """The schema a registered version carries, from its MLmodel file alone (the model itself is not loaded)."""
    try:
        info = mlflow.models.get_model_info(f"models:/{model_name}/{version}")
    except Exception as error:
        raise ModelLoadError(f"{model_name} v{version}'s MLmodel cannot be read from the registry: {error}") from error
    carried = (info.metadata or {}).get(METADATA_KEY)
    return DatasetSchema.model_validate(carried) if carried else None


def carried_schema(model: Any) -> DatasetSchema | None:
    """The data set's schema a loaded pyfunc model carries in its MLmodel metadata (None for versions registered
    before models carried one)."""
    carried = (model.metadata.metadata or {}).get(METADATA_KEY)
    return DatasetSchema.model_validate(carried) if carried else None
