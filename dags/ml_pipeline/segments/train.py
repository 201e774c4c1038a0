"""train_segments[group]: the run's candidates on each segment of one group, with train_model's own function, so a
segment's model is made exactly as the whole table's is."""

from __future__ import annotations

import json
import logging

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import Candidate, SegmentGroup, SegmentTrainings
from ml_pipeline.errors import InvalidInputError, one_line
from ml_pipeline.segments.plan import in_group, read_manifest
from ml_pipeline.store.objects import Storage, join
from ml_pipeline.training.train import train_and_evaluate

log = logging.getLogger(__name__)


def results_uri(run_prefix: str, group: int) -> str:
    return join(run_prefix, "segments", "_results", f"group-{group}.json")


def train_group(
    config: PipelineConfig, run_prefix: str, storage: Storage, group: SegmentGroup, candidates: list[Candidate]
) -> str:
    """Train every candidate on every segment of the group; a candidate that cannot train on a segment (its settings,
    its budget, that segment's rows) is that segment's reason, and the others go on. Returns where the results are;
    a retry trains the group again and overwrites them."""
    results: list[SegmentTrainings] = []
    members = in_group(read_manifest(storage, group["manifest_uri"]), group["group"])
    for done, entry in enumerate(members, start=1):
        dataset = entry["dataset"]
        assert dataset is not None  # grouped segments have their snapshot
        folder = join(run_prefix, "segments", entry["slug"])
        trained = SegmentTrainings(segment=entry["segment"], slug=entry["slug"], trainings=[], failures={})
        for candidate in candidates:
            try:
                trained["trainings"].append(train_and_evaluate(dataset, folder, storage, candidate, config.budget()))
            except InvalidInputError as error:  # its settings, its budget (OverBudgetError), these rows
                trained["failures"][candidate["name"]] = one_line(error)
        results.append(trained)
        if done % 50 == 0 or done == len(members):
            log.info("Trained %d of %d segments", done, len(members))
    return storage.write_bytes(results_uri(run_prefix, group["group"]), json.dumps(results).encode())


def read_results(storage: Storage, uri: str) -> list[SegmentTrainings]:
    return json.loads(storage.read_bytes(uri))
