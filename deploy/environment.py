"""Point the MWAA environment at new object versions, with graceful worker replacement, and wait for it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import botocore.exceptions
import tenacity

from deploy.aws import DeployError, error_code
from deploy.sync import ArtifactState, Log

BUSY = {"CREATING", "UPDATING", "ROLLING_BACK", "CREATING_SNAPSHOT", "PENDING", "MAINTENANCE"}
FAILED = {"CREATE_FAILED", "UPDATE_FAILED", "UNAVAILABLE", "DELETING", "DELETED"}
# UPDATE_FAILED means MWAA rolled a previous update back and accepts a new one.
UPDATABLE = {"AVAILABLE", "UPDATE_FAILED"}
NEW_VERSION = "<new version>"  # what a dry run shows for a version that exists only after the upload
CLOCK_SLACK = timedelta(minutes=2)  # a local clock ahead of AWS's


def get_environment(mwaa: Any, name: str) -> dict[str, Any]:
    try:
        return mwaa.get_environment(Name=name)["Environment"]
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise DeployError(f"MWAA environment {name!r} does not exist (create it with `make infra-up`)") from error
        raise DeployError(f"cannot read MWAA environment {name!r}: {error}") from error


def environment_changes(
    environment: dict[str, Any], artifacts: Iterable[ArtifactState], *, dry_run: bool = False
) -> dict[str, str]:
    """UpdateEnvironment fields for the objects whose current version the environment does not run yet.

    Comparing with what the environment runs (not only with what was just uploaded) makes a deploy whose update
    failed or was interrupted retry the update next time instead of believing everything is in place.
    """
    changes: dict[str, str] = {}
    for state in artifacts:
        artifact = state.artifact
        if artifact.path_field is None or artifact.version_field is None:
            continue  # e.g. the EMR Serverless job script: MWAA does not read it
        version = NEW_VERSION if dry_run and state.changed else state.version_id
        if version is None:
            continue
        if environment.get(artifact.path_field) != artifact.key or environment.get(artifact.version_field) != version:
            changes[artifact.path_field] = artifact.key
            changes[artifact.version_field] = version
    return changes


def wait_for_environment(
    mwaa: Any,
    name: str,
    timeout: float,
    poll: float,
    log: Log,
    sleep: Callable[[float], None] = time.sleep,
    since: datetime | None = None,
) -> dict[str, Any]:
    """Poll until the environment is AVAILABLE; with `since`, until the update requested at that time has finished.

    An update MWAA rolled back also ends AVAILABLE, so LastUpdate.Status is checked too. Right after the request the
    environment may still report AVAILABLE from before it: only an UPDATING status seen since, or a LastUpdate created
    after `since`, shows that this update is the one that finished.
    """
    seen: list[str | None] = []

    def finished() -> dict[str, Any] | None:
        environment = get_environment(mwaa, name)
        status = environment.get("Status")
        if not seen or seen[-1] != status:
            log(f"environment {name}: {status}")
        seen.append(status)
        last_update = environment.get("LastUpdate") or {}
        created = last_update.get("CreatedAt")
        ours = since is None or bool(BUSY & set(seen)) or (isinstance(created, datetime) and created >= since)
        if status in FAILED or (
            status not in BUSY and since is not None and ours and last_update.get("Status") == "FAILED"
        ):
            error = last_update.get("Error") or {}
            detail = f"{error.get('ErrorCode', '')}: {error.get('ErrorMessage', '')}".strip(": ")
            raise DeployError(
                f"MWAA environment {name!r} update failed (status {status}){': ' + detail if detail else ''}; "
                "MWAA keeps running the previous versions"
            )
        return environment if status == "AVAILABLE" and ours else None

    polling = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(poll),
        retry=tenacity.retry_if_result(lambda environment: environment is None),
        sleep=sleep,
    )
    try:
        # The polling stops only on a result that is not None: an available environment.
        return cast(dict[str, Any], polling(finished))
    except tenacity.RetryError as error:
        raise DeployError(f"MWAA environment {name!r} is still {seen[-1]} after {timeout:.0f} s") from error


def update_environment(
    mwaa: Any,
    name: str,
    status: str | None,
    changes: dict[str, str],
    *,
    wait: bool,
    timeout: float,
    poll: float,
    log: Log,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Request the update (after waiting for a busy environment with --wait); returns the request sent."""
    if status not in UPDATABLE:
        if not wait:
            raise DeployError(
                f"MWAA environment {name!r} is {status}, so it cannot be updated now; the new files "
                "are uploaded: run the deploy again (or with --wait) once it is AVAILABLE"
            )
        wait_for_environment(mwaa, name, timeout, poll, log, sleep)
    request = {"Name": name, **changes, "WorkerReplacementStrategy": "GRACEFUL"}
    requested_at = datetime.now(UTC) - CLOCK_SLACK
    try:
        mwaa.update_environment(**request)
    except botocore.exceptions.ClientError as error:
        raise DeployError(f"update-environment on {name!r} was refused: {error}") from error
    log(f"update-environment requested on {name} (10-30 minutes; workers are replaced gracefully)")
    if wait:
        wait_for_environment(mwaa, name, timeout, poll, log, sleep, since=requested_at)
        log(f"environment {name} runs the new versions")
    return request
