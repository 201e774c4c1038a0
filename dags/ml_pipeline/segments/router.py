"""publish_router: the routing table from the registry (each segment's champion, else the fallback's), logged as a
router version of `<model_name>` once per distinct table, and gated like any version: `@champion` moves to it only
if it scores at least as well as the champion on this run's whole holdout."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import warnings
from contextlib import redirect_stderr
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import CHAMPION_ALIAS, TAG_CANDIDATE, TAG_FINGERPRINT, DatasetSnapshot, RunIds
from ml_pipeline.data.profile import with_predictions
from ml_pipeline.data.schema import METADATA_KEY, DatasetSchema
from ml_pipeline.data.splits import read_schema, read_split
from ml_pipeline.errors import PipelineError
from ml_pipeline.registry.connection import connect, explained_tracking_errors
from ml_pipeline.registry.gate import alias_version, gate, score_candidate
from ml_pipeline.registry.reference import attach_reference, version_reference
from ml_pipeline.registry.run_log import Holdout, model_requirements, run_tags
from ml_pipeline.segments import router_model
from ml_pipeline.segments.contract import (
    TAG_ROUTING,
    TAG_SEGMENT_COLUMN,
    TAG_SEGMENT_OF,
    TAG_SEGMENT_VALUE,
    RouterResult,
    SegmentGroup,
    SegmentsResult,
)
from ml_pipeline.segments.persist import segments_experiment
from ml_pipeline.segments.plan import fallback_model_name, segment_model_name
from ml_pipeline.store.locks import registry_lock
from ml_pipeline.store.objects import Storage, join

PAGE = 1000  # registered models per search request


def publish_router(
    config: PipelineConfig, run: RunIds, run_prefix: str, storage: Storage, dataset: DatasetSnapshot
) -> RouterResult:
    """Build, register (once per table) and gate the router; returns what publish_router's XCom says."""
    name, metric = config.model_name, config.gate_metric
    schema = read_schema(dataset["schema_uri"], storage)
    holdout = Holdout(schema, *read_split(dataset["holdout_uri"], schema, storage))
    with explained_tracking_errors(config.mlflow_tracking_uri):
        experiment_id = connect(config.mlflow_tracking_uri, segments_experiment(config))
        client = MlflowClient()
        table = routing_table(client, config, schema)
        routing_uri = storage.write_bytes(join(run_prefix, "segments", "routing.json"), json.dumps(table).encode())
        router_run = replace(run, segment="router")
        version, reused = register_router(client, experiment_id, name, router_run, dataset, table, holdout)
        metrics = score_candidate(client, name, version, holdout)
        if not client.get_run(str(version.run_id)).data.metrics:  # once, even if a retry reuses the version
            for metric_name, value in metrics.items():  # as a candidate's run has them: make predict shows them
                client.log_metric(str(version.run_id), metric_name, value)
        with registry_lock(storage, config.artifact_root, name):
            decision = gate(client, name, version, metrics, holdout, metric, config.allow_schema_change)
    return RouterResult(
        model_name=name,
        version=str(version.version),
        reused=reused,
        promoted=decision.promoted,
        alias=decision.alias,
        reason=decision.reason,
        previous_champion=str(decision.champion.version) if decision.champion else None,
        metrics=metrics,
        segment_column=table["segment_column"],
        segments_routed=len(table["segments"]),
        fallback=f"{table['fallback']['model']} v{table['fallback']['version']}",
        routing_uri=routing_uri,
    )


def check_groups(groups: list[SegmentGroup], persisted: list[SegmentsResult]) -> None:
    """Fail, once the router is published, when a group of segments did not persist: the run must say so."""
    done = {result["group"] for result in persisted}
    if failed := [group["label"].split(":")[0] for group in groups if group["group"] not in done]:
        raise PipelineError(
            f"{len(failed)} of {len(groups)} groups of segments failed ({', '.join(failed[:5])}); the router was "
            "published with the others, and their segments keep their earlier champion or the fallback: see their "
            "segments.train_segments and persist_segments logs"
        )


def routing_table(client: MlflowClient, config: PipelineConfig, schema: DatasetSchema) -> dict[str, Any]:
    """Every segment that has a champion (whether or not today's data holds it), and the fallback's champion."""
    fallback_name = fallback_model_name(config.model_name)
    fallback = alias_version(client, fallback_name, CHAMPION_ALIAS)
    if fallback is None:
        raise PipelineError(f"{fallback_name} has no champion, so rows of segments without one could not be scored; "
                            "persist_model registers it: see why it did not")  # fmt: skip
    segments = {}
    prefix = segment_model_name(config.model_name, "").replace("'", "\\'")
    page_token = None
    while True:
        page = client.search_registered_models(f"name LIKE '{prefix}%'", max_results=PAGE, page_token=page_token)
        for model in page:
            champion, tags = (model.aliases or {}).get(CHAMPION_ALIAS), model.tags or {}
            ours = (
                tags.get(TAG_SEGMENT_OF) == config.model_name and tags.get(TAG_SEGMENT_COLUMN) == config.segment_column
            )
            if champion and ours and TAG_SEGMENT_VALUE in tags:  # LIKE's `_` matches any character
                segments[tags[TAG_SEGMENT_VALUE]] = _entry(client, model.name, str(champion))
        page_token = page.token
        if not page_token:
            break
    return {
        "segment_column": config.segment_column,
        "labels": schema.labels,
        "fallback": _entry(client, fallback_name, str(fallback.version)),
        "segments": dict(sorted(segments.items())),
    }


def _entry(client: MlflowClient, model_name: str, version: str) -> dict[str, str]:
    location = client.get_model_version_download_uri(model_name, version)
    return {"model": model_name, "version": version, "location": location}


def fingerprint(table: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(table, sort_keys=True).encode()).hexdigest()


def register_router(
    client: MlflowClient, experiment_id: str, name: str, run: RunIds, dataset: DatasetSnapshot,
    table: dict[str, Any], holdout: Holdout,
) -> tuple[ModelVersion, bool]:  # fmt: skip
    """The router version of this table: the one any run registered already, else a new one. Returns (version,
    reused)."""
    digest = fingerprint(table)
    found = client.search_model_versions(f"name = '{name}' and tags.{TAG_FINGERPRINT} = '{digest}'")
    if found:
        return max(found, key=lambda version: int(version.version)), True
    summary = f"{len(table['segments'])} segments on their own champion, the rest on {table['fallback']['model']} " \
              f"v{table['fallback']['version']}"  # fmt: skip
    tags = run_tags(run, dataset) | {TAG_FINGERPRINT: digest, TAG_CANDIDATE: "router", TAG_ROUTING: summary}
    with mlflow.start_run(experiment_id=experiment_id, run_name=run.run_name, tags=tags):
        model_uri = _log_router(table, holdout)
    with redirect_stderr(io.StringIO()):  # MLflow's notices; the task's log says what happened
        version = mlflow.register_model(model_uri, name, tags=tags, await_registration_for=300)
    return client.get_model_version(name, version.version), False


def _log_router(table: dict[str, Any], holdout: Holdout) -> str:
    router = router_model.Router(table)
    reference = version_reference(table["fallback"]["location"])
    if reference is None:
        fallback = f"{table['fallback']['model']} v{table['fallback']['version']}"
        raise PipelineError(f"{fallback} carries no drift reference (registered by an older version of this project): "
                            "run the pipeline again to replace it")  # fmt: skip
    mlflow.log_dict(table, "routing.json")
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # Without an example MLflow warns; with one it would load every segment's model to check it.
        warnings.filterwarnings("ignore", "An input example was not provided", UserWarning)
        routing = Path(folder) / router_model.ROUTING_FILE
        routing.write_text(json.dumps(table))
        info = mlflow.pyfunc.log_model(
            name="model",
            loader_module="router_model",
            data_path=str(routing),
            code_paths=[router_model.__file__],
            pip_requirements=model_requirements(),
            signature=holdout.signature(),  # its inputs; predicting here would load every segment's model once more
            metadata={METADATA_KEY: holdout.schema.model_dump(mode="json")},
        )
    attach_reference(info.model_id, with_predictions(reference, *holdout.predictions(router)))
    return info.model_uri
