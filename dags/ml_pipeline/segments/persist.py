"""persist_segments[group]: each trained segment registered and gated as persist_model does the whole table's
model, in its own registered model `<model_name>.seg.<slug>`, so each segment's champion moves on its own."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import CHAMPION_ALIAS, Candidate, RunIds
from ml_pipeline.errors import PipelineError, environment_failure, is_transient, one_line
from ml_pipeline.registry.connection import explained_tracking_errors, use_tracking_server
from ml_pipeline.registry.gate import alias_version
from ml_pipeline.registry.publish import persist
from ml_pipeline.segments.contract import (
    TAG_SEGMENT_COLUMN,
    TAG_SEGMENT_OF,
    TAG_SEGMENT_VALUE,
    SegmentDecision,
    SegmentGroup,
    SegmentsResult,
    SegmentTrainings,
)
from ml_pipeline.segments.plan import SegmentEntry, fallback_model_name, read_manifest, segment_model_name
from ml_pipeline.segments.train import read_results
from ml_pipeline.store.objects import Storage, join

log = logging.getLogger(__name__)
SHOWN_PROMOTIONS = 5  # segments named in the result; the decisions file lists them all


def segments_experiment(config: PipelineConfig) -> str:
    """Segments' MLflow runs go to an experiment of their own: thousands of them would bury the whole table's."""
    return f"{config.experiment_name}.segments"


def persist_group(
    config: PipelineConfig, run: RunIds, storage: Storage, group: SegmentGroup, results_uri: str,
    candidates: list[Candidate],
) -> SegmentsResult:  # fmt: skip
    """Register and gate each segment of the group; one segment's refusal is its reason, and the others go on."""
    manifest = {entry["slug"]: entry for entry in read_manifest(storage, group["manifest_uri"])}
    decisions = []
    with explained_tracking_errors(config.mlflow_tracking_uri):
        use_tracking_server(config.mlflow_tracking_uri)
        fallback = alias_version(MlflowClient(), fallback_model_name(config.model_name), CHAMPION_ALIAS)
    for trained in read_results(storage, results_uri):
        entry = manifest[trained["slug"]]
        name = segment_model_name(config.model_name, entry["slug"])
        if not trained["trainings"]:
            reasons = "; ".join(f"{candidate}: {line}" for candidate, line in trained["failures"].items())
            decisions.append(_nothing(entry, name, f"no candidate trained on it ({reasons})"))
            continue
        try:
            decisions.append(_persist_segment(config, run, storage, entry, name, candidates, trained, fallback))
        except PipelineError as error:
            if is_transient(error) or environment_failure(error):
                raise  # the group is retried, or the run fails: not this segment's fault
            decisions.append(_nothing(entry, name, one_line(error)))
    uri = join(group["manifest_uri"].rsplit("/", 1)[0], "_decisions", f"group-{group['group']}.json")
    promoted = [decision["segment"] for decision in decisions if decision["promoted"]]
    log.info("%d segments: %d promoted, %d not better, %d registered nothing", len(decisions),
             len(promoted), sum(d["version"] is not None and not d["promoted"] for d in decisions),
             sum(d["version"] is None for d in decisions))  # fmt: skip
    return SegmentsResult(
        group=group["group"],
        decisions_uri=storage.write_bytes(uri, json.dumps(decisions).encode()),
        promoted=len(promoted),
        kept=sum(decision["version"] is not None and not decision["promoted"] for decision in decisions),
        skipped=sum(decision["version"] is None for decision in decisions),
        promoted_segments=promoted[:SHOWN_PROMOTIONS],
    )


def _persist_segment(
    config: PipelineConfig, run: RunIds, storage: Storage, entry: SegmentEntry, name: str,
    candidates: list[Candidate], trained: SegmentTrainings, fallback: ModelVersion | None,
) -> SegmentDecision:  # fmt: skip
    assert entry["dataset"] is not None
    settings = config.model_copy(update={"model_name": name, "experiment_name": segments_experiment(config)})
    result = persist(settings, replace(run, segment=entry["slug"]), storage, entry["dataset"], candidates,
                     trained["trainings"], trained["failures"], fallback)  # fmt: skip
    client, column = MlflowClient(), config.segment_column
    client.update_registered_model(
        name, description=f"The model of the rows where {column} = {entry['segment']}, one of {config.model_name}'s "
        f"segments: models:/{config.model_name}@champion routes those rows to this model's @champion."
    )  # fmt: skip
    for key, value in {TAG_SEGMENT_OF: config.model_name, TAG_SEGMENT_COLUMN: column,
                       TAG_SEGMENT_VALUE: entry["segment"]}.items():  # fmt: skip
        client.set_registered_model_tag(name, key, value)
    return SegmentDecision(segment=entry["segment"], model_name=name, version=result["version"],
                           alias=result["alias"], reason=result["reason"],
                           promoted=result["promoted"] and result["previous_champion"] != result["version"],
                           metrics=result["metrics"])  # fmt: skip


def _nothing(entry: SegmentEntry, name: str, reason: str) -> SegmentDecision:
    return SegmentDecision(segment=entry["segment"], model_name=name, version=None, alias="", promoted=False,
                           reason=reason, metrics={})  # fmt: skip
