"""A lock around the registry's alias moves, so runs that finish at the same time gate one after another.

It lives in the artifact store, which every worker reaches. On S3 it is a lease object taken with conditional
writes (If-None-Match to take a free lock, If-Match to take over an expired lease or to release one's own), so a
worker that dies holding it blocks others for at most the lease. Locally it is an flock, released by the kernel
when its process ends. Every wait is bounded: a lock held too long fails with `RegistryBusyError`, which retries.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ml_pipeline.errors import RegistryBusyError
from ml_pipeline.store.objects import Storage, explained_s3_errors, join, local_path, split_s3

log = logging.getLogger(__name__)

WAIT_SECONDS = 300.0
LEASE_SECONDS = 900.0
POLL_SECONDS = 0.5
CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409"})


def lock_uri(artifact_root: str, model_name: str) -> str:
    return join(artifact_root, "_locks", "registry", re.sub(r"[^A-Za-z0-9._-]", "_", model_name) + ".lock")


@contextmanager
def registry_lock(
    storage: Storage, artifact_root: str, model_name: str, *, wait_seconds: float = WAIT_SECONDS
) -> Iterator[None]:
    """Hold the gate lock of `model_name` for the block; wait at most `wait_seconds` for it."""
    uri = lock_uri(artifact_root, model_name)
    deadline = time.monotonic() + wait_seconds
    if uri.startswith("s3://"):
        lock = _s3_lease(storage, uri, deadline)
    else:
        lock = file_lock(local_path(uri), deadline, _busy(uri))
    with lock:
        yield


def _busy(uri: str) -> RegistryBusyError:
    return RegistryBusyError(f"another run has held the registry lock {uri} for too long; this attempt will retry")


@contextmanager
def file_lock(path: Path, deadline: float, busy: Exception) -> Iterator[None]:
    """An flock on a local file, waited for until `deadline` (time.monotonic), else `busy` is raised; the kernel
    frees the lock when its process ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise busy from None
                time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _s3_lease(storage: Storage, uri: str, deadline: float) -> Iterator[None]:
    bucket, key = split_s3(uri)
    with explained_s3_errors(uri):
        while (etag := _take(storage.s3, bucket, key)) is None:
            if time.monotonic() > deadline:
                raise _busy(uri)
            time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        try:
            _conditional(storage.s3.delete_object, Bucket=bucket, Key=key, IfMatch=etag)
        except Exception as error:  # the lease expires by itself; the work it guarded is done
            log.warning("Could not release %s (%s); it expires within %.0f s", uri, error, LEASE_SECONDS)


def _take(s3: Any, bucket: str, key: str) -> str | None:
    """Write a fresh lease if the lock is free or its lease expired; return its ETag, or None if someone holds it."""
    lease = json.dumps(
        {
            "owner": f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
            "expires": time.time() + LEASE_SECONDS,
        }
    ).encode()
    created = _conditional(s3.put_object, Bucket=bucket, Key=key, Body=lease, IfNoneMatch="*")
    if created is not None:
        return created["ETag"]
    current = _conditional(s3.get_object, Bucket=bucket, Key=key)
    if current is None or json.loads(current["Body"].read())["expires"] > time.time():
        return None
    taken = _conditional(s3.put_object, Bucket=bucket, Key=key, Body=lease, IfMatch=current["ETag"])
    return taken["ETag"] if taken is not None else None


def _conditional(call: Any, **kwargs: Any) -> Any:
    """The call's response, or None when another writer got there first (a lost race, not an error)."""
    from botocore.exceptions import ClientError

    try:
        return call(**kwargs)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in CONFLICT_CODES:
            return None
        raise
