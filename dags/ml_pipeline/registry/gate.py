"""The champion gate: the registered version, loaded back from the registry, against the champion on the same rows.

Rules (docs/how-it-works.md, "The champion gate", states them for users):
- the candidate is scored as registered (`models:/<name>/<version>`), never by the training's own numbers;
- it takes `champion` if it scores higher than the champion on this run's holdout, or equal and it is newer;
  an older version never takes `champion` from a newer one on a tie;
- otherwise it becomes `challenger` (unless a newer version already is) and the champion stays;
- a champion that cannot be scored on this holdout is not replaced automatically;
- the decision tag is written first and the aliases last, under the registry lock, after re-reading the champion
  (compare-and-set): if it moved since it was scored, the candidate is gated again against the new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ml_pipeline.contract import (
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    METRICS,
    TAG_CANDIDATE,
    TAG_DAG_ID,
    TAG_DATA_HASH,
    TAG_GATE,
    TAG_HOLDOUT,
    TAG_RUN_ID,
)
from ml_pipeline.errors import ModelLoadError, RegistryBusyError
from ml_pipeline.registry.connection import is_not_found
from ml_pipeline.training.train import evaluate

log = logging.getLogger(__name__)

MAX_REGATES = 5  # champion moves seen while gating before giving up (each is another run's promotion)


@dataclass(frozen=True)
class Decision:
    alias: str
    reason: str
    champion: ModelVersion | None
    champion_score: float | None

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION_ALIAS


def alias_version(client: MlflowClient, model_name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as error:
        if is_not_found(error):
            return None
        raise


def score(model_name: str, version: str, holdout: pd.DataFrame) -> dict[str, float]:
    """Holdout metrics of a registered version, loaded as any service would load it."""
    try:
        model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    except Exception as error:
        raise ModelLoadError(f"{model_name} v{version} cannot be loaded from the registry: {error}") from error
    metrics = evaluate(model, holdout)["metrics"]
    return {name: metrics[name] for name in METRICS}


def decide(
    model_name: str,
    candidate: ModelVersion,
    candidate_score: float,
    champion: ModelVersion | None,
    holdout: pd.DataFrame,
    metric: str,
) -> Decision:
    """Compare the candidate with the champion on the same holdout rows."""
    if champion is None:
        return Decision(CHAMPION_ALIAS, "no champion yet", None, None)
    if champion.version == candidate.version:
        reason = "already champion (a retry or rerun of the same training)"
        return Decision(CHAMPION_ALIAS, reason, champion, candidate_score)
    try:
        champion_score = score(model_name, champion.version, holdout)[metric]
    except Exception as error:  # an unloadable champion, or one that expects another schema
        reason = f"champion v{champion.version} could not be scored on this holdout ({error}); it stays champion"
        return Decision(CHALLENGER_ALIAS, " ".join(reason.split())[:500], champion, None)
    newer = int(candidate.version) > int(champion.version)
    if candidate_score > champion_score or (candidate_score == champion_score and newer):
        verdict = ">" if candidate_score > champion_score else "= (and newer than)"
        alias = CHAMPION_ALIAS
    else:
        verdict = "<" if candidate_score < champion_score else "= (but older than)"
        alias = CHALLENGER_ALIAS
    reason = (
        f"{metric} {candidate_score:.4f} {verdict} champion v{champion.version}'s {champion_score:.4f} "
        "on this run's holdout"
    )
    return Decision(alias, reason, champion, champion_score)


def _move_aliases(client: MlflowClient, model_name: str, candidate: ModelVersion, decision: Decision) -> None:
    """The last step: champion (clearing a challenger that pointed at it) or challenger (never to an older one)."""
    challenger = alias_version(client, model_name, CHALLENGER_ALIAS)
    if decision.promoted:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, candidate.version)
        if challenger is not None and challenger.version == candidate.version:
            client.delete_registered_model_alias(model_name, CHALLENGER_ALIAS)
    elif challenger is None or int(challenger.version) <= int(candidate.version):
        client.set_registered_model_alias(model_name, CHALLENGER_ALIAS, candidate.version)


def score_candidate(
    client: MlflowClient, model_name: str, candidate: ModelVersion, holdout: pd.DataFrame
) -> dict[str, float]:
    """The candidate's holdout metrics as registered, recorded on the version (no lock needed)."""
    metrics = score(model_name, candidate.version, holdout)
    for name, value in metrics.items():
        client.set_model_version_tag(model_name, candidate.version, TAG_HOLDOUT + name, f"{value:.6f}")
    return metrics


def gate(
    client: MlflowClient,
    model_name: str,
    candidate: ModelVersion,
    metrics: dict[str, float],
    holdout: pd.DataFrame,
    metric: str,
) -> Decision:
    """Decide against the champion, tag the decision, then move the aliases. Call under the registry lock."""
    champion = alias_version(client, model_name, CHAMPION_ALIAS)
    for _ in range(MAX_REGATES):
        decision = decide(model_name, candidate, metrics[metric], champion, holdout, metric)
        client.set_model_version_tag(model_name, candidate.version, TAG_GATE, f"{decision.alias}: {decision.reason}")
        client.update_model_version(model_name, candidate.version, description=describe(candidate, metrics, decision))
        latest = alias_version(client, model_name, CHAMPION_ALIAS)  # compare-and-set: has it moved since it was read?
        if _same(latest, champion):
            _move_aliases(client, model_name, candidate, decision)
            log.info("Model %s v%s -> %s (%s)", model_name, candidate.version, decision.alias, decision.reason)
            return decision
        log.info("Champion moved to v%s while gating; gating again", latest.version if latest else None)
        champion = latest
    raise RegistryBusyError(f"the champion of {model_name} kept moving while this run was gated; it will retry")


def describe(candidate: ModelVersion, metrics: dict[str, float], decision: Decision) -> str:
    """What the version's page in the MLflow UI says: what it is, how it scored, and the gate's decision in full."""
    tags = candidate.tags or {}
    scores = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
    return (
        f"{tags.get(TAG_CANDIDATE, 'A model')} trained by Airflow DAG {tags.get(TAG_DAG_ID, '?')}, run "
        f"{tags.get(TAG_RUN_ID, '?')}, on data {tags.get(TAG_DATA_HASH, '?')[:12]}.\n\n"
        f"Holdout (this version loaded back from the registry): {scores}.\n\n"
        f"Gate: {decision.alias}, because {decision.reason}."
    )


def _same(first: ModelVersion | None, second: ModelVersion | None) -> bool:
    return (first.version if first else None) == (second.version if second else None)
