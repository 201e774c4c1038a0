"""Which failures are retried: only the transient ones. Everything else fails at once with one line."""

import errno
import os
import sqlite3

import pytest
import requests
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    SSLError,
)
from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, REQUEST_LIMIT_EXCEEDED, TEMPORARILY_UNAVAILABLE

from ml_pipeline.errors import (
    ConfigError,
    DataValidationError,
    EnvironmentFailure,
    ModelLoadError,
    RegistryBusyError,
    TrackingUnavailableError,
    environment_failure,
    is_environment_failure_line,
    is_transient,
    one_line,
    root_cause,
)
from ml_pipeline.store.objects import StorageError


def aws_error(code, status):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def mlflow_unreachable():
    """What MLflow raises when the server refuses connections: the cause is only in __context__."""
    try:
        raise requests.exceptions.ConnectionError("Max retries exceeded (Connection refused)")
    except requests.exceptions.ConnectionError as error:
        try:
            raise MlflowException(f"API request to http://127.0.0.1:9/api failed with exception {error}")
        except MlflowException as wrapped:
            return wrapped


TRANSIENT = {
    "S3 throttling": aws_error("SlowDown", 503),
    "AWS throttling": aws_error("ThrottlingException", 400),
    "AWS 500": aws_error("InternalError", 500),
    "AWS 429": aws_error("TooManyRequestsException", 429),
    "request timeout": aws_error("RequestTimeout", 400),
    "endpoint unreachable": EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
    "connect timeout": ConnectTimeoutError(endpoint_url="https://s3.amazonaws.com"),
    "read timeout": ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
    "connection reset": ConnectionResetError(104, "Connection reset by peer"),
    "socket timeout": TimeoutError("timed out"),
    "requests timeout": requests.exceptions.ReadTimeout("read timed out"),
    "MLflow unreachable": mlflow_unreachable(),
    "MLflow 503": MlflowException("unavailable", error_code=TEMPORARILY_UNAVAILABLE),
    "MLflow 429": MlflowException("slow down", error_code=REQUEST_LIMIT_EXCEEDED),
    "MLflow 5xx without JSON": MlflowException("API request to endpoint /x failed with error code 502 != 200"),
    "MLflow 500 with JSON": RestException({"error_code": "INTERNAL_ERROR", "message": "database is locked"}),
    "SQLite busy": sqlite3.OperationalError("database is locked"),
    "registry lock busy": RegistryBusyError("held too long"),
    "tracking server down": TrackingUnavailableError("did not answer"),
}
PERMANENT = {
    "bad configuration": ConfigError("test_size = 2"),
    "bad data": DataValidationError("missing columns"),
    "unloadable model": ModelLoadError("truncated"),
    "missing bucket": StorageError("bucket does not exist"),
    "no credentials": NoCredentialsError(),
    "access denied": aws_error("AccessDenied", 403),
    "no such bucket": aws_error("NoSuchBucket", 404),
    "expired token": aws_error("ExpiredToken", 400),
    "bad certificate": SSLError(endpoint_url="https://s3.amazonaws.com", error="certificate verify failed"),
    "MLflow permission denied": MlflowException("denied", error_code=PERMISSION_DENIED),
    "MLflow not found": RestException({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such model"}),
    "MLflow local error": MlflowException("invalid metric value"),
    "a bug": KeyError("params"),
    "out of memory": MemoryError(),
}


@pytest.mark.parametrize("error", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient_failures_are_retried(error):
    assert is_transient(error)


@pytest.mark.parametrize("error", PERMANENT.values(), ids=PERMANENT.keys())
def test_permanent_failures_fail_at_once(error):
    assert not is_transient(error)


def test_our_verdict_wins_over_what_an_error_was_raised_from():
    try:
        try:
            raise ConnectionResetError("reset")
        except ConnectionResetError:
            raise ConfigError("bad value") from None
    except ConfigError as error:
        assert not is_transient(error)
    wrapped = TrackingUnavailableError("MLflow did not answer")
    wrapped.__cause__ = KeyError("x")
    assert is_transient(wrapped)


def test_one_line_has_a_label_no_line_breaks_and_no_numpy_wrappers():
    error = DataValidationError("classes with a single row:\n np.int64(7), np.float64(2.5) and np.str_('x')")
    assert one_line(error) == "Invalid input data: classes with a single row: 7, 2.5 and 'x'"
    assert one_line(KeyError("params")) == "KeyError: 'params'"


def test_the_root_cause_is_the_innermost_error():
    assert root_cause(mlflow_unreachable()) == "ConnectionError: Max retries exceeded (Connection refused)"
    assert root_cause(KeyError("x")) == "KeyError: 'x'"


@pytest.mark.parametrize(
    ("code", "advice"),
    [(errno.ENOSPC, "no space left on the device; free space there"), (errno.EACCES, "permission denied; let the user"),
     (errno.EROFS, "the file system is read-only"), (errno.ENOTDIR, "a file is in the way of a folder")],
)  # fmt: skip
def test_a_refusal_of_the_machine_is_an_environment_failure_naming_the_path(code, advice):
    try:
        try:
            raise OSError(code, os.strerror(code), "/store/run/model.joblib")
        except OSError as error:
            raise RuntimeError("a library's own error, raised while writing") from error
    except RuntimeError as wrapped:
        raised = wrapped
    failure = environment_failure(raised)
    assert isinstance(failure, EnvironmentFailure) and not is_transient(failure)
    assert one_line(failure).startswith(f"Environment failure: /store/run/model.joblib: {advice}")
    assert one_line(failure).endswith(", then rerun") and is_environment_failure_line(one_line(failure))
    assert str(environment_failure(raised, "s3://named/by/caller")).startswith("s3://named/by/caller: ")


def test_other_os_errors_are_not_the_environments():
    assert environment_failure(FileNotFoundError(errno.ENOENT, "No such file", "/x")) is None
    assert environment_failure(ConnectionRefusedError(errno.ECONNREFUSED, "refused")) is None
