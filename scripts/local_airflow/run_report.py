"""Run one DAG locally with its output in a log file, and report the outcome to a person (`make run`, `make score`).

The console gets the run id, one line per task state change and, at the end, a summary; everything else goes to
`.local/airflow/run-logs/<dag_id>/<run_id>.log`, which the summary names.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import local_run
import run_dates


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
        return 0 if self.succeeded else local_run.exit_code(self.signal) if self.signal else 1


def log_file(dag_id: str, run_id: str) -> Path:
    safe_run_id = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return Path(os.environ["AIRFLOW_HOME"]) / "run-logs" / dag_id / f"{safe_run_id}.log"


def shown(path: Path | str) -> str:
    """A path as short as it can be said from here."""
    path = Path(path)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def run_logged(dag_id: str, conf: dict[str, Any], logical_date: datetime, console: IO[str], order: tuple[str, ...]):
    """Run the DAG once with all output in its log file; the task states, results or failures, in `order`."""
    run_id = local_run.manual_run_id(logical_date)
    log = log_file(dag_id, run_id)
    console.write(f"{dag_id} run {run_id} (log: {shown(log)})\n")
    with run_dates.held_alone(log, f"{dag_id} run {run_id}"), local_run.output_to(log) as console:
        local_run.migrate_if_needed()
        state, signal = local_run.run_dag(dag_id, conf, logical_date, console)
    rows = local_run.task_instances(dag_id, run_id)
    rows.sort(key=lambda row: (order.index(row.task_id) if row.task_id in order else len(order), row.map_index))
    outcome = Outcome(dag_id, run_id, log, state, signal, {row.label: row.state for row in rows})
    if outcome.succeeded:
        outcome.results = local_run.xcom_values(dag_id, run_id, "return_value")
    else:
        from task_runtime import FAILURE_KEY  # dags/ is importable once the DAG has run

        outcome.failures = local_run.xcom_values(dag_id, run_id, FAILURE_KEY)
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


def main(
    dag_id: str,
    description: str,
    run: Any,
    conf_example: str,
    argv: list[str] | None = None,
    shortcuts: dict[str, str] | None = None,
) -> int:
    """The command line shared by `make run` and `make score`: --conf and --logical-date, then `run`'s summary.

    `shortcuts` are options that set one configuration key each (`--engine spark` for `scoring_engine`).
    """

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--conf", type=json.loads, default={}, help=f"run conf as JSON, e.g. '{conf_example}'")
    parser.add_argument(
        "--logical-date",
        type=datetime.fromisoformat,
        default=None,
        help="reuse a logical date to rerun that DAG run (default: now, i.e. a new run; runs started in the same "
        "second get the next free second)",
    )
    for option, key in (shortcuts or {}).items():
        parser.add_argument(option, dest=key, help=f"sets {key} in the run conf")
    args = parser.parse_args(argv)
    if not isinstance(args.conf, dict):
        parser.error("--conf must be a JSON object")
    args.conf |= {key: getattr(args, key) for key in (shortcuts or {}).values() if getattr(args, key) is not None}
    local_run.use_repository_airflow()
    logical_date = args.logical_date or run_dates.new_logical_date(dag_id)
    if logical_date.tzinfo is None:
        logical_date = logical_date.replace(tzinfo=UTC)
    from airflow.sdk.exceptions import ParamValidationError  # once AIRFLOW_HOME is set

    try:
        code, text = run(args.conf, logical_date, sys.stdout)
    except ParamValidationError as error:  # the DAG's trigger form refused a value: no run was created
        reason = str(error).splitlines()[0].removeprefix("Invalid input for param ")
        print(f"Invalid configuration: {reason} (from run conf); no run was started", file=sys.stderr)
        return 2
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


def tuned_exit(main_function: Any) -> None:
    """Run `main_function` and exit with its code, with the collector tuned for Airflow's long-lived objects.

    Airflow, pydantic and MLflow leave about a million of them: with Python's default thresholds the collector scans
    them again and again (about 4 s of a run) and once more at exit (measured in the README's Benchmarks).
    """

    gc.set_threshold(100_000, 20, 100)
    code = main_function()
    gc.freeze()
    sys.exit(code)
