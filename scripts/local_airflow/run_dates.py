"""A new logical date for each local run, unique even when several start in the same second.

A DAG run's id is made from its logical date (`manual__<date>`), and `dag.test()` replaces a run with the same id,
so two runs started together would share one run and both fail. Dates are handed out under a lock on a file in the
Airflow home that remembers the last one: each is the current second, or one second after the last, whichever is
later. A rerun of a given date (`--logical-date`) holds that run's own lock, so a second one at the same time is
refused instead of replacing the first one's run under it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path


def new_logical_date(dag_id: str, now: datetime | None = None) -> datetime:
    """A logical date no earlier local run of `dag_id` in this Airflow home was given."""
    record = Path(os.environ["AIRFLOW_HOME"]) / "run-dates" / dag_id
    record.parent.mkdir(parents=True, exist_ok=True)
    date = (now or datetime.now(UTC)).replace(microsecond=0)
    with record.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # held for a read and a write: microseconds
        handle.seek(0)
        if last := handle.read().strip():
            date = max(date, datetime.fromisoformat(last) + timedelta(seconds=1))
        handle.seek(0)
        handle.truncate()
        handle.write(date.isoformat())
    return date


class RunInProgress(SystemExit):
    """The same DAG run is running in another process: this one exits with one line and changes nothing."""


@contextmanager
def held_alone(lock: Path, run: str) -> Iterator[None]:
    """Hold a lock on the file `lock` (the run's log) for the block; refuse at once when another process holds it."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress(
                f"{run} is running in another process; wait for it to finish, or leave out --logical-date for a new run"
            ) from None
        yield
