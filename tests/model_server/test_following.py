"""Following the alias in one worker: a move is noticed and swapped in whole; a version that cannot serve, a registry
that does not answer, or an alias that does not exist yet never takes away the version serving."""

from __future__ import annotations

import logging
import threading

import pytest
from fastapi.testclient import TestClient
from pipeline_runs import MODEL
from serving_helpers import BROKEN, GOOD, OTHER, move_champion, wait_until
from sklearn.datasets import load_wine

from serving.app import create_app
from serving.loading import Source
from serving.settings import ServerSettings

CHAMPION = Source(MODEL, alias="champion")
CSV_BODY = load_wine(as_frame=True).data.head(3).to_csv(index=False)


def serving(follower) -> str | None:
    return follower.model.version if follower.model else None


def test_a_move_of_the_alias_is_swapped_in(registry, follower_of):
    follower = follower_of(CHAMPION)
    follower.start()
    wait_until(lambda: serving(follower) == GOOD, what="version 1 loading")
    move_champion(OTHER)
    wait_until(lambda: serving(follower) == OTHER, timeout=30, what="the swap to version 2")
    assert follower.health()["model"] == {"name": MODEL, "version": OTHER}


def test_a_version_that_cannot_serve_is_not_swapped_in(registry, follower_of, caplog):
    follower = follower_of(CHAMPION)
    follower.check()
    move_champion(BROKEN)
    with caplog.at_level(logging.ERROR, logger="serving"):
        follower.check()
    assert serving(follower) == GOOD
    health = follower.health()
    assert health["status"] == "serving"
    assert health["failed_version"]["version"] == BROKEN
    assert "carries no data set schema" in health["failed_version"]["reason"]
    assert f"v{BROKEN} was not swapped in" in caplog.text and f"v{GOOD} keeps serving" in caplog.text
    follower.check()  # not tried again before its pause is over
    assert follower.health()["failed_version"]["attempts"] == 1
    move_champion(OTHER)
    follower.check()
    assert serving(follower) == OTHER and "failed_version" not in follower.health()


def test_a_load_that_hangs_is_abandoned_within_the_time_limit(registry, follower_of, monkeypatch):
    follower = follower_of(CHAMPION)
    follower.check()  # a real load, which a busy machine may take seconds over
    assert serving(follower) == GOOD
    follower.load_timeout_seconds = 0.5
    move_champion(OTHER)
    release = threading.Event()
    monkeypatch.setattr("serving.following.load", lambda source, version: release.wait(10))
    follower.check()
    release.set()
    assert serving(follower) == GOOD
    assert follower.health()["failed_version"]["reason"] == "not loaded and warm within 0.5 s"


def test_a_pinned_version_never_moves(registry, follower_of):
    follower = follower_of(Source(MODEL, version=GOOD))
    follower.check()
    move_champion(OTHER)
    follower.check()
    assert serving(follower) == GOOD


def test_an_unreachable_registry_keeps_the_version_serving(registry, follower_of, monkeypatch):
    follower = follower_of(CHAMPION)
    follower.check()

    def unreachable(source):
        raise ConnectionError("Connection refused")

    monkeypatch.setattr("serving.following.current_version", unreachable)
    follower.check()
    assert serving(follower) == GOOD
    assert follower.health()["registry_problem"] == "the registry did not answer: Connection refused"


def test_not_ready_until_the_alias_exists(registry, follower_of):
    follower = follower_of(Source(MODEL, alias="not-yet"))
    settings = ServerSettings(model_uri=f"models:/{MODEL}@not-yet")
    with TestClient(create_app(settings, follower), raise_server_exceptions=False) as client:
        wait_until(lambda: follower.registry_problem, what="the first look at the registry")
        ping, health = client.get("/ping"), client.get("/health")
        scored = client.post("/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"})
        from mlflow import MlflowClient

        MlflowClient().set_registered_model_alias(MODEL, "not-yet", GOOD)
        wait_until(lambda: client.get("/ping").status_code == 200, what="readiness once the alias exists")
    assert ping.status_code == 503 and "no model loaded yet: waiting for" in ping.json()["message"]
    assert health.status_code == 200 and health.json()["status"] == "waiting"
    assert "has no alias 'not-yet'" in health.json()["waiting_for"]
    assert scored.status_code == 503


@pytest.mark.parametrize("moves", [(OTHER, GOOD, OTHER)])
def test_requests_during_swaps_all_succeed(registry, follower_of, moves):
    follower = follower_of(CHAMPION, poll_seconds=0.05)
    settings = ServerSettings(model_uri=f"models:/{MODEL}@champion")
    answers: list[tuple[int, str]] = []
    stop = threading.Event()
    with TestClient(create_app(settings, follower), raise_server_exceptions=False) as client:
        wait_until(lambda: serving(follower) == GOOD, what="version 1 loading")

        def keep_asking() -> None:
            while not stop.is_set():
                answer = client.post("/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"})
                answers.append((answer.status_code, answer.headers.get("X-Model-Version", "")))

        clients = [threading.Thread(target=keep_asking) for _ in range(4)]
        for thread in clients:
            thread.start()
        try:
            for version in moves:
                move_champion(version)
                wait_until(
                    lambda v=version: answers and answers[-1][1] == v, timeout=30, what=f"answers from v{version}"
                )
        finally:
            stop.set()
            for thread in clients:
                thread.join(timeout=30)
    assert {status for status, _ in answers} == {200}
    assert {version for _, version in answers} == {GOOD, OTHER}


def test_a_model_directory_is_served_pinned_as_the_version_it_is_named(registry, follower_of, tmp_path):
    """SageMaker's mode: the version unpacked in /opt/ml/model, named by the settings, with no registry to ask."""
    import mlflow

    directory = mlflow.artifacts.download_artifacts(f"models:/{MODEL}/{OTHER}", dst_path=str(tmp_path))
    settings = ServerSettings(model_uri=directory, model_name=MODEL, model_version=OTHER)
    follower = follower_of(Source.of(settings))
    mlflow.set_tracking_uri("http://127.0.0.1:9")  # nothing listens: the directory alone must do
    with TestClient(create_app(settings, follower), raise_server_exceptions=False) as client:
        answer = client.post("/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200 and answer.headers["X-Model-Version"] == OTHER
    assert answer.json() == {"predictions": [0, 0, 0]}
