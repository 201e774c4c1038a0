"""Run classification_pipeline end to end on the embedded Airflow (`make run`) and summarise the outcome.

Runs the DAG in this process with `dag.test()` (no scheduler or webserver needed); the console shows each task's
progress and a summary read from what persist_model reported, and the full log goes to the file the summary names.
A failed run ends with one line that says what is wrong and what to do.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import local_run

DAG_ID = "classification_pipeline"
TASKS = ("get_data", "train_model", "persist_model")


def log_file(run_id: str) -> Path:
    return Path(os.environ["AIRFLOW_HOME"]) / "run-logs" / DAG_ID / (re.sub(r"[^A-Za-z0-9._-]", "_", run_id) + ".log")


def shown(path: Path) -> str:
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def candidates_line(results: dict[str, Any], best: str, skipped: dict[str, str], metric: str) -> str:
    """Each candidate's holdout score, best first (ties in the configured order), then the skipped ones."""
    order = [candidate["name"] for candidate in results["get_data"]]
    trained = [value for label, value in results.items() if label.startswith("train_model")]
    ranked = sorted(trained, key=lambda t: (-t["metrics"][metric], order.index(t["candidate"])))
    scores = [
        f"{t['candidate']} {t['metrics'][metric]:.4f}{' (best)' if t['candidate'] == best else ''}" for t in ranked
    ]
    return ", ".join(scores + [f"{name} skipped ({reason})" for name, reason in skipped.items()])


def success_summary(run_id: str, results: dict[str, Any], tracking_uri: str, log: Path) -> str:
    result = results["persist_model"]
    metric = result["gate_metric"]
    metrics = ", ".join(f"{name}={value:.4f}" for name, value in result["metrics"].items())
    origin = "reused: an earlier attempt registered this same training" if result["reused"] else "new"
    lookup = "--alias champion" if result["promoted"] else f"--version {result['version']}"
    return (
        f"{DAG_ID} run {run_id}: success\n"
        f"  candidates   {metric}: {candidates_line(results, result['best_candidate'], result['skipped'], metric)}\n"
        f"  registered   {result['model_name']} version {result['version']} ({origin}; MLflow run"
        f" {result['mlflow_run_id']})\n"
        f"  champion     {'yes' if result['promoted'] else 'no'} - {result['alias']}: {result['reason']}\n"
        f"  holdout      {metrics} (the registered version, scored by the gate)\n"
        f"  tracking     {tracking_uri}\n"
        f"  log          {shown(log)}\n"
        f"  look it up   make predict   (or: .venv/bin/python scripts/lookup_model.py --name {result['model_name']}"
        f" {lookup})"
    )


def failure_summary(run_id: str, states: dict[str, str], failures: dict[str, str], log: Path, signal: str) -> str:
    listed = ", ".join(f"{task} {state}" for task, state in states.items())
    reasons = [failures[task] for task in states if task in failures]
    if signal:
        reasons.append(f"Stopped by {signal}: the run was interrupted; the registry's champion did not change")
    elif not reasons:
        reasons.append(f"No task reported a reason; see the end of {shown(log)}")
    return f"{DAG_ID} run {run_id}: failed ({listed})\n  log          {shown(log)}\n" + "\n".join(reasons)


def run(conf: dict[str, Any], logical_date: datetime, console: IO[str]) -> tuple[int, str]:
    """Run the DAG with all output in the log file; return the exit code and the summary to print."""
    from ml_pipeline.config import load_config

    run_id = local_run.manual_run_id(logical_date)
    log = log_file(run_id)
    console.write(f"{DAG_ID} run {run_id} (log: {shown(log)})\n")
    with local_run.output_to(log) as console:
        local_run.migrate_if_needed()
        state, signal = local_run.run_dag(DAG_ID, conf, logical_date, console)
    rows = sorted(local_run.task_instances(DAG_ID, run_id), key=lambda row: (TASKS.index(row.task_id), row.map_index))
    states = {row.label: row.state for row in rows}
    if state != "success" or signal:
        failures = local_run.xcom_values(DAG_ID, run_id, "failure")
        return local_run.exit_code(signal) if signal else 1, failure_summary(run_id, states, failures, log, signal)
    results = local_run.xcom_values(DAG_ID, run_id, "return_value")
    return 0, success_summary(run_id, results, load_config(conf=conf).mlflow_tracking_uri, log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--conf", type=json.loads, default={}, help='run conf as JSON, e.g. \'{"classifier": "random_forest"}\''
    )
    parser.add_argument(
        "--logical-date",
        type=datetime.fromisoformat,
        default=None,
        help="reuse a logical date to rerun that DAG run (default: now, i.e. a new run)",
    )
    args = parser.parse_args(argv)
    if not isinstance(args.conf, dict):
        parser.error("--conf must be a JSON object")
    logical_date = args.logical_date or datetime.now(UTC).replace(microsecond=0)
    if logical_date.tzinfo is None:
        logical_date = logical_date.replace(tzinfo=UTC)
    local_run.use_repository_airflow()
    code, text = run(args.conf, logical_date, sys.stdout)
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    # Airflow, pydantic and MLflow leave about a million long-lived objects: with Python's default thresholds the
    # collector scans them all again and again (about 4 s of a run) and once more at exit. Collect less often, and
    # skip the final collection (measured in the README's Benchmarks).
    gc.set_threshold(100_000, 20, 100)
    code = main()
    gc.freeze()
    sys.exit(code)
