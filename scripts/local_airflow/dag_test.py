"""Run a DAG once in this process on the embedded Airflow, the way `make run` does, and tell a person how it went.

- the Airflow home, dags and plugins folders default to the repository's (`.local/airflow`), and the metadata
  database is migrated when it is not current, so the script also works when run directly;
- everything Airflow, the tasks and their libraries print goes to a log file; the console gets one line per task
  state change;
- Ctrl-C or SIGTERM fails the task that is running (no retry; stop_signals), so the run ends within seconds; the
  champion only moves in persist_model's last step, so an interrupted run never changes it;
- the UI shows the run as the scheduler's: each task's log where it reads it (task_logs), its start (run_start).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from stop_signals import Interrupted, exit_code, stopped_by_signals

REPO = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.3


def use_repository_airflow() -> None:
    """Default Airflow settings for a local run (the Makefile sets the same); the environment wins."""
    defaults = {
        "AIRFLOW_HOME": str(REPO / ".local" / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def migrate_if_needed() -> None:
    """Create or upgrade the metadata database only when it is not at Airflow's current revision."""
    from airflow.utils.db import check_migrations, upgradedb

    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    try:
        check_migrations(timeout=0)
    except TimeoutError:
        upgradedb()


@contextmanager
def output_to(log_file: Path) -> Iterator[IO[str]]:
    """Send this process's stdout and stderr (Python and native) to `log_file`; yield the original console."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1)
    with log_file.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield console
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            console.close()


class Progress(threading.Thread):
    """Prints each task's state changes, with seconds since the run started, by polling the metadata database."""

    def __init__(self, dag_id: str, run_id: str, console: IO[str]) -> None:
        super().__init__(name="progress", daemon=True)
        self.dag_id, self.run_id, self.console = dag_id, run_id, console
        self.started = time.monotonic()
        self.states: dict[tuple[str, int], str] = {}  # task instance -> state last printed
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(POLL_SECONDS):
            self.report()

    def report(self) -> None:
        for row in task_instances(self.dag_id, self.run_id):
            seen = (
                f"{row.state} (attempt {row.attempt})" if row.attempt > 1 or row.state == "up_for_retry" else row.state
            )
            key = (row.task_id, row.map_index)
            if row.state == "running" and row.map_index >= 0 and not row.named:
                continue  # its name follows within moments; "task[0] running" would say little
            if seen != self.states.get(key) and row.state not in ("None", "scheduled", "queued", "skipped"):
                self.states[key] = seen
                self.console.write(f"  {time.monotonic() - self.started:6.1f}s  {row.label:<20} {seen}\n")

    def stop(self) -> None:
        self.done.set()
        self.join()
        self.report()


@dataclass(frozen=True)
class TaskRow:
    label: str  # the task id, or `task[map index name]` for a mapped instance
    task_id: str
    map_index: int
    state: str
    attempt: int
    named: bool  # a mapped instance's label has its rendered name rather than its index


def task_instances(dag_id: str, run_id: str) -> list[TaskRow]:
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(TI.task_id, TI.map_index, TI.rendered_map_index, TI.state, TI.try_number).where(
        TI.dag_id == dag_id, TI.run_id == run_id
    )
    with create_session() as session:
        rows = session.execute(query.order_by(TI.updated_at, TI.map_index)).all()
    return [
        TaskRow(
            task_id if index < 0 else f"{task_id}[{rendered or index}]",
            task_id,
            index,
            str(state),
            attempt,
            rendered not in (None, "", str(index)),  # the scheduler may store the index itself until it is named
        )
        for task_id, index, rendered, state, attempt in rows
    ]


def task_states(dag_id: str, run_id: str) -> dict[str, str]:
    return {row.label: row.state for row in task_instances(dag_id, run_id)}


def xcom_values(dag_id: str, run_id: str, key: str) -> dict[str, Any]:
    """Each task instance's XCom `key` in this run (return_value, failure, ...), by its label."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    labels = {(row.task_id, row.map_index): row.label for row in task_instances(dag_id, run_id)}
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run_id, key=key, dag_ids=dag_id)).all()
        return {labels.get((row.task_id, row.map_index), row.task_id): XComModel.deserialize_value(row) for row in rows}


def fail_unfinished(dag_id: str, run_id: str) -> None:
    """After an interruption outside a task, leave no task or run looking as if it were still running."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if dag_run is None:
            return
        for ti in dag_run.get_task_instances(session=session):
            if ti.state not in (TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, TaskInstanceState.SKIPPED):
                ti.state = TaskInstanceState.FAILED if ti.state else TaskInstanceState.UPSTREAM_FAILED
        dag_run.state = DagRunState.FAILED


def load_dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if dag_id not in bag.dags:
        problems = "; ".join(f"{path}: {error.strip().splitlines()[-1]}" for path, error in bag.import_errors.items())
        raise SystemExit(f"{dag_id} could not be loaded: {problems or 'no DAG with that id'}")
    return bag.dags[dag_id]


def manual_run_id(logical_date: datetime) -> str:
    """The id `run_dag` gives the run: a function of the date, so a given date is always the same DAG run."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    return DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=logical_date, run_after=logical_date)


def run_dag(dag_id: str, conf: dict[str, Any], logical_date: datetime, console: IO[str]) -> tuple[str, str]:
    """Run every task of the DAG once (`dag.test()`); return its final state and the signal that stopped it, if any."""
    import run_start
    import task_logs

    run_id = manual_run_id(logical_date)

    def stop_now(signal_name: str) -> None:
        """The running task is stuck in native code: record the run as failed and leave without waiting for it."""
        fail_unfinished(dag_id, run_id)
        console.write(f"Stopped by {signal_name} while a task was busy in native code; the run is marked failed and "
                      "the registry's champion did not change\n")  # fmt: skip
        console.flush()
        os._exit(exit_code(signal_name))

    with stopped_by_signals(stop_now) as received:
        progress = Progress(dag_id, run_id, console)
        progress.start()
        try:
            dag = load_dag(dag_id)
            with task_logs.written_per_task(), run_start.starting_when_created(run_id):
                # run_after = logical_date: the run id depends on the date only (manual_run_id).
                dag_run = dag.test(logical_date=logical_date, run_after=logical_date, run_conf=conf or None)
            state = str(dag_run.state)
        except Interrupted:
            fail_unfinished(dag_id, run_id)
            state = "failed"
        finally:
            progress.stop()
    return state, received[0] if received else ""
