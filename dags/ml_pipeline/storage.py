"""The artifact store every task can reach: a local folder, or S3 on MWAA where workers share no disk.

Tasks exchange only URIs through XCom; the bytes live here, under a prefix of their own per DAG run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml_pipeline.errors import PipelineError, is_transient

DENIED_CODES = frozenset(
    {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)


class StorageError(PipelineError):
    """An object could not be read or written, for a reason retrying cannot fix; the message names the URI."""

    label = "Artifact store error"


def run_prefix(root: str, dag_id: str, run_id: str) -> str:
    """Where one DAG run keeps its artifacts, so runs never overwrite each other (retries do, by design)."""
    safe_run_id = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return join(root, dag_id, safe_run_id)


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(part.strip("/") for part in parts)])


def split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if not parsed.netloc or not parsed.path.strip("/"):
        raise StorageError(f"{uri} is not a valid s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path:
    return Path(urlparse(uri).path if uri.startswith("file://") else uri)


def _default_s3_client() -> Any:
    import boto3

    return boto3.client("s3")


@contextmanager
def explained_s3_errors(uri: str) -> Iterator[None]:
    """Turn S3's permanent failures into one line naming the URI and the fix; transient ones pass through."""
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    bucket = urlparse(uri).netloc
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as error:
        raise StorageError(
            f"{uri}: no AWS credentials ({error}); configure the Airflow connection (aws_conn_id) or the worker's role"
        ) from None
    except ClientError as error:
        if is_transient(error):
            raise
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            raise StorageError(f"{uri}: bucket {bucket} does not exist; create it or fix the URI") from None
        if code in ("NoSuchKey", "404"):
            raise StorageError(f"{uri} does not exist") from None
        if code in DENIED_CODES:
            raise StorageError(
                f"{uri}: access denied ({code}); grant the worker's AWS role access to s3://{bucket}"
            ) from None
        raise StorageError(f"{uri}: {code or 'S3 error'}: {error}") from None


@dataclass
class Storage:
    """Reads and writes whole objects by URI. The S3 client is made on first use by `s3_client_factory`."""

    s3_client_factory: Callable[[], Any] = _default_s3_client
    _s3: Any = field(default=None, init=False, repr=False)

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self.s3_client_factory()
        return self._s3

    def read_bytes(self, uri: str) -> bytes:
        if uri.startswith("s3://"):
            bucket, key = split_s3(uri)
            with explained_s3_errors(uri):
                return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        path = local_path(uri)
        if not path.is_file():
            raise StorageError(f"{uri} does not exist")
        return path.read_bytes()

    def write_bytes(self, uri: str, data: bytes) -> str:
        if uri.startswith("s3://"):
            bucket, key = split_s3(uri)
            with explained_s3_errors(uri):
                self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        else:
            path = local_path(uri)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return uri
