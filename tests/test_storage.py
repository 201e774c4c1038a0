"""The artifact store: whole objects by URI, locally or on S3, under a prefix per DAG run."""

import pytest

from ml_pipeline.storage import Storage, StorageError, run_prefix


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


def test_missing_local_object_raises_a_storage_error(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        Storage().read_bytes(str(tmp_path / "missing"))


def test_each_dag_run_gets_its_own_prefix():
    first = run_prefix("s3://bucket/ml/", "classification_pipeline", "scheduled__2026-11-21T00:00:00+00:00")
    second = run_prefix("s3://bucket/ml/", "classification_pipeline", "scheduled__2026-11-22T00:00:00+00:00")
    assert first == "s3://bucket/ml/classification_pipeline/scheduled__2026-11-21T00_00_00_00_00"
    assert first != second
