"""Run one DAG locally with its output in a log file, and report the outcome to a person (`make run`, `make score`).

The console gets the run id, one line per task state change and, at the end, a summary (the scripts write its
success part; the failure part is shared here); everything else goes to the run's log file (run_log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from . import home, run_dates
from .dag_test import run_dag
from .metadata import manual_run_id, task_instances, xcom_values
from .run_log import log_file, output_to, shown
from .stop_signals import exit_code


@dataclass
class Outcome:
    dag_id: str
    run_id: str
    log: Path
    state: str
    signal: str  # the signal that stopped the run, if one did
    states: dict[str, str] = field(default_factory=dict)  # task label -> state, in the DAG's order
    results: dict[str, Any] = field(default_factory=dict)  # task label -> return value (successful runs)
    failures: dict[str, str] = field(default_factory=dict)  # task label -> its one-line reason

    @property
    def succeeded(self) -> bool:
        return self.state == "success" and not self.signal

    @property
    def exit_code(self) -> int:
        return 0 if self.succeeded else exit_code(self.signal) if self.signal else 1


def run_logged(
    dag_id: str,
    conf: dict[str, Any],
    logical_date: datetime,
    console: IO[str],
    order: tuple[str, ...],
    quiet: tuple[str, ...] = (),
):
    """Run the DAG once with all output in its log file; the task states, results or failures, in `order`. The
    progress trail says of `quiet` tasks only what is not routine (progress.Progress)."""
    run_id = manual_run_id(logical_date)
    log = log_file(dag_id, run_id)
    console.write(f"{dag_id} run {run_id} (log: {shown(log)})\n")
    with run_dates.held_alone(log, f"{dag_id} run {run_id}"), output_to(log) as console:
        home.migrate_if_needed()
        state, signal = run_dag(dag_id, conf, logical_date, console, quiet)
    rows = task_instances(dag_id, run_id)
    rows.sort(key=lambda row: (order.index(row.task_id) if row.task_id in order else len(order), row.map_index))
    outcome = Outcome(dag_id, run_id, log, state, signal, {row.label: row.state for row in rows})
    if outcome.succeeded:
        outcome.results = xcom_values(dag_id, run_id, "return_value")
    else:
        from task_runtime import FAILURE_KEY  # dags/ is importable once the DAG has run

        outcome.failures = xcom_values(dag_id, run_id, FAILURE_KEY)
    return outcome


def failure_summary(outcome: Outcome, unchanged: str) -> str:
    """Which tasks failed and why; `unchanged` says what an interrupted run left as it was."""
    listed = ", ".join(f"{task} {state}" for task, state in outcome.states.items())
    reasons = [outcome.failures[task] for task in outcome.states if task in outcome.failures]
    if outcome.signal:
        reasons.append(f"Stopped by {outcome.signal}: the run was interrupted; {unchanged}")
    elif not reasons:
        reasons.append(f"No task reported a reason; see the end of {shown(outcome.log)}")
    head = f"{outcome.dag_id} run {outcome.run_id}: failed ({listed})\n  log          {shown(outcome.log)}\n"
    return head + "\n".join(reasons)
