"""A version's drift reference in the registry: written as a file beside its MLmodel, read back from there (or from
the MLmodel metadata of versions registered before the file)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ml_pipeline.data.profile import VERSION_FILE, Profile, carried


def attach_reference(model_id: str, reference: Profile) -> None:
    """Add the reference to a logged model's files, before it is registered."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, VERSION_FILE)
        path.write_text(reference.model_dump_json())
        MlflowClient().log_model_artifact(model_id, str(path))


def version_reference(location: str) -> Profile | None:
    """The reference of the version whose files are at `location` (its download URI), without loading the model."""
    with tempfile.TemporaryDirectory() as folder:
        with contextlib.suppress(MlflowException, OSError):  # registered before the file: see its MLmodel's metadata
            mlflow.artifacts.download_artifacts(artifact_uri=f"{location}/{VERSION_FILE}", dst_path=folder)
        if Path(folder, VERSION_FILE).is_file():
            return carried(folder, None)
        return carried(folder, mlflow.models.get_model_info(location).metadata)
