"""The baseline for `make bench`'s whole-run ratio: the tasks' work in one plain Python process, no Airflow
(the candidates trained one after another, as `make run`'s in-process dag.test() does too).

Same functions, same configuration (environment), same stores as `scripts/run_pipeline.py`; prints the version.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dags"))

from ml_pipeline.config.layers import load_config
from ml_pipeline.contract import RunIds
from ml_pipeline.data.snapshot import snapshot_dataset
from ml_pipeline.registry.publish import persist
from ml_pipeline.store.objects import Storage, run_prefix
from ml_pipeline.training.train import check_hyperparams, train_and_evaluate


def main() -> None:
    config, storage = load_config(), Storage()
    check_hyperparams(config)
    run_id = f"plain__{time.time()}"
    prefix = run_prefix(config.artifact_root, "plain", run_id)
    dataset = snapshot_dataset(config, prefix, storage)
    candidates = [candidate.as_candidate() for candidate in config.candidate_list()]
    trainings = [train_and_evaluate(dataset, prefix, storage, candidate, config.budget()) for candidate in candidates]
    result = persist(config, RunIds("plain", run_id), storage, dataset, candidates, trainings, {})
    print(f"{config.model_name} version {result['version']}: {result['alias']}")


if __name__ == "__main__":
    main()
