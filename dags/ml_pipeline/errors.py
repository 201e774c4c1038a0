"""Which failures are worth a retry, and the one line a person reads when a task fails.

Only transient failures (throttling, timeouts, 5xx answers, dropped connections) are retried. Everything else
(bad configuration or data, denied or missing credentials, a missing bucket, a model that cannot be loaded, a bug)
fails at once: retrying it only delays the same error.
"""

from __future__ import annotations

import errno
import re
import sqlite3
import ssl
from collections.abc import Iterator

# AWS error codes (botocore ClientError) that a later attempt can succeed past; any HTTP 5xx or 429 is too.
TRANSIENT_AWS_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
# MLflow error codes that mean "try again later" (HTTP 429, 503 and deadline errors).
TRANSIENT_MLFLOW_CODES = frozenset({"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"})


class PipelineError(Exception):
    """A failure this project understands: its message says what is wrong and what to do."""

    label = "Pipeline error"
    transient = False


class InvalidInputError(PipelineError, ValueError):
    """Bad configuration or data: retrying cannot fix it, so the task should fail at once."""

    label = "Invalid input"


class ConfigError(InvalidInputError):
    """A configuration value is missing or malformed."""

    label = "Invalid configuration"


class DataValidationError(InvalidInputError):
    """The input data cannot be trained on or cannot give an honest score."""

    label = "Invalid input data"


class ModelLoadError(PipelineError):
    """A model (from the artifact store or the registry) cannot be loaded."""

    label = "Model cannot be loaded"


class RegistryBusyError(PipelineError):
    """Another run held the registry's gate lock for longer than this run may wait: worth a retry."""

    label = "Registry busy"
    transient = True


class EnvironmentFailure(PipelineError):
    """The machine or the store refused a file operation (a full disk, a permission, a file in the way): not the
    data's or a candidate's fault, and another attempt would meet the same wall, so the whole run fails."""

    label = "Environment failure"


# What each refusal means and what to do about it, for the one line a person reads.
ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "no space left on the device; free space there (or point artifact_root at a larger store)",
    errno.EDQUOT: "the disk quota is used up; free space there (or point artifact_root at a larger store)",
    errno.EACCES: "permission denied; let the user the worker runs as read and write there",
    errno.EPERM: "operation not permitted; let the user the worker runs as read and write there",
    errno.EROFS: "the file system is read-only; point artifact_root at a writable store",
    errno.ENOTDIR: "a file is in the way of a folder; remove it",
    errno.EEXIST: "a file is in the way of a folder; remove it",
    errno.EISDIR: "a folder is in the way of a file; remove it",
    errno.EIO: "the disk reported an I/O error; check it",
}


def environment_failure(error: BaseException, where: object = None) -> EnvironmentFailure | None:
    """The environment failure `error` was raised from, naming `where` (else the file the OS named), or None."""
    for cause in causes(error):
        if isinstance(cause, EnvironmentFailure):
            return cause
        if isinstance(cause, OSError) and cause.errno in ENVIRONMENT_ERRNOS:
            path = where or cause.filename or "a local file"
            return EnvironmentFailure(f"{path}: {ENVIRONMENT_ERRNOS[cause.errno]}, then rerun")
    return None


def is_environment_failure_line(line: str) -> bool:
    """Whether a task's one-line reason (`one_line`) reports an environment failure."""
    return line.startswith(f"{EnvironmentFailure.label}: ")


class TrackingUnavailableError(PipelineError):
    """The MLflow tracking server did not answer (refused, timed out, 5xx): worth a retry."""

    label = "MLflow unavailable"
    transient = True


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it was raised from or during, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        suppressed = current.__suppress_context__
        current = current.__cause__ if current.__cause__ is not None else None if suppressed else current.__context__


def _is_transient_one(error: BaseException) -> bool:
    # Imported here: this module is imported when a task starts, these only matter once something failed.
    import botocore.exceptions as aws
    import requests.exceptions as http
    from mlflow.exceptions import MlflowException, RestException

    if isinstance(error, (ssl.SSLError, aws.SSLError, http.SSLError)):  # a certificate will not fix itself
        return False
    if isinstance(error, aws.ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in TRANSIENT_AWS_CODES or status >= 500 or status == 429
    if isinstance(error, MlflowException):
        code = str(error.error_code)
        # An HTTP 5xx answer (with or without a JSON body) or a dropped connection to the tracking server.
        from_server = isinstance(error, RestException) or str(error).startswith("API request to")
        return code in TRANSIENT_MLFLOW_CODES or (code == "INTERNAL_ERROR" and from_server)
    transient_types = (
        ConnectionError,  # resets, refusals, broken pipes
        TimeoutError,
        aws.ConnectionError,  # endpoint unreachable, connect timeouts
        aws.ReadTimeoutError,
        aws.ConnectionClosedError,
        http.ConnectionError,
        http.Timeout,
        http.ChunkedEncodingError,
        http.RetryError,
    )
    if isinstance(error, transient_types):
        return True
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def is_transient(error: BaseException) -> bool:
    """Whether another attempt may succeed: this project's own errors know; others by what they were raised from."""
    for cause in causes(error):
        if isinstance(cause, PipelineError):
            return cause.transient
        if _is_transient_one(cause):
            return True
    return False


def root_cause(error: BaseException) -> str:
    """The innermost error, shortly: `ConnectionRefusedError: [Errno 111] Connection refused`."""
    *_, innermost = causes(error)
    text = " ".join(str(innermost).split())
    return f"{type(innermost).__name__}: {text[:200]}" if text else type(innermost).__name__


_NUMPY_SCALAR = re.compile(r"np\.(?:u?int\d*|float\d*|bool_?|str_)\(([^()]*)\)")


def plain(text: str) -> str:
    """Drop numpy's scalar wrappers (`np.int64(3)` -> `3`) so messages read as people write values."""
    return _NUMPY_SCALAR.sub(r"\1", text)


def one_line(error: BaseException) -> str:
    """`Label: message` on a single line, for task logs, XCom and `make run`'s summary."""
    label = error.label if isinstance(error, PipelineError) else type(error).__name__
    message = " ".join(str(error).split()) or "no details"
    return plain(f"{label}: {message}")
