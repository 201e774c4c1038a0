"""One measurement of `make bench-score`, in a process of its own so its peak RSS is its own.

    score_worker.py MODE SOURCE OUTPUT TRACKING_URI      MODE: engine | no-drift | plain | spark

Prints one JSON line: rows, seconds (reading and scoring, after the model is loaded) and peak RSS in MiB.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dags"))

from stages import max_rss_mib

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.config.scoring import SPARK_JOB_SCRIPT
from ml_pipeline.contract import ScoringPlan
from ml_pipeline.data.schema import model_input
from ml_pipeline.scoring.batch import load_pinned, pin_version, score_on_worker
from ml_pipeline.scoring.spark import run_locally
from ml_pipeline.store.objects import Storage

MODEL = "bench-classifier"


def plain(plan: ScoringPlan) -> tuple[int, float]:
    """The baseline: the whole file read with pandas, put in the form the model reads (as the engines put each
    batch), then the same model's predict."""
    import pandas as pd

    model, schema, _ = load_pinned(plan)
    started = time.monotonic()
    frame = pd.read_parquet(plan["source"])
    model.predict(model_input(frame, schema))
    return len(frame), time.monotonic() - started


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)  # spark-submit's output, into the bench's log
    mode, source, output, tracking_uri = sys.argv[1:5]
    config = PipelineConfig(mlflow_tracking_uri=tracking_uri, model_name=MODEL, scoring_source_uri=source)
    plan = pin_version(config, output)
    if mode == "plain":
        rows, seconds = plain(plan)
    elif mode in ("engine", "no-drift"):
        counts = score_on_worker(plan, Storage(), count_drift=mode == "engine")
        rows, seconds = counts["rows_in"], counts["seconds"]
    else:  # the whole spark-submit, start-up included; the job's own time is in its counts
        started = time.monotonic()
        run_locally(plan, str(SPARK_JOB_SCRIPT), timeout_seconds=3600)
        rows, seconds = 0, time.monotonic() - started
        (counts_file,) = Path(output, "_counts").glob("*.json")
        counts = json.loads(counts_file.read_text())
        rows, job_seconds = counts["rows_in"], counts["seconds"]
        print(json.dumps({"rows": rows, "seconds": seconds, "job_seconds": job_seconds, "rss_mib": None}))
        return
    print(json.dumps({"rows": rows, "seconds": seconds, "rss_mib": max_rss_mib()}))


if __name__ == "__main__":
    main()
