"""persist_model's registration: one version per trained model, found again by content whatever the retries.

A version is found again by its DAG run and its fingerprint (data, split and every classifier setting), so a retry
of the same work reuses it, while a rerun that trained something else registers a new version instead of relabelling
the old one. Runs left behind by a crashed attempt are ended as FAILED; a candidate run that had finished logging
the model is registered instead of logging it again.
"""

from __future__ import annotations

import io
import logging
from contextlib import redirect_stderr

import mlflow
from mlflow import MlflowClient
from mlflow.entities import RunStatus
from mlflow.entities.model_registry import ModelVersion

from ml_pipeline.contract import (
    TAG_CANDIDATE,
    TAG_DAG_ID,
    TAG_FINGERPRINT,
    TAG_LOGGED_MODEL,
    TAG_RUN_ID,
    TAG_SEGMENT,
    RunIds,
    TrainingResult,
)
from ml_pipeline.errors import PipelineError
from ml_pipeline.registry.run_log import RunResults, log_runs, run_tags
from ml_pipeline.store.objects import Storage
from ml_pipeline.training.metrics import ranking_key

log = logging.getLogger(__name__)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run_filter(run: RunIds, fingerprint: str | None = None) -> str:
    clauses = [f"tags.{TAG_DAG_ID} = {_quote(run.dag_id)}", f"tags.{TAG_RUN_ID} = {_quote(run.run_id)}"]
    if run.segment is not None:
        clauses.append(f"tags.{TAG_SEGMENT} = {_quote(run.segment)}")
    if fingerprint is not None:
        clauses.append(f"tags.{TAG_FINGERPRINT} = {_quote(fingerprint)}")
    return " and ".join(clauses)


def find_version(
    client: MlflowClient, model_name: str, run: RunIds, fingerprint: str | None = None
) -> ModelVersion | None:
    """The newest version registered by this DAG run (with this fingerprint, if given), or None.

    Without a fingerprint: the DAG run's latest, since a rerun that trained something else registers another.
    """
    query = f"name = {_quote(model_name)} and {_run_filter(run, fingerprint)}"
    versions = client.search_model_versions(query)
    return max(versions, key=lambda v: int(v.version)) if versions else None


def rank(trainings: list[TrainingResult], metric: str, order: list[str]) -> list[TrainingResult]:
    """Best first by the gate metric; equal scores keep the configured candidates' `order` (list the candidate you
    prefer on a tie, say the simpler model, first)."""
    return sorted(trainings, key=lambda t: (ranking_key(metric, t["metrics"][metric]), order.index(t["candidate"])))


def no_candidate_trained(skipped: dict[str, str]) -> PipelineError:
    reasons = "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
    return PipelineError(f"none of the {len(skipped)} candidates trained, so nothing was registered ({reasons})")


def settle_earlier_attempts(client: MlflowClient, experiment_id: str, run: RunIds, fingerprint: str) -> str | None:
    """End runs that crashed attempts of this DAG run left RUNNING as FAILED; return the model URI of a candidate
    run with this fingerprint that finished logging its model, if any."""
    finished = None
    for earlier in client.search_runs([experiment_id], _run_filter(run), max_results=200):
        if earlier.info.status == RunStatus.to_string(RunStatus.RUNNING):
            log.info("Ending MLflow run %s, left running by an earlier attempt, as FAILED", earlier.info.run_id)
            client.set_terminated(earlier.info.run_id, RunStatus.to_string(RunStatus.FAILED))
        elif (
            earlier.info.status == RunStatus.to_string(RunStatus.FINISHED)
            and earlier.data.tags.get(TAG_FINGERPRINT) == fingerprint
            and TAG_LOGGED_MODEL in earlier.data.tags
        ):
            finished = earlier.data.tags[TAG_LOGGED_MODEL]
    return finished


def register(
    storage: Storage, client: MlflowClient, *, experiment_id: str, model_name: str, run: RunIds, results: RunResults
) -> tuple[ModelVersion, bool]:
    """The best candidate's version: the one an earlier attempt of this DAG run registered, else a new one. Returns
    (version, reused)."""
    best = results.ranked[0]
    fingerprint = {TAG_FINGERPRINT: best["fingerprint"], TAG_CANDIDATE: best["candidate"]}
    version_tags = run_tags(run, results.dataset) | fingerprint
    existing = find_version(client, model_name, run, best["fingerprint"])
    if existing is not None:
        log.info("Reusing %s v%s: an earlier attempt registered this same training", model_name, existing.version)
        return existing, True
    model_uri = settle_earlier_attempts(client, experiment_id, run, best["fingerprint"])
    if model_uri is None:
        model_uri = log_runs(storage, experiment_id, run, results)
    # MLflow prints its own notices to stderr, which Airflow's task log shows as errors; the next line says it all.
    with redirect_stderr(io.StringIO()):
        version = mlflow.register_model(model_uri, model_name, tags=version_tags, await_registration_for=300)
    log.info("Registered %s v%s (%s) from %s", model_name, version.version, best["candidate"], model_uri)
    return client.get_model_version(model_name, version.version), False
