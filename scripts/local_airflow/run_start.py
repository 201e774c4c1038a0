"""A DAG run made by `dag.test()` starts when it is created, not at its logical date.

`dag.test()` records a run's logical date as its start (`get_or_create_dagrun(start_date=logical_date or
run_after)`). That date is taken when `make run` starts, seconds before Airflow runs anything; and a rerun of an old
logical date (`--logical-date`) replaces that run with one that seems to have been running ever since, so the UI
draws a bar from the first run's start to the rerun's end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any


@contextmanager
def starting_when_created(run_id: str) -> Iterator[None]:
    """While in this block, the DAG run `run_id`, when inserted, gets the current time as its start."""
    from sqlalchemy import event

    from .airflow_internals import DagRun

    def start_now(mapper: Any, connection: Any, dag_run: DagRun) -> None:
        if dag_run.run_id == run_id:
            dag_run.start_date = datetime.now(UTC)

    event.listen(DagRun, "before_insert", start_now)
    try:
        yield
    finally:
        event.remove(DagRun, "before_insert", start_now)
