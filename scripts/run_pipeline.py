"""Run classification_pipeline end to end on the embedded Airflow (`make run`) and summarise the outcome.

Runs the DAG in this process with `dag.test()` (no scheduler or webserver needed); the console shows each task's
progress and a summary read from what persist_model reported, and the full log goes to the file the summary names.
A failed run ends with one line that says what is wrong and what to do.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import IO, Any

from local_airflow import command_line, run_log, run_report

DAG_ID = "classification_pipeline"
TASKS = ("get_data", "train_model", "persist_model")


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
        f"  log          {run_log.shown(log)}\n"
        f"  look it up   make predict   (or: .venv/bin/python scripts/lookup_model.py --name {result['model_name']}"
        f" {lookup})"
    )


def run(conf: dict[str, Any], logical_date: datetime, console: IO[str]) -> tuple[int, str]:
    """Run the DAG with all output in the log file; return the exit code and the summary to print."""
    from ml_pipeline.config.layers import load_config

    outcome = run_report.run_logged(DAG_ID, conf, logical_date, console, TASKS)
    if not outcome.succeeded:
        return outcome.exit_code, run_report.failure_summary(outcome, "the registry's champion did not change")
    tracking_uri = load_config(conf=conf).mlflow_tracking_uri
    return 0, success_summary(outcome.run_id, outcome.results, tracking_uri, outcome.log)


def main(argv: list[str] | None = None) -> int:
    return command_line.main(DAG_ID, __doc__.splitlines()[0], run, '{"classifier": "random_forest"}', argv)


if __name__ == "__main__":
    command_line.tuned_exit(main)
