"""The objects MWAA reads whole, by object version: requirements.txt, plugins.zip, startup.sh; and the Spark jobs.

The zips (plugins.zip, the training job's ml_pipeline.zip) are built deterministically (sorted entries, 755
permissions, fixed timestamps) so unchanged files give the same bytes: plugins never restart the environment, and
neither zip is uploaded again.
"""

from __future__ import annotations

import hashlib
import io
import re
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from deploy.aws import DeployError
from deploy.files import RepoFiles

DEPS_SHA_KEY = "constraints-sha256"  # on requirements.txt: hash of the dags/ constraint files it names
MWAA_DAGS_FOLDER = "/usr/local/airflow/dags/"
# The PySpark job batch_predictions submits to EMR Serverless (scoring_engine=spark): same key in the repo and the
# bucket, outside dags/ so MWAA never parses it. infra/base.yaml lets the deploy role write it and the job role read it.
SPARK_JOB_SCRIPT = "spark_jobs/score_batch.py"
# The job's own modules, beside it (spark-submit --py-files).
SPARK_JOB_MODULES = (
    "spark_jobs/source_reading.py",
    "spark_jobs/drift_counts.py",
    "spark_jobs/segment_routing.py",
)
# segment_engine=spark's training job, beside the scoring job (dags/ml_pipeline/segments/spark_engine.py submits
# both from there), and the package it imports, zipped for --py-files.
SPARK_TRAINING_SCRIPT = "spark_jobs/train_segments.py"
PACKAGE_ZIP = "spark_jobs/ml_pipeline.zip"
PACKAGE_FOLDER = "dags/ml_pipeline"
# A fixed timestamp (the zip format's earliest) so the same files always give the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Artifact:
    """One object uploaded whole when its content changed.

    Root-level objects MWAA reads by version name their UpdateEnvironment / GetEnvironment fields; others (the EMR
    Serverless job script) have none and never make the environment update.
    """

    key: str
    content: bytes
    path_field: str | None = None
    version_field: str | None = None
    extra_metadata: dict[str, str] = field(default_factory=dict)
    job_note: str = "EMR Serverless job"  # what the plan calls an object MWAA does not read

    @property
    def sha256(self) -> str:
        return sha256_hex(self.content)

    @property
    def read_by_mwaa(self) -> bool:
        return self.path_field is not None and self.version_field is not None


def build_zip(files: Iterable[tuple[str, Path]]) -> bytes | None:
    """A zip of (path inside the zip, local path) pairs whose bytes depend on paths and contents only; None when
    there are no files."""
    files = list(files)
    if not files:
        return None
    buffer = io.BytesIO()
    directories: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for relative, path in sorted(files):
            for parent in reversed(PurePosixPath(relative).parents[:-1]):
                if f"{parent}/" not in directories:
                    directories.add(f"{parent}/")
                    archive.writestr(_zip_info(f"{parent}/", stat.S_IFDIR | 0o755), b"")
            archive.writestr(_zip_info(relative, stat.S_IFREG | 0o755), path.read_bytes())
    return buffer.getvalue()


def build_package_zip(files: RepoFiles) -> bytes | None:
    """dags/ml_pipeline's modules as ml_pipeline/..., so that `--py-files ml_pipeline.zip` lets the job import it."""
    package = PurePosixPath(PACKAGE_FOLDER).name
    return build_zip(
        (f"{package}/{relative}", path) for relative, path in files.under(PACKAGE_FOLDER) if relative.endswith(".py")
    )


def _zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.create_system = 3  # Unix, so external_attr carries the permissions on every platform
    info.external_attr = mode << 16
    if name.endswith("/"):
        info.external_attr |= 0x10  # MS-DOS directory flag
    else:
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def constraint_files(requirements: str) -> list[str]:
    """dags/-relative paths of the constraint files requirements.txt names in MWAA's dags folder.

    A changed lock file alone does not make MWAA reinstall; hashing it into requirements.txt's metadata makes the
    deploy upload a new requirements.txt version (same text) and update the environment when the lock changes.
    """
    found = []
    for line in requirements.splitlines():
        match = re.match(r"^\s*(?:--constraint|-c)(?:\s*=\s*|\s+)[\"']?([^\"'\s]+)", line)
        if match and match.group(1).startswith(MWAA_DAGS_FOLDER):
            found.append(match.group(1)[len(MWAA_DAGS_FOLDER) :])
    return found


def _requirements(files: RepoFiles) -> Artifact:
    text = (files.root / "requirements.txt").read_bytes()
    deps = hashlib.sha256()
    for relative in constraint_files(text.decode()):
        if not files.ships(f"dags/{relative}"):
            raise DeployError(
                f"requirements.txt names {MWAA_DAGS_FOLDER}{relative} but {files.why_not_shipped(f'dags/{relative}')}"
            )
        deps.update(relative.encode() + b"\0" + (files.root / "dags" / relative).read_bytes())
    return Artifact(
        "requirements.txt", text, "RequirementsS3Path", "RequirementsS3ObjectVersion", {DEPS_SHA_KEY: deps.hexdigest()}
    )


def collect_artifacts(files: RepoFiles) -> tuple[list[Artifact], list[str]]:
    """The whole objects this repo ships, and notes on the ones it does not."""
    artifacts: list[Artifact] = []
    notes: list[str] = []
    if files.ships("requirements.txt"):
        artifacts.append(_requirements(files))
    else:
        notes.append(files.why_not_shipped("requirements.txt"))
    plugins = build_zip(files.under("plugins"))
    if plugins is not None:
        artifacts.append(Artifact("plugins.zip", plugins, "PluginsS3Path", "PluginsS3ObjectVersion"))
    else:
        notes.append("plugins.zip: plugins/ has no files")
    for key, fields, purpose in (
        ("startup.sh", ("StartupScriptS3Path", "StartupScriptS3ObjectVersion"), "optional"),
        (SPARK_JOB_SCRIPT, (None, None), "optional; EMR Serverless batch predictions"),
        *((module, (None, None), "optional; the EMR Serverless job's module") for module in SPARK_JOB_MODULES),
        (SPARK_TRAINING_SCRIPT, (None, None), f"optional; segment training on EMR Serverless, with {PACKAGE_ZIP}"),
    ):
        if files.ships(key):
            artifacts.append(Artifact(key, (files.root / key).read_bytes(), *fields))
        else:
            notes.append(f"{files.why_not_shipped(key)} ({purpose})")
    if files.ships(SPARK_TRAINING_SCRIPT):
        package = build_package_zip(files)
        if package is None:
            notes.append(f"{PACKAGE_ZIP}: {PACKAGE_FOLDER}/ has no modules (the training job imports them)")
        else:
            note = f"{PACKAGE_FOLDER}/ zipped for the EMR Serverless job"
            artifacts.append(Artifact(PACKAGE_ZIP, package, job_note=note))
    notes += [files.why_not_shipped(path) for path in files.untracked]
    return artifacts, notes
