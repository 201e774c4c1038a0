"""Where MLflow keeps a local store's artifacts: beside its database, never at a path it would misread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow.utils.file_utils import local_file_uri_to_path

from ml_pipeline.errors import one_line
from ml_pipeline.registry.connection import TrackingError, connect, local_artifact_location


@pytest.fixture(autouse=True)
def _reset_tracking_uri():
    yield
    mlflow.set_tracking_uri(None)


def test_a_runs_artifacts_land_beside_the_local_database(tmp_path: Path) -> None:
    store = tmp_path / "store"
    experiment_id = connect(f"sqlite:///{store}/mlflow.db", "where-files-go")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_text("hello", "note.txt")
    written = Path(local_file_uri_to_path(run.info.artifact_uri)) / "note.txt"
    assert written.read_text() == "hello"
    assert written.is_relative_to(store / "artifacts")


def test_a_relative_database_path_is_taken_from_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert local_artifact_location("sqlite:///store/mlflow.db") == (tmp_path / "store" / "artifacts").as_uri()


def test_only_local_sqlite_stores_get_a_location() -> None:
    assert local_artifact_location("http://mlflow:5000") is None
    assert local_artifact_location("postgresql://mlflow@db/mlflow") is None


def test_an_experiment_an_earlier_release_misplaced_is_refused_in_one_line(tmp_path: Path) -> None:
    tracking_uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.create_experiment("misplaced", artifact_location=f"file:///{tmp_path}/artifacts")  # file:////tmp/...
    with pytest.raises(TrackingError) as raised:
        connect(tracking_uri, "misplaced")
    assert one_line(raised.value).startswith("MLflow error: experiment 'misplaced' keeps its artifacts at file:////")
    assert "delete the local MLflow store or set experiment_name to a new name" in str(raised.value)


def test_runs_that_start_together_on_a_fresh_store_all_reach_it(tmp_path: Path) -> None:
    script = (
        "import sys; from ml_pipeline.registry.connection import connect; "
        "print(connect(sys.argv[1], 'classification_pipeline'))"
    )
    command = [sys.executable, "-c", script, f"sqlite:///{tmp_path}/store/mlflow.db"]
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parent.parent / "dags")}
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]  # fmt: skip
    results = [(process.communicate(timeout=120), process.returncode) for process in processes]
    assert [code for _, code in results] == [0, 0, 0], [err[-2000:] for (_, err), _ in results]
    assert len({out for (out, _), _ in results}) == 1, "one experiment, found by all"
