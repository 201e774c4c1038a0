"""The registry lock: one run at a time moves the aliases; every wait is bounded; a dead holder cannot block forever."""

import json
import multiprocessing
import time

import pytest

from ml_pipeline.errors import RegistryBusyError, is_transient
from ml_pipeline.store import locks as locking
from ml_pipeline.store.locks import lock_uri, registry_lock
from ml_pipeline.store.objects import Storage


def _hold_lock(root, seconds, held, released=None):
    with registry_lock(Storage(), root, "wine-classifier"):
        held.set()
        time.sleep(seconds)
        if released is not None:
            released.set()


def test_a_local_lock_excludes_other_processes_and_waits_are_bounded(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    held, released = spawn.Event(), spawn.Event()
    holder = spawn.Process(target=_hold_lock, args=(str(tmp_path), 8, held, released))
    holder.start()
    try:
        assert held.wait(60)
        started = time.monotonic()
        busy = registry_lock(Storage(), str(tmp_path), "wine-classifier", wait_seconds=1)
        with pytest.raises(RegistryBusyError, match="has held the registry lock .* for too long") as raised, busy:
            pass
        assert time.monotonic() - started < 3 and is_transient(raised.value)
        with registry_lock(Storage(), str(tmp_path), "wine-classifier", wait_seconds=30):
            assert released.is_set(), "the lock is granted only once its holder let go"
    finally:
        holder.join(30)


def test_a_local_lock_dies_with_its_holder(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    held = spawn.Event()
    holder = spawn.Process(target=_hold_lock, args=(str(tmp_path), 600, held))
    holder.start()
    assert held.wait(60)
    holder.kill()
    holder.join(10)
    with registry_lock(Storage(), str(tmp_path), "wine-classifier", wait_seconds=5):
        pass


@pytest.fixture
def s3_storage(s3_client):
    s3_client.create_bucket(Bucket="artifacts")
    return Storage(lambda: s3_client)


def test_an_s3_lease_is_exclusive_and_released(s3_storage, s3_client):
    root = "s3://artifacts/pipeline"
    key = lock_uri(root, "wine-classifier").removeprefix("s3://artifacts/")
    with registry_lock(s3_storage, root, "wine-classifier"):
        lease = json.loads(s3_client.get_object(Bucket="artifacts", Key=key)["Body"].read())
        assert lease["expires"] > time.time()
        busy = registry_lock(s3_storage, root, "wine-classifier", wait_seconds=1)
        with pytest.raises(RegistryBusyError), busy:
            pass
    assert s3_client.list_objects_v2(Bucket="artifacts", Prefix=key)["KeyCount"] == 0


def test_an_expired_s3_lease_is_taken_over_and_its_late_owner_cannot_delete_the_new_one(
    s3_storage, s3_client, monkeypatch
):
    root = "s3://artifacts/pipeline"
    key = lock_uri(root, "wine-classifier").removeprefix("s3://artifacts/")
    monkeypatch.setattr(locking, "LEASE_SECONDS", -1)  # every lease written now is already expired
    with registry_lock(s3_storage, root, "wine-classifier"):
        monkeypatch.setattr(locking, "LEASE_SECONDS", 900)
        with registry_lock(s3_storage, root, "wine-classifier", wait_seconds=1):
            current = json.loads(s3_client.get_object(Bucket="artifacts", Key=key)["Body"].read())
            assert current["expires"] > time.time(), "the new holder's lease"
        stolen_by = s3_client.put_object(Bucket="artifacts", Key=key, Body=b'{"owner": "x", "expires": 9e99}')
    # The first holder's release is conditional on its own ETag: the third holder's lease survives it.
    assert s3_client.head_object(Bucket="artifacts", Key=key)["ETag"] == stolen_by["ETag"]
