"""`make bench`: how fast the DAG parses and how long and how much memory each task takes, against targets.

Each measurement runs in a fresh interpreter, as a task does on an MWAA Celery worker, so imports and peak memory
(max RSS) are those of one task. Targets come from MWAA: the DAG processor gives a file 30 s
(dagbag_import_timeout) and re-parses it every ~30 s, and an mw1.small worker has 2 GB for 5 concurrent tasks.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAG_FILE = REPO / "dags" / "classification_pipeline.py"

# name -> (seconds, MiB of max RSS); both are upper bounds
TARGETS = {
    "dag_parse": (0.5, 350),
    "get_data": (5.0, 400),
    "train_model": (5.0, 400),
    "persist_model": (10.0, 400),
    "log_model": (1.0, None),
    "end_to_end": (60.0, None),
}


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage(name: str, workdir: Path) -> dict[str, float]:
    """Run one stage in this process and return its timings; called in a fresh interpreter per stage."""
    sys.path.insert(0, str(REPO / "dags"))
    started = time.perf_counter()
    if name == "dag_parse":
        import runpy

        import airflow.sdk  # noqa: F401  - already loaded in a real DAG processor

        started = time.perf_counter()
        runpy.run_path(str(DAG_FILE))
        return {"seconds": time.perf_counter() - started, "rss_mib": _max_rss_mib(), "import_seconds": float("nan")}

    if name == "log_model":
        return log_model_seconds(workdir)

    from ml_pipeline.data import snapshot_dataset
    from ml_pipeline.storage import Storage

    storage, prefix = Storage(), str(workdir / "artifacts")
    facts_file = workdir / "facts.json"
    if name == "get_data":
        imported = time.perf_counter()
        facts = snapshot_dataset("", prefix, storage, test_size=0.25, seed=42, min_rows=100)
        facts_file.write_text(json.dumps({"dataset": facts}))
    elif name == "train_model":
        from ml_pipeline.training import train_and_evaluate

        dataset = json.loads(facts_file.read_text())["dataset"]
        imported = time.perf_counter()
        training = train_and_evaluate(
            dataset["train_uri"], dataset["holdout_uri"], prefix, storage,
            classifier="logistic_regression", hyperparams={}, seed=42,
        )  # fmt: skip
        facts_file.write_text(json.dumps({"dataset": dataset, "training": training}))
    elif name == "persist_model":
        from ml_pipeline.registry import persist

        facts = json.loads(facts_file.read_text())
        imported = time.perf_counter()
        persist(
            storage=storage, tracking_uri=f"sqlite:///{workdir}/mlflow.db", experiment_name="bench",
            model_name="bench-model", gate_metric="f1_macro", dag_id="bench", run_id=str(time.time()),
            dataset=facts["dataset"], training=facts["training"], split_params={"test_size": 0.25, "random_seed": 42},
        )  # fmt: skip
    else:
        raise ValueError(name)
    finished = time.perf_counter()
    return {"seconds": finished - imported, "rss_mib": _max_rss_mib(), "import_seconds": imported - started}


def log_model_seconds(workdir: Path) -> dict[str, float]:
    """mlflow.sklearn.log_model with the explicit pip requirements persist_model passes, warm (second call).

    The first call in a process also pays one-time imports (skops, MLflow's package map); that is reported as imports.
    """
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.datasets import load_wine

    from ml_pipeline.registry import model_requirements
    from ml_pipeline.training import build_pipeline

    features, target = load_wine(return_X_y=True, as_frame=True)
    model = build_pipeline("logistic_regression", {}, 42).fit(features, target)
    signature = infer_signature(features, model.predict(features))
    mlflow.set_tracking_uri(f"sqlite:///{workdir}/log_model.db")
    calls = []
    with mlflow.start_run():
        for _ in range(2):
            started = time.perf_counter()
            mlflow.sklearn.log_model(
                model, name="model", signature=signature, input_example=features.head(3),
                pip_requirements=model_requirements(),
            )  # fmt: skip
            calls.append(time.perf_counter() - started)
    return {"seconds": calls[1], "rss_mib": _max_rss_mib(), "import_seconds": calls[0] - calls[1]}


def in_fresh_interpreter(name: str, workdir: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--stage", name, "--workdir", str(workdir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def end_to_end(workdir: Path) -> dict[str, float]:
    """`make run`'s script on a throwaway Airflow home and MLflow store, wall time of the whole process."""
    import os

    env = os.environ | {
        "AIRFLOW_HOME": str(workdir / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/e2e/mlflow.db",
        "ML_PIPELINE_ARTIFACT_ROOT": str(workdir / "e2e" / "artifacts"),
    }
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_pipeline.py")], env=env, check=True, capture_output=True
    )
    return {"seconds": time.perf_counter() - started, "rss_mib": float("nan"), "import_seconds": float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(stage(args.stage, args.workdir)))
        return 0

    rows, missed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in TARGETS}
        for _ in range(args.repeat):
            for name in ("dag_parse", "get_data", "train_model", "persist_model", "log_model"):
                samples[name].append(in_fresh_interpreter(name, workdir))
        samples["end_to_end"].append(end_to_end(workdir))
    for name, (max_seconds, max_mib) in TARGETS.items():
        seconds = statistics.median(s["seconds"] for s in samples[name])
        rss = statistics.median(s["rss_mib"] for s in samples[name])
        imports = statistics.median(s["import_seconds"] for s in samples[name])
        ok = seconds <= max_seconds and (max_mib is None or rss <= max_mib)
        if not ok:
            missed.append(name)
        rss_cell = "-" if rss != rss else f"{rss:.0f} MiB"
        target = f"<= {max_seconds:g} s" + (f", <= {max_mib} MiB" if max_mib else "")
        imports_cell = "-" if imports != imports else f"{imports:.2f} s"
        rows.append(
            f"| {name} | {seconds:.2f} s | {imports_cell} | {rss_cell} | {target} | {'ok' if ok else 'MISSED'} |"
        )
    print("| measurement | time (median) | imports | peak RSS | target | |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    if missed:
        print(f"\nmissed targets: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
