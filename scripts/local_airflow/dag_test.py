"""Run a DAG once in this process on the embedded Airflow (`dag.test()`), the way `make run` does.

- Ctrl-C or SIGTERM fails the task that is running (no retry; stop_signals), so the run ends within seconds; the
  champion only moves in persist_model's last step, so an interrupted run never changes it;
- the UI shows the run as the scheduler's: each task's log where it reads it (task_logs), its start (run_start);
- the console gets one line per task state change (progress);
- a task that waits for a person says where to answer, and its timeout applies as a scheduler's would
  (awaiting_input).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import IO, Any

from . import run_start
from .awaiting_input import AnswerDeadlines
from .metadata import fail_unfinished, manual_run_id
from .progress import Progress
from .stop_signals import Interrupted, exit_code, stopped_by_signals


def load_dag(dag_id: str) -> Any:
    """The DAG as the DAG processor loads it; exits with the import errors when it cannot."""
    from .airflow_internals import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if dag_id not in bag.dags:
        problems = "; ".join(f"{path}: {error.strip().splitlines()[-1]}" for path, error in bag.import_errors.items())
        raise SystemExit(f"{dag_id} could not be loaded: {problems or 'no DAG with that id'}")
    return bag.dags[dag_id]


def run_dag(
    dag_id: str, conf: dict[str, Any], logical_date: datetime, console: IO[str], quiet: tuple[str, ...] = ()
) -> tuple[str, str]:
    """Run every task of the DAG once (`dag.test()`); return its final state and the signal that stopped it, if any."""
    from . import task_logs  # imports Airflow, which reads AIRFLOW_HOME: only once it is set

    run_id = manual_run_id(logical_date)

    def stop_now(signal_name: str) -> None:
        """The running task is stuck in native code: record the run as failed and leave without waiting for it."""
        fail_unfinished(dag_id, run_id)
        console.write(f"Stopped by {signal_name} while a task was busy in native code; the run is marked failed and "
                      "the registry's champion did not change\n")  # fmt: skip
        console.flush()
        os._exit(exit_code(signal_name))

    with stopped_by_signals(stop_now) as received:
        progress, deadlines = Progress(dag_id, run_id, console, quiet), AnswerDeadlines(dag_id, run_id, console)
        progress.start()
        deadlines.start()
        try:
            dag = load_dag(dag_id)
            with task_logs.written_per_task(), run_start.starting_when_created(run_id):
                # run_after = logical_date: the run id depends on the date only (metadata.manual_run_id).
                dag_run = dag.test(logical_date=logical_date, run_after=logical_date, run_conf=conf or None)
            state = str(dag_run.state)
        except Interrupted:
            fail_unfinished(dag_id, run_id)
            state = "failed"
        finally:
            deadlines.stop()
            progress.stop()
    return state, received[0] if received else ""
