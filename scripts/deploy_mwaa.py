"""Deploy this repository to an Amazon MWAA environment: the one command `make deploy` and the workflow run.

What it does, in order (so MWAA never sees a requirements.txt whose constraint file is not there yet):
1. syncs dags/ to s3://<bucket>/dags/: uploads new or changed files (by sha256 of their content), deletes objects
   whose file left the repo, and never uploads caches, tests or local stores;
2. builds plugins.zip from plugins/ deterministically (contents at the zip root, 755 permissions);
3. uploads requirements.txt, plugins.zip and startup.sh (when the repo has one) only if their content differs from
   the current object; the EMR Serverless job script spark_jobs/score_batch.py (when the repo has one) goes to
   s3://<bucket>/spark_jobs/ the same way, before the DAG files that submit it, and never causes an environment update;
4. calls `mwaa update-environment` with the new object versions only when the environment does not run them yet,
   with graceful worker replacement; optionally waits until the environment is AVAILABLE again.

Content is compared through a sha256 kept in each object's metadata: an ETag is an MD5 only for single-part uploads
without SSE-KMS, so it cannot tell reliably whether two contents are equal. boto3 only, no Airflow import.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import os
import re
import stat
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
import botocore.exceptions

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGS_PREFIX = "dags/"
SHA_KEY = "sha256"  # object metadata key (x-amz-meta-sha256)
DEPS_SHA_KEY = "constraints-sha256"  # on requirements.txt: hash of the dags/ constraint files it names
MWAA_DAGS_FOLDER = "/usr/local/airflow/dags/"
# The PySpark job batch_predictions submits to EMR Serverless (scoring_engine=spark): same key in the repo and the
# bucket, outside dags/ so MWAA never parses it. infra/base.yaml lets the deploy role write it and the job role read it.
SPARK_JOB_SCRIPT = "spark_jobs/score_batch.py"

# Never shipped to MWAA: caches, tests, local stores and editor/OS droppings. Matched against each path component.
EXCLUDED_DIRS = frozenset(
    {
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        ".ipynb_checkpoints",
        ".git",
        ".venv",
        ".local",
        "mlruns",
        "mlartifacts",
        "tests",
        "test",
    }
)
EXCLUDED_FILES = (
    "*.pyc",
    "*.pyo",
    "*.db",
    "*.sqlite",
    "*.sqlite3",
    "*.log",
    "*.swp",
    "*~",
    ".DS_Store",
    ".env",
    "test_*.py",
    "*_test.py",
    "conftest.py",
)
# A fixed timestamp (the zip format's earliest) so the same plugins always give the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ENV_BUSY = {"CREATING", "UPDATING", "ROLLING_BACK", "CREATING_SNAPSHOT", "PENDING", "MAINTENANCE"}
ENV_FAILED = {"CREATE_FAILED", "UPDATE_FAILED", "UNAVAILABLE", "DELETING", "DELETED"}


class DeployError(RuntimeError):
    """A problem the user must fix (configuration, bucket, credentials, a failed update); printed without traceback."""


@dataclass(frozen=True)
class Artifact:
    """One object uploaded whole when its content changed.

    Root-level objects MWAA reads by version (requirements.txt, plugins.zip, the startup script) name their
    UpdateEnvironment / GetEnvironment fields; others (the EMR Serverless job script) have none and never make the
    environment update.
    """

    key: str
    content: bytes
    # The UpdateEnvironment / GetEnvironment field names for its path and version; None when MWAA does not read it.
    path_field: str | None = None
    version_field: str | None = None
    extra_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return sha256_hex(self.content)

    @property
    def read_by_mwaa(self) -> bool:
        return self.path_field is not None and self.version_field is not None


@dataclass
class ArtifactState:
    artifact: Artifact
    changed: bool  # content differs from the current object (or there is none): upload it
    version_id: str | None  # current object's version; replaced by the new one after the upload


@dataclass
class Plan:
    """Everything one deploy would do; `--dry-run` prints it and stops."""

    dag_uploads: list[tuple[str, Path, int]]  # (key, local file, size)
    dag_deletes: list[str]
    dag_unchanged: int
    artifacts: list[ArtifactState]
    skipped_artifacts: list[str]  # human-readable notes, e.g. "plugins.zip: plugins/ has no files"


@dataclass
class Summary:
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    environment_update: dict[str, str] | None = None  # the UpdateEnvironment fields sent, None if no update
    dry_run: bool = False

    def render(self) -> str:
        update = "no"
        if self.environment_update:
            fields = sorted(k for k in self.environment_update if k.endswith("ObjectVersion"))
            changed = ", ".join(f"{k}={self.environment_update[k]}" for k in fields)
            update = f"yes ({changed})" if changed else "yes"
        return "\n".join(
            [
                f"Summary{' (dry run: nothing was changed)' if self.dry_run else ''}:",
                f"  files uploaded: {len(self.uploaded)}" + (f" ({', '.join(self.uploaded)})" if self.uploaded else ""),
                f"  files deleted:  {len(self.deleted)}" + (f" ({', '.join(self.deleted)})" if self.deleted else ""),
                f"  bytes sent:     {self.bytes_sent}",
                f"  environment update: {update}",
            ]
        )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_excluded(relative: PurePosixPath) -> bool:
    """Caches, tests and local stores stay on the developer's machine; MWAA would parse or install them."""
    if any(part in EXCLUDED_DIRS for part in relative.parts[:-1]):
        return True
    return any(fnmatch.fnmatch(relative.name, pattern) for pattern in EXCLUDED_FILES)


def iter_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Regular files under root as (posix relative path, path), sorted, without excluded ones or symlinks."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIRS and not Path(dirpath, d).is_symlink())
        for name in sorted(filenames):
            path = Path(dirpath, name)
            relative = PurePosixPath(path.relative_to(root).as_posix())
            if path.is_symlink() or not path.is_file() or is_excluded(relative):
                continue
            yield str(relative), path


def build_plugins_zip(plugins_dir: Path) -> bytes | None:
    """The plugins.zip MWAA wants: contents at the zip root, 755 permissions, byte-for-byte reproducible.

    Fixed timestamps, sorted entries and explicit Unix attributes make unchanged plugins produce the same bytes, so
    the deploy sees no change and does not restart the environment. None when plugins/ holds no file.
    """
    files = list(iter_files(plugins_dir))
    if not files:
        return None
    buffer = io.BytesIO()
    directories: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for relative, path in files:
            for parent in reversed(PurePosixPath(relative).parents[:-1]):
                name = f"{parent}/"
                if name not in directories:
                    directories.add(name)
                    archive.writestr(_zip_info(name, stat.S_IFDIR | 0o755), b"")
            archive.writestr(_zip_info(relative, stat.S_IFREG | 0o755), path.read_bytes())
    return buffer.getvalue()


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


def collect_artifacts(repo: Path) -> tuple[list[Artifact], list[str]]:
    """The root-level objects this repo ships, and notes on the ones it does not have."""
    artifacts: list[Artifact] = []
    notes: list[str] = []
    requirements = repo / "requirements.txt"
    if requirements.is_file():
        text = requirements.read_bytes()
        deps = hashlib.sha256()
        for relative in constraint_files(text.decode()):
            path = repo / "dags" / relative
            if not path.is_file():
                raise DeployError(f"requirements.txt names {MWAA_DAGS_FOLDER}{relative} but dags/{relative} is missing")
            deps.update(relative.encode() + b"\0" + path.read_bytes())
        artifacts.append(
            Artifact(
                "requirements.txt",
                text,
                "RequirementsS3Path",
                "RequirementsS3ObjectVersion",
                {DEPS_SHA_KEY: deps.hexdigest()},
            )
        )
    else:
        notes.append("requirements.txt: not in the repo")
    plugins = build_plugins_zip(repo / "plugins")
    if plugins is not None:
        artifacts.append(Artifact("plugins.zip", plugins, "PluginsS3Path", "PluginsS3ObjectVersion"))
    else:
        notes.append("plugins.zip: plugins/ has no files")
    startup = repo / "startup.sh"
    if startup.is_file():
        artifacts.append(
            Artifact("startup.sh", startup.read_bytes(), "StartupScriptS3Path", "StartupScriptS3ObjectVersion")
        )
    else:
        notes.append("startup.sh: not in the repo (optional)")
    spark_job = repo / SPARK_JOB_SCRIPT
    if spark_job.is_file():
        artifacts.append(Artifact(SPARK_JOB_SCRIPT, spark_job.read_bytes()))
    else:
        notes.append(f"{SPARK_JOB_SCRIPT}: not in the repo (optional; EMR Serverless batch predictions)")
    return artifacts, notes


def _client_error_code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def check_bucket(s3: Any, bucket: str) -> None:
    """Fail early and clearly: MWAA needs the bucket to exist and to have versioning on."""
    try:
        s3.head_bucket(Bucket=bucket)
        versioning = s3.get_bucket_versioning(Bucket=bucket)
    except botocore.exceptions.NoCredentialsError as error:
        raise DeployError(no_credentials_message()) from error
    except botocore.exceptions.ClientError as error:
        code = _client_error_code(error)
        if code in {"404", "NoSuchBucket", "NotFound"}:
            raise DeployError(f"bucket {bucket!r} does not exist (create it with `make infra-up`)") from error
        if code in {"403", "AccessDenied", "Forbidden"}:
            raise DeployError(f"access to bucket {bucket!r} was denied: check the credentials' permissions") from error
        raise DeployError(f"cannot read bucket {bucket!r}: {error}") from error
    if versioning.get("Status") != "Enabled":
        raise DeployError(
            f"bucket {bucket!r} does not have versioning enabled; MWAA references requirements.txt, plugins.zip and "
            "the startup script by object version (enable it, or create the bucket with `make infra-up`)"
        )


def no_credentials_message() -> str:
    return (
        "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY locally; "
        "in GitHub Actions the deploy job gets them through OIDC (aws-actions/configure-aws-credentials)"
    )


def remote_dags(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """Current objects under dags/ with their size, by key."""
    objects: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=DAGS_PREFIX):
        for item in page.get("Contents", []):
            objects[item["Key"]] = item
    return objects


def head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as error:
        if _client_error_code(error) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise


def plan_deploy(s3: Any, bucket: str, repo: Path) -> Plan:
    """Compare the repo with the bucket (read-only calls only) and decide what to upload and delete."""
    local = dict(iter_files(repo / "dags"))
    remote = remote_dags(s3, bucket)
    uploads: list[tuple[str, Path, int]] = []
    unchanged = 0
    for relative, path in local.items():
        key = DAGS_PREFIX + relative
        size = path.stat().st_size
        current = remote.get(key)
        # A different size proves a change without a HEAD request; an equal size needs the stored hash.
        if current is not None and current["Size"] == size:
            metadata = (head(s3, bucket, key) or {}).get("Metadata", {})
            if metadata.get(SHA_KEY) == sha256_hex(path.read_bytes()):
                unchanged += 1
                continue
        uploads.append((key, path, size))
    local_keys = {DAGS_PREFIX + relative for relative in local}
    deletes = sorted(key for key in remote if key not in local_keys)

    artifacts, notes = collect_artifacts(repo)
    states = []
    for artifact in artifacts:
        current = head(s3, bucket, artifact.key)
        metadata = (current or {}).get("Metadata", {})
        wanted = {SHA_KEY: artifact.sha256, **artifact.extra_metadata}
        changed = current is None or any(metadata.get(k) != v for k, v in wanted.items())
        states.append(ArtifactState(artifact, changed, None if current is None else current.get("VersionId")))
    return Plan(uploads, deletes, unchanged, states, notes)


def render_plan(plan: Plan, bucket: str) -> str:
    lines = [f"Plan for s3://{bucket}/:"]
    lines += [f"  upload  {key} ({size} bytes)" for key, _, size in plan.dag_uploads]
    lines += [f"  delete  {key}" for key in plan.dag_deletes]
    lines.append(f"  dags/: {plan.dag_unchanged} file(s) unchanged")
    for state in plan.artifacts:
        note = "" if state.artifact.read_by_mwaa else "; EMR Serverless job, no environment update"
        if state.changed:
            lines.append(f"  upload  {state.artifact.key} ({len(state.artifact.content)} bytes, content changed{note})")
        else:
            lines.append(f"  keep    {state.artifact.key} (unchanged, version {state.version_id}{note})")
    lines += [f"  skip    {note}" for note in plan.skipped_artifacts]
    return "\n".join(lines)


def put(s3: Any, bucket: str, key: str, data: bytes, metadata: dict[str, str]) -> str | None:
    """Upload in one request (files here are small) with the content hash in metadata; returns the VersionId."""
    response = s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata)
    return response.get("VersionId")


def apply_plan(s3: Any, bucket: str, plan: Plan, summary: Summary, log: Callable[[str], None]) -> None:
    """Job scripts first, then DAG files, then deletes, then MWAA's root artifacts.

    A changed Spark job lands before the DAG that submits it, and the constraint file before requirements.txt.
    """
    jobs = [state for state in plan.artifacts if not state.artifact.read_by_mwaa]
    root = [state for state in plan.artifacts if state.artifact.read_by_mwaa]
    for state in jobs:
        _upload_artifact(s3, bucket, state, summary, log)
    for key, path, _ in plan.dag_uploads:
        data = path.read_bytes()
        put(s3, bucket, key, data, {SHA_KEY: sha256_hex(data)})
        summary.uploaded.append(key)
        summary.bytes_sent += len(data)
        log(f"uploaded {key} ({len(data)} bytes)")
    for start in range(0, len(plan.dag_deletes), 1000):  # DeleteObjects takes at most 1000 keys
        batch = plan.dag_deletes[start : start + 1000]
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        if response.get("Errors"):
            raise DeployError(f"could not delete {response['Errors']}")
        summary.deleted += batch
        log("deleted " + ", ".join(batch))
    for state in root:
        _upload_artifact(s3, bucket, state, summary, log)


def _upload_artifact(s3: Any, bucket: str, state: ArtifactState, summary: Summary, log: Callable[[str], None]) -> None:
    if not state.changed:
        return
    artifact = state.artifact
    try:
        state.version_id = put(
            s3, bucket, artifact.key, artifact.content, {SHA_KEY: artifact.sha256, **artifact.extra_metadata}
        )
    except botocore.exceptions.ClientError as error:
        if _client_error_code(error) not in {"403", "AccessDenied", "Forbidden"}:
            raise
        hint = (
            "; the deploy role may write it only once the base stack is updated: run `make infra-up` with "
            "administrator credentials"
            if not artifact.read_by_mwaa
            else ""
        )
        raise DeployError(f"access denied writing s3://{bucket}/{artifact.key}{hint}") from error
    if not state.version_id:
        raise DeployError(f"S3 returned no VersionId for {artifact.key}: is versioning enabled on {bucket!r}?")
    summary.uploaded.append(artifact.key)
    summary.bytes_sent += len(artifact.content)
    log(f"uploaded {artifact.key} ({len(artifact.content)} bytes, version {state.version_id})")


def get_environment(mwaa: Any, name: str) -> dict[str, Any]:
    try:
        return mwaa.get_environment(Name=name)["Environment"]
    except botocore.exceptions.ClientError as error:
        if _client_error_code(error) == "ResourceNotFoundException":
            raise DeployError(f"MWAA environment {name!r} does not exist (create it with `make infra-up`)") from error
        raise DeployError(f"cannot read MWAA environment {name!r}: {error}") from error


def environment_changes(environment: dict[str, Any], artifacts: Iterable[ArtifactState]) -> dict[str, str]:
    """UpdateEnvironment fields for the artifacts whose current version the environment does not run yet.

    Comparing with what the environment runs (not only with what was just uploaded) makes a deploy whose update
    failed or was interrupted retry the update next time instead of believing everything is in place.
    """
    changes: dict[str, str] = {}
    for state in artifacts:
        artifact = state.artifact
        if artifact.path_field is None or artifact.version_field is None:
            continue  # e.g. the EMR Serverless job script: MWAA does not read it
        if state.version_id is None:
            continue  # dry run of a first upload: no version exists yet
        if environment.get(artifact.path_field) != artifact.key or environment.get(artifact.version_field) != (
            state.version_id
        ):
            changes[artifact.path_field] = artifact.key
            changes[artifact.version_field] = state.version_id
    return changes


def wait_for_environment(
    mwaa: Any,
    name: str,
    timeout: float,
    poll: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    since: datetime | None = None,
) -> dict[str, Any]:
    """Poll until the environment is AVAILABLE; with `since`, until the update requested at that time has finished.

    An update MWAA rolled back also ends AVAILABLE, so LastUpdate.Status is checked too. Right after the request the
    environment may still report AVAILABLE from before it: only an UPDATING status seen since, or a LastUpdate created
    after `since`, shows that this update is the one that finished.
    """
    deadline = time.monotonic() + timeout
    last = None
    seen_busy = False
    while True:
        environment = get_environment(mwaa, name)
        status = environment.get("Status")
        if status != last:
            log(f"environment {name}: {status}")
            last = status
        last_update = environment.get("LastUpdate") or {}
        created = last_update.get("CreatedAt")
        ours = since is None or seen_busy or (isinstance(created, datetime) and created >= since)
        if status in ENV_BUSY:
            seen_busy = True
        elif status in ENV_FAILED or (since is not None and ours and last_update.get("Status") == "FAILED"):
            error = last_update.get("Error") or {}
            detail = f"{error.get('ErrorCode', '')}: {error.get('ErrorMessage', '')}".strip(": ")
            raise DeployError(
                f"MWAA environment {name!r} update failed (status {status}){': ' + detail if detail else ''}; "
                "MWAA keeps running the previous versions"
            )
        elif status == "AVAILABLE" and ours:
            return environment
        if time.monotonic() > deadline:
            raise DeployError(f"MWAA environment {name!r} is still {status} after {timeout:.0f} s")
        sleep(poll)


def deploy(
    *,
    repo: Path,
    bucket: str,
    environment: str,
    s3: Any,
    mwaa: Any,
    dry_run: bool = False,
    wait: bool = False,
    timeout: float = 3600,
    poll: float = 30,
    log: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> Summary:
    """Run one deploy and return its summary; raises DeployError on anything the user must fix."""
    check_bucket(s3, bucket)
    plan = plan_deploy(s3, bucket, repo)
    log(render_plan(plan, bucket))
    summary = Summary(dry_run=dry_run)
    if dry_run:
        summary.uploaded = [key for key, _, _ in plan.dag_uploads] + [
            s.artifact.key for s in plan.artifacts if s.changed
        ]
        summary.deleted = list(plan.dag_deletes)
        summary.bytes_sent = sum(size for _, _, size in plan.dag_uploads) + sum(
            len(s.artifact.content) for s in plan.artifacts if s.changed
        )
        current = get_environment(mwaa, environment)
        changes = environment_changes(current, plan.artifacts)
        for state in plan.artifacts:
            artifact = state.artifact
            # Its version exists only after the upload; the job script is not an environment setting.
            if state.changed and artifact.path_field is not None and artifact.version_field is not None:
                changes[artifact.path_field] = artifact.key
                changes[artifact.version_field] = "<new version>"
        if changes:
            summary.environment_update = {"Name": environment, **changes}
        return summary

    apply_plan(s3, bucket, plan, summary, log)
    current = get_environment(mwaa, environment)
    changes = environment_changes(current, plan.artifacts)
    if changes:
        status = current.get("Status")
        # UPDATE_FAILED means MWAA rolled a previous update back and accepts a new one.
        if status not in {"AVAILABLE", "UPDATE_FAILED"}:
            if not wait:
                raise DeployError(
                    f"MWAA environment {environment!r} is {status}, so it cannot be updated now; the new files are "
                    "uploaded: run the deploy again (or with --wait) once it is AVAILABLE"
                )
            wait_for_environment(mwaa, environment, timeout, poll, log, sleep)
        request = {"Name": environment, **changes, "WorkerReplacementStrategy": "GRACEFUL"}
        # Two minutes of slack for a local clock ahead of AWS's.
        requested_at = datetime.now(UTC) - timedelta(minutes=2)
        try:
            mwaa.update_environment(**request)
        except botocore.exceptions.ClientError as error:
            raise DeployError(f"update-environment on {environment!r} was refused: {error}") from error
        summary.environment_update = request
        log(f"update-environment requested on {environment} (10-30 minutes; workers are replaced gracefully)")
        if wait:
            wait_for_environment(mwaa, environment, timeout, poll, log, sleep, since=requested_at)
            log(f"environment {environment} runs the new versions")
    return summary


def parse_args(argv: list[str] | None, environ: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="deploy_mwaa.py")
    parser.add_argument("--bucket", default=environ.get("MWAA_BUCKET"), help="source bucket (env MWAA_BUCKET)")
    parser.add_argument(
        "--environment", default=environ.get("MWAA_ENVIRONMENT"), help="MWAA environment name (env MWAA_ENVIRONMENT)"
    )
    parser.add_argument(
        "--region",
        default=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
        help="AWS region (env AWS_REGION or AWS_DEFAULT_REGION)",
    )
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="repository root (default: this repository)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    parser.add_argument("--wait", action="store_true", help="wait until the environment is AVAILABLE after an update")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds --wait waits at most (default 3600)")
    args = parser.parse_args(argv)
    missing = [
        name
        for name, value in (
            ("--bucket or MWAA_BUCKET", args.bucket),
            ("--environment or MWAA_ENVIRONMENT", args.environment),
            ("--region or AWS_REGION", args.region),
        )
        if not value
    ]
    if missing:
        parser.error("missing configuration: " + ", ".join(missing))
    args.bucket = args.bucket.removeprefix("s3://").rstrip("/")
    return args


def aws_clients(region: str) -> tuple[Any, Any]:
    """S3 and MWAA clients from the standard credential chain (profile, env, OIDC web identity)."""
    session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None:
        raise DeployError(no_credentials_message())
    return session.client("s3"), session.client("mwaa")


def main(argv: list[str] | None = None, clients: Callable[[str], tuple[Any, Any]] = aws_clients) -> int:
    args = parse_args(argv, dict(os.environ))
    try:
        s3, mwaa = clients(args.region)
        summary = deploy(
            repo=args.repo,
            bucket=args.bucket,
            environment=args.environment,
            s3=s3,
            mwaa=mwaa,
            dry_run=args.dry_run,
            wait=args.wait,
            timeout=args.timeout,
        )
    except DeployError as error:
        print(f"deploy failed: {error}", file=sys.stderr)
        return 1
    except botocore.exceptions.NoCredentialsError:
        print(f"deploy failed: {no_credentials_message()}", file=sys.stderr)
        return 1
    print(summary.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
