"""A registered version's MLflow model as the model.tar.gz SageMaker unpacks into /opt/ml/model, where the model
server's pinned mode loads it: MLmodel at the archive's root, one key per version, uploaded once."""

from __future__ import annotations

import gzip
import logging
import tarfile
import tempfile
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from ml_pipeline.contract import PinnedModel
from ml_pipeline.deployment.contract import ModelPackage
from ml_pipeline.errors import ConfigError, ModelLoadError
from ml_pipeline.registry.connection import explained_tracking_errors, use_tracking_server
from ml_pipeline.store.objects import Storage, join

log = logging.getLogger(__name__)
PACKAGES = "sagemaker"  # under artifact_root; the endpoint's role may read only this prefix (infra/base.yaml)


def package_uri(artifact_root: str, model_name: str, version: str) -> str:
    """Where a version's model.tar.gz lives: the same key for every run and retry that deploys that version."""
    return join(artifact_root, PACKAGES, model_name, f"v{version}", "model.tar.gz")


def package_model(pinned: PinnedModel, artifact_root: str, storage: Storage) -> ModelPackage:
    """Put the version's model.tar.gz in the artifact store, unless an earlier attempt already did."""
    uri = package_uri(artifact_root, pinned["model_name"], pinned["model_version"])
    if storage.exists(uri):
        log.info("%s is already there: not uploaded again", uri)
        return ModelPackage(**pinned, model_data_uri=uri, uploaded=False)
    with tempfile.TemporaryDirectory(prefix="model-package-") as work:
        model = _download(pinned, Path(work) / "model")
        tarball = Path(work) / "model.tar.gz"
        write_tarball(model, tarball)
        storage.write_file(uri, tarball)  # whole or not at all: a retry finds it complete, or not
        log.info("Packaged %s as %s (%d bytes)", pinned["model_uri"], uri, tarball.stat().st_size)
    return ModelPackage(**pinned, model_data_uri=uri, uploaded=True)


def _download(pinned: PinnedModel, target: Path) -> Path:
    use_tracking_server(pinned["tracking_uri"])
    with explained_tracking_errors(pinned["tracking_uri"]):
        try:
            folder = Path(mlflow.artifacts.download_artifacts(pinned["model_uri"], dst_path=str(target)))
        except (MlflowException, OSError) as error:
            raise ModelLoadError(f"{pinned['model_uri']} cannot be downloaded: {error}") from error
    if not (folder / "MLmodel").is_file():
        raise ModelLoadError(f"{pinned['model_uri']} has no MLmodel file: it is not an MLflow model")
    if (folder / "data" / "routing.json").is_file():  # segments/router_model.py
        raise ConfigError(
            f"{pinned['model_uri']} is a router of one model per segment, which loads its segments' models from the "
            "artifact store; deploy_champion does not package those yet: serve it with the model server (make serve)"
        )
    return folder


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No owner, time or local permissions in the archive: the same files always make the same bytes."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_tarball(folder: Path, target: Path) -> None:
    """`folder`'s files (MLmodel among them) at the root of a gzipped tar, in a stable order."""
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False, filter=_normalised)
