"""The whole pipeline as `make run` runs it, against a plain process doing the same work (bench/plain_pipeline.py).

Both run alternately on the same machine, each on its own MLflow store and artifact store; the Airflow home is
migrated beforehand (as after a first `make run`), so both measure a steady-state run, process start to exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = {
    "make_run": [sys.executable, str(REPO / "scripts" / "run_pipeline.py")],
    "plain_process": [sys.executable, str(REPO / "bench" / "plain_pipeline.py")],
}


def environment(workdir: Path, name: str) -> dict[str, str]:
    return os.environ | {
        "AIRFLOW_HOME": str(workdir / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/{name}/mlflow.db",
        "ML_PIPELINE_ARTIFACT_ROOT": str(workdir / name / "artifacts"),
    }


def prepare(workdir: Path) -> None:
    env = environment(workdir, "make_run")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)


def measure(workdir: Path, name: str) -> dict[str, float]:
    """Wall time and peak RSS of one whole process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        COMMANDS[name], env=environment(workdir, name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(COMMANDS[name])} exited with {process.returncode}")
    return {"seconds": elapsed, "rss_mib": usage.ru_maxrss / 1024, "import_seconds": float("nan")}
