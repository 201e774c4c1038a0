"""Run classification_pipeline end to end on the embedded Airflow (`make run`) and summarise the outcome.

Runs the DAG in this process with `dag.test()` (no scheduler or webserver needed), then reads the model
version the run registered back from MLflow, so the summary reports what the registry really holds.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "dags"))
DAG_ID = "classification_pipeline"


def run_dag(conf: dict, logical_date: datetime) -> tuple[str, str, dict[str, str]]:
    """Run every task of the DAG once; return the DAG run's id, its final state and each task's state."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.session import create_session

    dag = DagBag(dag_folder=str(REPO / "dags")).get_dag(DAG_ID)
    # run_after = logical_date makes the run id a function of the date, so a given date is always the same run.
    dag_run = dag.test(logical_date=logical_date, run_after=logical_date, run_conf=conf or None)
    with create_session() as session:
        states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}
    return dag_run.run_id, str(dag_run.state), {task_id: states[task_id] for task_id in dag.task_ids}


def summary(run_id: str, conf: dict) -> dict:
    from mlflow import MlflowClient

    from ml_pipeline.config import load_config
    from ml_pipeline.lookup import describe, version_for_run
    from ml_pipeline.registry import use_tracking_server

    config = load_config(None, conf)
    use_tracking_server(config.mlflow_tracking_uri)
    client = MlflowClient()
    return describe(client, version_for_run(client, config.model_name, DAG_ID, run_id)) | {
        "tracking_uri": config.mlflow_tracking_uri
    }


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
    logical_date = args.logical_date or datetime.now(UTC).replace(microsecond=0)
    run_id, state, tasks = run_dag(args.conf, logical_date)
    if state != "success":
        failed = [task for task, task_state in tasks.items() if task_state == "failed"]
        states = ", ".join(f"{task} {task_state}" for task, task_state in tasks.items())
        print(
            f"\n{DAG_ID} run {run_id} ended in state {state} ({states}); "
            f"the reason is at the end of {' and '.join(failed) or 'the task'}'s log above.",
            file=sys.stderr,
        )
        return 1
    result = summary(run_id, args.conf)
    promoted = "champion" in result["aliases"]
    metrics = ", ".join(f"{name}={value:.4f}" for name, value in result["metrics"].items())
    print(
        f"\n{DAG_ID} run {run_id}: success\n"
        f"  registered   {result['name']} version {result['version']} (MLflow run {result['run_id']})\n"
        f"  champion     {'yes' if promoted else 'no'} - {result['gate']}\n"
        f"  holdout      {metrics}\n"
        f"  tracking     {result['tracking_uri']}\n"
        f"  look it up   make predict   (or: .venv/bin/python scripts/lookup_model.py --name {result['name']}"
        f" {'--alias champion' if promoted else '--version ' + result['version']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
