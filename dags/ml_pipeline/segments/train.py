"""train_segments[group]: the run's candidates on each segment of one group, with train_model's own function, so a
segment's model is made exactly as the whole table's is. The Spark engine calls `train_segment` too."""

from __future__ import annotations

import json
import logging

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import Candidate
from ml_pipeline.errors import InvalidInputError, one_line
from ml_pipeline.segments.contract import SegmentGroup, SegmentTrainings
from ml_pipeline.segments.plan import SegmentEntry, in_group, read_manifest
from ml_pipeline.store.objects import Storage, join
from ml_pipeline.training.budget import Budget
from ml_pipeline.training.train import train_and_evaluate

log = logging.getLogger(__name__)


def results_uri(run_prefix: str, group: int) -> str:
    return join(run_prefix, "segments", "_results", f"group-{group}.json")


def train_group(
    config: PipelineConfig, run_prefix: str, storage: Storage, group: SegmentGroup, candidates: list[Candidate]
) -> str:
    """Train every candidate on every segment of the group; returns where the results are. A retry trains the group
    again and overwrites them. With segment_engine spark, plan_segments' Spark job has trained them already."""
    if config.segment_engine == "spark":
        log.info("Spark trained this group's segments (segment_engine spark); persist_segments registers them")
        return results_uri(run_prefix, group["group"])
    results: list[SegmentTrainings] = []
    members = in_group(read_manifest(storage, group["manifest_uri"]), group["group"])
    for done, entry in enumerate(members, start=1):
        results.append(train_segment(entry, run_prefix, storage, candidates, config.budget()))
        if done % 50 == 0 or done == len(members):
            log.info("Trained %d of %d segments", done, len(members))
    return write_results(storage, run_prefix, group["group"], results)


def train_segment(
    entry: SegmentEntry, run_prefix: str, storage: Storage, candidates: list[Candidate], budget: Budget
) -> SegmentTrainings:
    """Every candidate on one segment's snapshot; a candidate that cannot train on it (its settings, its budget,
    these rows) is that segment's reason, and the others go on."""
    dataset = entry["dataset"]
    assert dataset is not None  # trainable segments have their snapshot
    folder = join(run_prefix, "segments", entry["slug"])
    trained = SegmentTrainings(segment=entry["segment"], slug=entry["slug"], trainings=[], failures={})
    for candidate in candidates:
        try:
            trained["trainings"].append(train_and_evaluate(dataset, folder, storage, candidate, budget))
        except InvalidInputError as error:  # its settings, its budget (OverBudgetError), these rows
            trained["failures"][candidate["name"]] = one_line(error)
    return trained


def write_results(storage: Storage, run_prefix: str, group: int, results: list[SegmentTrainings]) -> str:
    return storage.write_bytes(results_uri(run_prefix, group), json.dumps(results).encode())


def read_results(storage: Storage, uri: str) -> list[SegmentTrainings]:
    return json.loads(storage.read_bytes(uri))
