"""Sync the repository into the MWAA source bucket: plan with read-only calls, then apply the plan.

dags/ is mirrored file by file (uploads of changed content, deletes of keys whose file left the repo); the whole
objects of bundle.py are uploaded when their content changed, each getting a new object version. Content is compared
through a sha256 kept in each object's metadata: an ETag is an MD5 only for single-part uploads without SSE-KMS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions

from deploy.aws import ACCESS_DENIED, NO_CREDENTIALS, NOT_FOUND, DeployError, error_code, head_object
from deploy.bundle import Artifact, collect_artifacts, sha256_hex
from deploy.files import RepoFiles

DAGS_PREFIX = "dags/"
SHA_KEY = "sha256"  # object metadata key (x-amz-meta-sha256)
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys

Log = Callable[[str], None]


@dataclass
class ArtifactState:
    artifact: Artifact
    changed: bool  # content differs from the current object (or there is none): upload it
    version_id: str | None  # current object's version; replaced by the new one after the upload


@dataclass
class Plan:
    """Everything one sync does, in the order it does it; `--dry-run` prints it and stops."""

    dag_uploads: list[tuple[str, Path, int]]  # (key, local file, size)
    dag_deletes: list[str]
    dag_unchanged: int
    artifacts: list[ArtifactState]
    skipped: list[str]  # what does not ship and why, e.g. "plugins.zip: plugins/ has no files"

    @property
    def jobs(self) -> list[ArtifactState]:
        return [state for state in self.artifacts if not state.artifact.read_by_mwaa]

    @property
    def mwaa_artifacts(self) -> list[ArtifactState]:
        return [state for state in self.artifacts if state.artifact.read_by_mwaa]

    def uploads(self) -> list[tuple[str, int]]:
        """(key, bytes) in upload order: job scripts, DAG files, then MWAA's root objects."""
        return _changed(self.jobs) + [(key, size) for key, _, size in self.dag_uploads] + _changed(self.mwaa_artifacts)

    def versions(self) -> dict[str, str]:
        """The *ObjectVersion fields of MWAA's root objects as they are now (after `apply_plan`: the new ones)."""
        return {
            s.artifact.version_field: s.version_id
            for s in self.mwaa_artifacts
            if s.version_id and s.artifact.version_field
        }

    def totals(self) -> str:
        uploads = self.uploads()
        sent = sum(size for _, size in uploads)
        return f"{len(uploads)} file(s) uploaded ({sent} bytes), {len(self.dag_deletes)} deleted"

    def render(self, bucket: str) -> str:
        lines = [f"Plan for s3://{bucket}/:"]
        lines += [f"  upload  {key} ({size} bytes)" for key, _, size in self.dag_uploads]
        lines += [f"  delete  {key}" for key in self.dag_deletes]
        lines.append(f"  dags/: {self.dag_unchanged} file(s) unchanged")
        for state in self.artifacts:
            note = "" if state.artifact.read_by_mwaa else f"; {state.artifact.job_note}, no environment update"
            if state.changed:
                lines.append(
                    f"  upload  {state.artifact.key} ({len(state.artifact.content)} bytes, content changed{note})"
                )
            else:
                lines.append(f"  keep    {state.artifact.key} (unchanged, version {state.version_id}{note})")
        lines += [f"  skip    {note}" for note in self.skipped]
        return "\n".join(lines)


def _changed(states: list[ArtifactState]) -> list[tuple[str, int]]:
    return [(state.artifact.key, len(state.artifact.content)) for state in states if state.changed]


def check_bucket(s3: Any, bucket: str) -> None:
    """Fail early and clearly: MWAA needs the bucket to exist and to have versioning on."""
    try:
        s3.head_bucket(Bucket=bucket)
        versioning = s3.get_bucket_versioning(Bucket=bucket)
    except botocore.exceptions.NoCredentialsError as error:
        raise DeployError(NO_CREDENTIALS) from error
    except botocore.exceptions.ClientError as error:
        if error_code(error) in NOT_FOUND:
            raise DeployError(f"bucket {bucket!r} does not exist (create it with `make infra-up`)") from error
        if error_code(error) in ACCESS_DENIED:
            raise DeployError(f"access to bucket {bucket!r} was denied: check the credentials' permissions") from error
        raise DeployError(f"cannot read bucket {bucket!r}: {error}") from error
    if versioning.get("Status") != "Enabled":
        raise DeployError(
            f"bucket {bucket!r} does not have versioning enabled; MWAA references requirements.txt, plugins.zip and "
            "the startup script by object version (enable it, or create the bucket with `make infra-up`)"
        )


def _remote_dags(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """Current objects under dags/ with their size, by key."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=DAGS_PREFIX)
    return {item["Key"]: item for page in pages for item in page.get("Contents", [])}


def _unchanged(s3: Any, bucket: str, key: str, path: Path, remote: dict[str, Any] | None) -> bool:
    """A different size proves a change without a HEAD request; an equal size needs the stored hash."""
    if remote is None or remote["Size"] != path.stat().st_size:
        return False
    metadata = (head_object(s3, bucket, key) or {}).get("Metadata", {})
    return metadata.get(SHA_KEY) == sha256_hex(path.read_bytes())


def plan_sync(s3: Any, bucket: str, repo: Path) -> Plan:
    """Compare the repo with the bucket (read-only calls only) and decide what to upload and delete."""
    files = RepoFiles.read(repo)
    local = {DAGS_PREFIX + relative: path for relative, path in files.under("dags")}
    remote = _remote_dags(s3, bucket)
    uploads = [
        (key, path, path.stat().st_size)
        for key, path in local.items()
        if not _unchanged(s3, bucket, key, path, remote.get(key))
    ]
    deletes = sorted(key for key in remote if key not in local)
    artifacts, notes = collect_artifacts(files)
    states = []
    for artifact in artifacts:
        current = head_object(s3, bucket, artifact.key)
        metadata = (current or {}).get("Metadata", {})
        wanted = {SHA_KEY: artifact.sha256, **artifact.extra_metadata}
        changed = current is None or any(metadata.get(k) != v for k, v in wanted.items())
        states.append(ArtifactState(artifact, changed, None if current is None else current.get("VersionId")))
    return Plan(uploads, deletes, len(local) - len(uploads), states, notes)


def _put(s3: Any, bucket: str, key: str, data: bytes, metadata: dict[str, str]) -> str | None:
    """Upload in one request (files here are small) with the content hash in metadata; returns the VersionId."""
    return s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata).get("VersionId")


def apply_plan(s3: Any, bucket: str, plan: Plan, log: Log) -> None:
    """Job scripts first, then DAG files, then deletes, then MWAA's root objects.

    A changed Spark job lands before the DAG that submits it, and the constraint file before requirements.txt.
    """
    for state in plan.jobs:
        _upload_artifact(s3, bucket, state, log)
    for key, path, _ in plan.dag_uploads:
        data = path.read_bytes()
        _put(s3, bucket, key, data, {SHA_KEY: sha256_hex(data)})
        log(f"uploaded {key} ({len(data)} bytes)")
    for start in range(0, len(plan.dag_deletes), DELETE_BATCH):
        batch = plan.dag_deletes[start : start + DELETE_BATCH]
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        if response.get("Errors"):
            raise DeployError(f"could not delete {response['Errors']}")
        log("deleted " + ", ".join(batch))
    for state in plan.mwaa_artifacts:
        _upload_artifact(s3, bucket, state, log)


def _upload_artifact(s3: Any, bucket: str, state: ArtifactState, log: Log) -> None:
    if not state.changed:
        return
    artifact = state.artifact
    try:
        state.version_id = _put(
            s3, bucket, artifact.key, artifact.content, {SHA_KEY: artifact.sha256, **artifact.extra_metadata}
        )
    except botocore.exceptions.ClientError as error:
        if error_code(error) not in ACCESS_DENIED:
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
    log(f"uploaded {artifact.key} ({len(artifact.content)} bytes, version {state.version_id})")


def publish(s3: Any, bucket: str, repo: Path, log: Log, *, dry_run: bool = False) -> Plan:
    """The one way code reaches the bucket (make deploy and make infra-up): check, plan, print the plan, apply."""
    check_bucket(s3, bucket)
    plan = plan_sync(s3, bucket, repo)
    log(plan.render(bucket))
    if not dry_run:
        apply_plan(s3, bucket, plan, log)
    return plan
