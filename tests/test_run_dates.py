"""local_airflow/run_dates.py: each local run gets a logical date (so a run id) of its own, however many start at
once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier

import pytest
from local_airflow.run_dates import RunInProgress, held_alone, new_logical_date

NOW = datetime(2026, 12, 3, 10, 0, 0, 250_000, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _airflow_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))


def test_runs_started_in_the_same_second_get_consecutive_seconds():
    start = Barrier(8)

    def allocate(_):
        start.wait()
        return new_logical_date("classification_pipeline", now=NOW)

    with ThreadPoolExecutor(8) as pool:
        dates = sorted(pool.map(allocate, range(8)))
    first = NOW.replace(microsecond=0)
    assert dates == [first + timedelta(seconds=n) for n in range(8)]


def test_a_later_run_takes_its_own_time_and_each_dag_counts_apart():
    assert new_logical_date("classification_pipeline", now=NOW) == NOW.replace(microsecond=0)
    later = NOW + timedelta(minutes=5)
    assert new_logical_date("classification_pipeline", now=later) == later.replace(microsecond=0)
    assert new_logical_date("batch_predictions", now=NOW) == NOW.replace(microsecond=0)


def test_the_same_run_twice_at_once_is_refused_in_one_line(tmp_path):
    log = tmp_path / "run-logs" / "classification_pipeline" / "manual__2026-01-02T00_00_00_00_00.log"
    run = "classification_pipeline run manual__2026-01-02T00:00:00+00:00"
    with held_alone(log, run), pytest.raises(RunInProgress) as refused, held_alone(log, run):
        pass
    assert str(refused.value) == (
        "classification_pipeline run manual__2026-01-02T00:00:00+00:00 is running in another process; wait for it "
        "to finish, or leave out --logical-date for a new run"
    )
    with held_alone(log, "the same run, later"):
        pass  # free again once the first one ended
