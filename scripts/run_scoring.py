"""Run batch_predictions end to end on the embedded Airflow (`make score`) and summarise what it wrote.

Scores the run conf's `scoring_source_uri` (default: the Wine features) with the champion that `make run` registered,
on the local engine or, with `scoring_engine` spark, on local Spark. The console shows each task's progress and a
summary; the full log goes to the file the summary names.
"""

from __future__ import annotations

from datetime import datetime
from typing import IO, Any

from local_airflow import command_line, run_log, run_report

DAG_ID = "batch_predictions"
TASKS = (
    "pin_model",
    "choose_engine",
    "score_locally",
    "score_on_spark",
    "emr_job",
    "score_on_emr",
    "publish_predictions",
    "measure_quality",
    "announce_drift",
)


def success_summary(outcome: run_report.Outcome) -> str:
    summary = outcome.results["publish_predictions"]
    rate = f"{summary['rows_per_second']:,.0f} rows/s"
    mlflow_run = summary["mlflow_run_id"] or "not logged (log_scoring_to_mlflow is false)"
    drifted = summary.get("drifted")
    if drifted is None:
        drift = "not measured (the version carries no training reference)"
    elif drifted:
        crossed = "; ".join(f"{name}: {why}" for name, why in drifted.items())
        drift = f"DRIFTED ({crossed}); report {run_log.shown(summary['drift_report_uri'])}"
    else:
        drift = f"none above the thresholds; report {run_log.shown(summary['drift_report_uri'])}"
    return (
        f"{DAG_ID} run {outcome.run_id}: success\n"
        f"  model        {summary['model_name']} version {summary['model_version']} (pinned when the run started)\n"
        f"  engine       {summary['engine']}\n"
        f"  rows         {summary['rows_in']:,} in, {summary['rows_scored']:,} scored, "
        f"{summary['rows_rejected']:,} rejected ({rate}); {summary['rows_with_unseen_categories']:,} scored rows held "
        "a category training never saw\n"
        f"  predictions  {run_log.shown(summary['predictions_uri'])}\n"
        f"  rejected     {run_log.shown(summary['rejected_uri'])}\n"
        f"  drift        {drift}\n"
        f"  quality      {live_quality(outcome.results.get('measure_quality'))}\n"
        f"  mlflow run   {mlflow_run}\n"
        f"  log          {run_log.shown(outcome.log)}"
    )


def live_quality(quality: dict[str, Any] | None) -> str:
    """The live quality line: the pinned version's live gate metric against its holdout score."""
    if quality is None:
        return "not measured (no label_source_uri)"
    if quality["live_score"] is None:
        return f"no labeled predictions yet ({quality['awaiting_labels']:,} awaiting labels)"
    holdout = "unknown" if quality["holdout_score"] is None else f"{quality['holdout_score']:.3f}"
    verdict = "; DECAYED" if quality["decayed"] else ""
    return (
        f"live {quality['metric']} {quality['live_score']:.3f} on {quality['live_rows']:,} rows, holdout {holdout}"
        f"{verdict} ({quality['awaiting_labels']:,} awaiting labels); chart {run_log.shown(quality['report_uri'])}"
    )


def run(conf: dict[str, Any], logical_date: datetime, console: IO[str]) -> tuple[int, str]:
    outcome = run_report.run_logged(DAG_ID, conf, logical_date, console, TASKS)
    if not outcome.succeeded:
        return outcome.exit_code, run_report.failure_summary(outcome, "no output of this run is marked complete")
    return 0, success_summary(outcome)


def main(argv: list[str] | None = None) -> int:
    shortcuts = {"--engine": "scoring_engine", "--source": "scoring_source_uri", "--model-version": "model_version"}
    return command_line.main(DAG_ID, __doc__.splitlines()[0], run, '{"max_rejected_fraction": 0.05}', argv, shortcuts)


if __name__ == "__main__":
    command_line.tuned_exit(main)
