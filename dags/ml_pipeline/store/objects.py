"""The artifact store every task can reach: a local folder, or S3 on MWAA where workers share no disk.

Tasks exchange only URIs through XCom; the bytes live here, under a prefix of their own per DAG run.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml_pipeline.errors import ConfigError, PipelineError, environment_failure, is_transient

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
    """`root/part/...`, which stays under `root`: a part that would climb out of it (`..`) is refused."""
    for part in parts:
        if ".." in part.split("/"):
            raise ConfigError(
                f"{part!r} would lead outside {root}; names of runs, candidates and models may not hold '..'"
            )
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
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    bucket = urlparse(uri).netloc
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as error:
        raise StorageError(
            f"{uri}: no AWS credentials ({error}); configure the Airflow connection (aws_conn_id) or the worker's role"
        ) from None
    except (ClientError, S3UploadFailedError) as raised:
        s3_error = raised if isinstance(raised, ClientError) else raised.__context__  # upload_file wraps S3's error
        if not isinstance(s3_error, ClientError):
            raise
        if is_transient(s3_error):
            raise s3_error from None
        code = str(s3_error.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            raise StorageError(f"{uri}: bucket {bucket} does not exist; create it or fix the URI") from None
        if code in ("NoSuchKey", "404"):
            raise StorageError(f"{uri} does not exist") from None
        if code in DENIED_CODES:
            raise StorageError(
                f"{uri}: access denied ({code}); grant the worker's AWS role access to s3://{bucket}"
            ) from None
        raise StorageError(f"{uri}: {code or 'S3 error'}: {s3_error}") from None


@contextmanager
def explained_local_errors(uri: str) -> Iterator[None]:
    """A full disk, a permission or a file in the way, named by the URI: the run fails, whoever met it."""
    try:
        yield
    except OSError as error:
        raise environment_failure(error, uri) or error from None


def write_whole(path: Path, write: Callable[[Path], object]) -> None:
    """`write(temporary)` beside `path`, then renamed into place: a reader sees the whole file or none of it, even
    when the disk fills up half way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")  # hidden: readers of a folder skip it
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


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
        with explained_local_errors(uri):
            return path.read_bytes()

    def exists(self, uri: str) -> bool:
        """Whether an object (or local file) is at `uri`, without reading it."""
        if not uri.startswith("s3://"):
            return local_path(uri).is_file()
        from botocore.exceptions import ClientError

        bucket, key = split_s3(uri)
        with explained_s3_errors(uri):
            try:
                self.s3.head_object(Bucket=bucket, Key=key)
            except ClientError as error:
                if str(error.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
        return True

    def write_bytes(self, uri: str, data: bytes) -> str:
        if uri.startswith("s3://"):
            bucket, key = split_s3(uri)
            with explained_s3_errors(uri):
                self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        else:
            with explained_local_errors(uri):
                write_whole(local_path(uri), lambda temporary: temporary.write_bytes(data))
        return uri

    def list_files(self, prefix_uri: str, suffixes: tuple[str, ...] = ("",)) -> list[str]:
        """The files under a folder or S3 prefix, subfolders included, whose names end with one of `suffixes` (any, by
        default), sorted. Hidden files and folders (`.name`: temporary or checksum files of writers) are not listed."""
        if prefix_uri.startswith("s3://"):
            bucket, prefix = split_s3(prefix_uri.rstrip("/") + "/")
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            with explained_s3_errors(prefix_uri):
                keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
            names = {key: key.rsplit("/", 1)[-1] for key in keys}
            return sorted(
                f"s3://{bucket}/{key}" for key, name in names.items()
                if name and not name.startswith(".") and name.lower().endswith(suffixes)
            )  # fmt: skip
        folder = local_path(prefix_uri)
        return sorted(
            str(path) for path in folder.rglob("*")
            if path.is_file() and path.name.lower().endswith(suffixes)
            and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        )  # fmt: skip

    def delete_folder(self, prefix_uri: str) -> None:
        """Remove everything under a folder or S3 prefix (nothing to do when there is nothing)."""
        if not prefix_uri.startswith("s3://"):
            shutil.rmtree(local_path(prefix_uri), ignore_errors=True)
            return
        bucket, prefix = split_s3(prefix_uri.rstrip("/") + "/")
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        with explained_s3_errors(prefix_uri):
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:  # a page holds at most 1000 keys, as many as one delete_objects call takes
                    self.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})

    def is_folder(self, uri: str) -> bool:
        """A local directory, or an S3 URI that names a prefix (ends with `/`) rather than an object."""
        return uri.endswith("/") if uri.startswith("s3://") else local_path(uri).is_dir()

    @contextmanager
    def local_copy(self, uri: str) -> Iterator[Path]:
        """A path to the object's bytes on local disk: the file itself, or a temporary download from S3."""
        if not uri.startswith("s3://"):
            path = local_path(uri)
            if not path.is_file():
                raise StorageError(f"{uri} does not exist")
            yield path
            return
        bucket, key = split_s3(uri)
        with tempfile.NamedTemporaryFile(suffix=Path(key).suffix) as handle:
            # A full local disk is the worker's failure, not S3's: named by the temporary file.
            with explained_s3_errors(uri), explained_local_errors(f"{handle.name} (a temporary copy of {uri})"):
                self.s3.download_fileobj(bucket, key, handle)
                handle.flush()
            yield Path(handle.name)

    def write_file(self, uri: str, path: Path) -> str:
        """Store a local file's bytes at `uri` without reading it into memory (S3: a streamed, multipart upload)."""
        if uri.startswith("s3://"):
            bucket, key = split_s3(uri)
            with explained_s3_errors(uri):
                self.s3.upload_file(str(path), bucket, key)
        else:
            with explained_local_errors(uri):
                write_whole(local_path(uri), lambda temporary: shutil.copyfile(path, temporary))
        return uri
