"""The artifact store: whole objects by URI, locally or on S3, under a prefix per DAG run."""

import errno
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.stub import Stubber

from ml_pipeline.errors import ConfigError, EnvironmentFailure, is_transient, one_line
from ml_pipeline.store.objects import Storage, StorageError, join, run_prefix


def test_local_objects_round_trip_and_create_their_folders(tmp_path):
    storage = Storage()
    uri = storage.write_bytes(str(tmp_path / "a" / "b" / "object.bin"), b"payload")
    assert storage.read_bytes(uri) == b"payload"
    assert storage.read_bytes(f"file://{uri}") == b"payload"


def test_s3_objects_round_trip(s3_client):
    s3_client.create_bucket(Bucket="artifacts")
    storage = Storage(lambda: s3_client)
    storage.write_bytes("s3://artifacts/runs/x/object.bin", b"payload")
    assert s3_client.get_object(Bucket="artifacts", Key="runs/x/object.bin")["Body"].read() == b"payload"
    assert storage.read_bytes("s3://artifacts/runs/x/object.bin") == b"payload"


@pytest.mark.parametrize("uri", ["s3://artifacts/missing.bin", "s3://no-such-bucket/key", "s3://artifacts"])
def test_missing_s3_objects_raise_a_storage_error_naming_the_uri(s3_client, uri):
    s3_client.create_bucket(Bucket="artifacts")
    with pytest.raises(StorageError, match=uri):
        Storage(lambda: s3_client).read_bytes(uri)


def test_exists_looks_without_reading_and_names_a_denied_uri(tmp_path, s3_client):
    assert not Storage().exists(str(tmp_path / "object.bin"))
    assert Storage().exists(Storage().write_bytes(str(tmp_path / "object.bin"), b"x"))
    s3_client.create_bucket(Bucket="artifacts")
    storage = Storage(lambda: s3_client)
    assert not storage.exists("s3://artifacts/runs/object.bin")
    assert storage.exists(storage.write_bytes("s3://artifacts/runs/object.bin", b"x"))
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stub:
        stub.add_client_error("head_object", "403", http_status_code=403)
        with pytest.raises(StorageError, match="s3://artifacts/key: access denied"):
            Storage(lambda: s3).exists("s3://artifacts/key")


def test_missing_local_object_raises_a_storage_error(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        Storage().read_bytes(str(tmp_path / "missing"))


def test_each_dag_run_gets_its_own_prefix():
    first = run_prefix("s3://bucket/ml/", "classification_pipeline", "scheduled__2026-11-21T00:00:00+00:00")
    second = run_prefix("s3://bucket/ml/", "classification_pipeline", "scheduled__2026-11-22T00:00:00+00:00")
    assert first == "s3://bucket/ml/classification_pipeline/scheduled__2026-11-21T00_00_00_00_00"
    assert first != second


@pytest.mark.parametrize("part", ["..", "../../tmp/escape", "a/../../b"])
def test_no_name_leads_outside_the_root(tmp_path, part):
    with pytest.raises(ConfigError, match=r"would lead outside .*may not hold '\.\.'"):
        join(str(tmp_path / "root"), "run", part)


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("NoSuchBucket", 404, "bucket gone does not exist; create it or fix the URI"),
        ("AccessDenied", 403, "access denied (AccessDenied); grant the worker's AWS role access to s3://gone"),
        ("InvalidAccessKeyId", 403, "access denied (InvalidAccessKeyId)"),
    ],
)
def test_permanent_s3_failures_are_one_line_naming_the_uri_and_the_fix(code, status, message):
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stub:
        stub.add_client_error("put_object", service_error_code=code, http_status_code=status)
        with pytest.raises(StorageError) as raised:
            Storage(lambda: s3).write_bytes("s3://gone/runs/x.bin", b"payload")
    assert str(raised.value).startswith("s3://gone/runs/x.bin") and message in str(raised.value)
    assert not is_transient(raised.value)


def test_throttling_is_left_to_be_retried():
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(ClientError) as raised:
            Storage(lambda: s3).read_bytes("s3://bucket/key")
    assert is_transient(raised.value)


def test_missing_credentials_say_where_to_configure_them():
    class NoCredentials:
        def get_object(self, **kwargs):
            raise NoCredentialsError()

    with pytest.raises(StorageError, match="no AWS credentials .*configure the Airflow connection") as raised:
        Storage(NoCredentials).read_bytes("s3://bucket/key")
    assert not is_transient(raised.value)


def test_a_streamed_upload_to_a_missing_bucket_names_the_bucket(s3_client, tmp_path):
    (tmp_path / "frame.parquet").write_bytes(b"rows")
    with pytest.raises(StorageError, match="bucket no-such-bucket does not exist; create it or fix the URI"):
        Storage().write_file("s3://no-such-bucket/run/frame.parquet", tmp_path / "frame.parquet")


def test_a_write_that_fills_the_disk_half_way_leaves_no_file_and_names_the_uri(tmp_path, monkeypatch):
    target = tmp_path / "model" / "model.joblib"
    Storage().write_bytes(str(target), b"the earlier attempt's model")

    def fill_the_disk(path, data):
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", fill_the_disk)
    with pytest.raises(EnvironmentFailure) as raised:
        Storage().write_bytes(str(target), b"a new model, twice as long as it can be written")
    assert one_line(raised.value) == (
        f"Environment failure: {target}: no space left on the device; free space there (or point artifact_root at a "
        "larger store), then rerun"
    )
    monkeypatch.undo()
    assert target.read_bytes() == b"the earlier attempt's model", "never a truncated file"
    assert sorted(path.name for path in target.parent.iterdir()) == ["model.joblib"], "no temporary file left"


def test_a_file_in_the_way_of_a_folder_is_an_environment_failure(tmp_path):
    (tmp_path / "model").write_text("not a folder")
    with pytest.raises(EnvironmentFailure, match=r"model/extra_trees/model.joblib: a file is in the way of a folder"):
        Storage().write_bytes(str(tmp_path / "model" / "extra_trees" / "model.joblib"), b"model")
