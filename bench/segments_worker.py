"""One step of `make bench-segments` in a fresh interpreter, as a task runs on a worker; prints one JSON line with
its seconds (imports included) and its own peak RSS.

    python bench/segments_worker.py get_data ROOT          the run's split (what get_data writes)
    python bench/segments_worker.py sequential ROOT        every segment, one after another, in this process
    python bench/segments_worker.py plan ROOT ENGINE MAP   plan_segments on ENGINE (spark trains here)
    python bench/segments_worker.py train ROOT ENGINE N    train_segments[N] of the airflow engine's plan

ROOT holds `settings.json` (the table is its source_uri); each way of training writes under ROOT/<its name>.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "dags"))

from stages import max_rss_mib  # noqa: E402

from ml_pipeline.config.model import PipelineConfig  # noqa: E402
from ml_pipeline.contract import DatasetSnapshot  # noqa: E402
from ml_pipeline.data.snapshot import snapshot_dataset  # noqa: E402
from ml_pipeline.segments.spark_engine import plan_segments  # noqa: E402
from ml_pipeline.segments.train import train_group  # noqa: E402
from ml_pipeline.store.objects import Storage  # noqa: E402

TIMEOUT_S = 4 * 3600


def config_of(root: Path, folder: str) -> PipelineConfig:
    settings = json.loads((root / "settings.json").read_text())
    settings["segment_engine"] = "spark" if folder == "spark" else "airflow"
    return PipelineConfig(artifact_root=str(root / folder), **settings)


def get_data(root: Path) -> None:
    dataset = snapshot_dataset(config_of(root, "data"), str(root / "data"), Storage())
    (root / "dataset.json").write_text(json.dumps(dataset))


def sequential(root: Path) -> None:
    """The baseline: the same split and training functions, one group, one process."""
    plan(root, "sequential", "1")
    train(root, "sequential", "0")


def plan(root: Path, folder: str, max_map_length: str) -> None:
    """plan_segments: the airflow engine splits and groups; the spark engine also trains every segment (local Spark)."""
    config, dataset = config_of(root, folder), dataset_of(root)
    candidates = [spec.as_candidate() for spec in config.candidate_list()]
    groups = plan_segments(config, str(root / folder), Storage(), dataset, candidates, int(max_map_length), TIMEOUT_S)
    (root / folder / "groups.json").write_text(json.dumps({"groups": groups, "candidates": candidates}))


def train(root: Path, folder: str, index: str) -> None:
    config, planned = config_of(root, folder), json.loads((root / folder / "groups.json").read_text())
    group = planned["groups"][int(index)]
    train_group(config, str(root / folder), Storage(), group, planned["candidates"])


def dataset_of(root: Path) -> DatasetSnapshot:
    return json.loads((root / "dataset.json").read_text())


if __name__ == "__main__":
    step, root, *arguments = sys.argv[1:]
    {"get_data": get_data, "sequential": sequential, "plan": plan, "train": train}[step](Path(root), *arguments)
    print(json.dumps({"seconds": time.perf_counter() - STARTED, "rss_mib": max_rss_mib()}))
