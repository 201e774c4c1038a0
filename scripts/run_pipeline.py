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
TASKS = ("get_data", "train_model", "persist_model", "segment_emr_job", "train_segments_on_emr", "plan_segments",
         "segments.train_segments",
         "segments.persist_segments", "publish_router", "approve_champion", "promote_champion",
         "keep_challenger")  # fmt: skip
# Skipped on every run without require_approval or segment_column: their running and skipping are not news.
QUIET = ("approve_champion", "segment_emr_job", "train_segments_on_emr", "plan_segments", "publish_router")


def candidates_line(results: dict[str, Any], best: str, skipped: dict[str, str], metric: str) -> str:
    """Each candidate's holdout score, best first (ties in the configured order), then the skipped ones."""
    from ml_pipeline.contract import LOWER_IS_BETTER

    order = [candidate["name"] for candidate in results["get_data"]]
    trained = [value for label, value in results.items() if label.startswith("train_model")]
    sign = 1 if metric in LOWER_IS_BETTER else -1
    ranked = sorted(trained, key=lambda t: (sign * t["metrics"][metric], order.index(t["candidate"])))
    scores = [
        f"{t['candidate']} {t['metrics'][metric]:.4f}{' (best)' if t['candidate'] == best else ''}" for t in ranked
    ]
    return ", ".join(scores + [f"{name} skipped ({reason})" for name, reason in skipped.items()])


def data_lines(dataset: dict[str, Any]) -> str:
    """What get_data read and kept: rows, features, and what it set aside or skipped, by name."""
    rows = f"{dataset['rows']:,} rows of {dataset['source']}"
    if dataset["rows_read"] != dataset["rows"]:
        dropped = dataset["unlabeled_rows"]
        sampled = dataset["rows_read"] - dropped != dataset["rows"]
        notes = ([f"{dropped:,} without a label dropped"] if dropped else []) + (
            ["sampled to max_training_rows, stratified by label"] if sampled else []
        )
        rows += f" ({dataset['rows_read']:,} read; {'; '.join(notes)})"
    ignored = ", ".join(f"{column} ({why})" for column, why in dataset["ignored_columns"].items())
    lines = f"  data         {rows}, {len(dataset['classes'])} classes, {dataset['features']} features\n"
    lines += f"  not used     {ignored}\n" if ignored else ""
    lines += (
        f"  skipped      files that are not data: {', '.join(dataset['skipped_files'])}\n"
        if dataset["skipped_files"]
        else ""
    )
    return lines


def segment_lines(results: dict[str, Any]) -> str:
    """With segment_column: what the segments came to, and the router that is (or is not) champion."""
    router = results.get("publish_router")
    if router is None:
        return ""
    groups = [value for label, value in results.items() if label.startswith("segments.persist_segments")]
    promoted, kept, skipped = (sum(group[key] for group in groups) for key in ("promoted", "kept", "skipped"))
    metrics = ", ".join(f"{name}={value:.4f}" for name, value in router["metrics"].items())
    origin = "reused: the same routing table" if router["reused"] else "new"
    return (
        f"  segments     {promoted + kept + skipped} trained on {router['segment_column']}: {promoted} promoted, "
        f"{kept} not (their champion, or the fallback for a first model, scores better), {skipped} without a model "
        f"(each segment's reason: the run's segments/_decisions/)\n"
        f"  router       {router['model_name']} version {router['version']} ({origin}): "
        f"{router['segments_routed']} segments on their own champion, the rest on {router['fallback']}\n"
        f"  champion     {'yes' if router['promoted'] else 'no'} - {router['alias']}: {router['reason']}\n"
        f"  holdout      {metrics} (the router, scored by the gate)\n"
    )


def success_summary(run_id: str, results: dict[str, Any], dataset: dict[str, Any], tracking_uri: str, log: Path) -> str:
    from ml_pipeline.contract import BUNDLED_SOURCE

    result = results["persist_model"]
    metric = result["gate_metric"]
    metrics = ", ".join(f"{name}={value:.4f}" for name, value in result["metrics"].items())
    origin = "reused: an earlier attempt registered this same training" if result["reused"] else "new"
    approval = results.get("promote_champion") or results.get("keep_challenger")  # with require_approval
    promoted = approval["promoted"] if approval else result["promoted"]
    which = "" if promoted else f" --version {result['version']}"
    answer = (
        f"  approval     {approval['answer']} - {approval['alias'] or 'no alias'}: {approval['reason']}\n"
        if approval
        else ""
    )
    rows = "" if dataset["source"] == BUNDLED_SOURCE else " INPUT=<rows.csv or .json>"
    segments = segment_lines(results)
    name = results["publish_router"]["model_name"] if segments else result["model_name"]
    role = " (the fallback, for rows of segments without a model)" if segments else ""
    return (
        f"{DAG_ID} run {run_id}: success\n"
        f"{data_lines(dataset)}"
        f"  candidates   {metric}: {candidates_line(results, result['best_candidate'], result['skipped'], metric)}\n"
        f"  registered   {result['model_name']} version {result['version']} ({origin}; MLflow run"
        f" {result['mlflow_run_id']}){role}\n"
        f"  {'fallback' if segments else 'champion'}     "
        f"{'yes' if result['promoted'] else 'proposed' if result['proposed'] else 'no'} - "
        f"{result['alias']}: {result['reason']}\n"
        f"{answer}"
        f"  holdout      {metrics} (the registered version, scored by the gate)\n"
        f"{segments}"
        f"  tracking     {tracking_uri}\n"
        f"  log          {run_log.shown(log)}\n"
        f"  look it up   make predict{rows} ARGS='--name {name}{which}'"
    )


def run(conf: dict[str, Any], logical_date: datetime, console: IO[str]) -> tuple[int, str]:
    """Run the DAG with all output in the log file; return the exit code and the summary to print."""
    from ml_pipeline.config.layers import load_config

    outcome = run_report.run_logged(DAG_ID, conf, logical_date, console, TASKS, QUIET)
    if not outcome.succeeded:
        return outcome.exit_code, run_report.failure_summary(outcome, "the registry's champion did not change")
    from local_airflow.metadata import xcom_values

    from task_runtime import DATASET_KEY

    tracking_uri = load_config(conf=conf).mlflow_tracking_uri
    dataset = xcom_values(DAG_ID, outcome.run_id, DATASET_KEY)["get_data"]
    return 0, success_summary(outcome.run_id, outcome.results, dataset, tracking_uri, outcome.log)


def main(argv: list[str] | None = None) -> int:
    return command_line.main(DAG_ID, __doc__.splitlines()[0], run, '{"classifier": "random_forest"}', argv)


if __name__ == "__main__":
    command_line.tuned_exit(main)
