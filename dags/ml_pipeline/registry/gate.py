"""The champion gate: the registered version, loaded back from the registry, against the champion on the same rows.

Rules (docs/how-it-works.md, "The champion gate", states them for users):
- the candidate is scored as registered (`models:/<name>/<version>`), never by the training's own numbers;
- it takes `champion` if it scores higher than the champion on this run's holdout, or equal and it is newer;
  an older version never takes `champion` from a newer one on a tie;
- otherwise it becomes `challenger` (unless a newer version already is) and the champion stays;
- a champion that cannot be scored on this holdout (the data's schema changed: a feature removed or retyped) is not
  replaced automatically, unless `allow_schema_change` is set; a new label or an added column does not stop it;
- the decision tag is written first and the aliases last, under the registry lock, after re-reading the champion
  (compare-and-set): if it moved since it was scored, the candidate is gated again against the new one;
- with `require_approval`, a decision to promote becomes a proposal: the candidate is set as challenger and waits for
  a person's answer (registry/approval.py), which gates it again before champion moves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ml_pipeline.contract import (
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    LOWER_IS_BETTER,
    METRICS,
    TAG_CANDIDATE,
    TAG_DAG_ID,
    TAG_DATA_HASH,
    TAG_GATE,
    TAG_HOLDOUT,
    TAG_RUN_ID,
)
from ml_pipeline.data.schema import DatasetSchema
from ml_pipeline.errors import RegistryBusyError
from ml_pipeline.registry.connection import is_not_found
from ml_pipeline.registry.lookup import load_version
from ml_pipeline.registry.run_log import Holdout
from ml_pipeline.training.metrics import better, evaluate

log = logging.getLogger(__name__)

MAX_REGATES = 5  # champion moves seen while gating before giving up (each is another run's promotion)


@dataclass(frozen=True)
class Decision:
    alias: str
    reason: str
    champion: ModelVersion | None
    champion_score: float | None
    champion_metrics: dict[str, float] | None = None
    proposed: bool = False  # it would take champion, but a person has to approve first

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


def score(model_name: str, version: str, holdout: Holdout) -> dict[str, float]:
    """Holdout metrics of a registered version."""
    return scored(model_name, version, holdout)[0]


def scored(model_name: str, version: str, holdout: Holdout) -> tuple[dict[str, float], DatasetSchema | None]:
    """Holdout metrics of a registered version, and the schema it carries. Raises SchemaChange when the version reads
    features this holdout lacks or holds with another kind."""
    model, schema = load_version(model_name, version)
    features = holdout.features
    if schema is not None:
        if changes := blocking_changes(schema, holdout.schema):
            raise SchemaChange(f"the data's schema changed ({'; '.join(changes)})")
        features = features[schema.input_names]
    metrics = evaluate(model, features, holdout.labels)["metrics"]
    return {name: metrics[name] for name in METRICS}, schema


class SchemaChange(Exception):
    """The champion cannot read this run's data."""


def blocking_changes(old: DatasetSchema, new: DatasetSchema) -> list[str]:
    """Changes from `old` to `new` that stop a model trained on `old` from scoring `new` rows."""
    kinds = {feature.name: feature.kind for feature in new.features}
    changes = [f"{f.name} removed" for f in old.features if f.name not in kinds]
    changes += [f"{f.name} now {kinds[f.name]}" for f in old.features if kinds.get(f.name, f.kind) != f.kind]
    return changes


def schema_notes(old: DatasetSchema | None, new: DatasetSchema) -> str:
    """Changes a model can live with, for the gate's reason: added columns, new labels."""
    if old is None:
        return ""
    added = [name for name in new.feature_names if name not in old.feature_names]
    labels = [str(label) for label in new.labels if label not in old.labels]
    notes = ([f"columns added: {', '.join(added)}"] if added else []) + (
        [f"new labels: {', '.join(labels)}"] if labels else []
    )
    return f" (schema changed: {'; '.join(notes)})" if notes else ""


def decide(
    model_name: str,
    candidate: ModelVersion,
    candidate_score: float,
    champion: ModelVersion | None,
    holdout: Holdout,
    metric: str,
    allow_schema_change: bool = False,
    fallback: ModelVersion | None = None,
) -> Decision:
    """Compare the candidate with the champion on the same holdout rows (with no champion yet, with the `fallback`
    that serves these rows until then, if there is one)."""
    if champion is None:
        return first_version(candidate_score, fallback, holdout, metric)
    if champion.version == candidate.version:
        reason = "already champion (a retry or rerun of the same training)"
        return Decision(CHAMPION_ALIAS, reason, champion, candidate_score)
    try:
        champion_metrics, champion_schema = scored(model_name, champion.version, holdout)
        champion_score = champion_metrics[metric]
    except SchemaChange as change:
        if allow_schema_change:
            reason = (
                f"{change}, so champion v{champion.version} cannot score this run's data; allow_schema_change is set"
            )
            return Decision(CHAMPION_ALIAS, reason, champion, None)
        reason = (
            f"{change}, so champion v{champion.version} cannot score this run's data and stays champion; set "
            "allow_schema_change to promote a version trained on the new schema"
        )
        return Decision(CHALLENGER_ALIAS, reason, champion, None)
    except Exception as error:  # an unloadable champion, or one that cannot read these rows
        reason = f"champion v{champion.version} could not be scored on this holdout ({error}); it stays champion"
        return Decision(CHALLENGER_ALIAS, " ".join(reason.split())[:500], champion, None)
    newer = int(candidate.version) > int(champion.version)
    if better(metric, candidate_score, champion_score) or (candidate_score == champion_score and newer):
        verdict = (
            "= (and newer than)"
            if candidate_score == champion_score
            else ">"
            if candidate_score > champion_score
            else "<"
        )
        alias = CHAMPION_ALIAS
    else:
        verdict = (
            "= (but older than)"
            if candidate_score == champion_score
            else ">"
            if candidate_score > champion_score
            else "<"
        )
        alias = CHALLENGER_ALIAS
    direction = " (lower is better)" if metric in LOWER_IS_BETTER else ""
    reason = (
        f"{metric} {candidate_score:.4f} {verdict} champion v{champion.version}'s {champion_score:.4f} "
        f"on this run's holdout{direction}{schema_notes(champion_schema, holdout.schema)}"
    )
    return Decision(alias, reason, champion, champion_score, champion_metrics)


def first_version(candidate_score: float, fallback: ModelVersion | None, holdout: Holdout, metric: str) -> Decision:
    """A model's first version takes champion, unless the fallback (one segment's: the model of every row) scores
    better on these rows: then it would serve them worse than they are served now."""
    if fallback is None:
        return Decision(CHAMPION_ALIAS, "no champion yet", None, None)
    where = f"fallback {fallback.name} v{fallback.version}"
    try:
        fallback_score = score(fallback.name, str(fallback.version), holdout)[metric]
    except Exception as error:  # it cannot read these rows: it is no measure
        return Decision(CHAMPION_ALIAS, f"no champion yet ({where} could not be scored: {error})"[:500], None, None)
    if better(metric, fallback_score, candidate_score):
        reason = f"{metric} {candidate_score:.4f} < {where}'s {fallback_score:.4f} on this holdout: it serves it better"
        return Decision(CHALLENGER_ALIAS, reason, None, fallback_score)
    reason = f"no champion yet; {metric} {candidate_score:.4f} >= {where}'s {fallback_score:.4f} on this holdout"
    return Decision(CHAMPION_ALIAS, reason, None, fallback_score)


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
    client: MlflowClient, model_name: str, candidate: ModelVersion, holdout: Holdout
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
    holdout: Holdout,
    metric: str,
    allow_schema_change: bool = False,
    require_approval: bool = False,
    fallback: ModelVersion | None = None,
) -> Decision:
    """Decide against the champion (or, for a first version, the `fallback`), tag the decision, then move the aliases.
    Call under the registry lock."""
    champion = alias_version(client, model_name, CHAMPION_ALIAS)
    for _ in range(MAX_REGATES):
        decision = decide(
            model_name, candidate, metrics[metric], champion, holdout, metric, allow_schema_change, fallback
        )
        if require_approval and decision.promoted and not _same(champion, candidate):
            reason = f"{decision.reason}; proposed for champion, awaiting approval"
            decision = replace(decision, alias=CHALLENGER_ALIAS, reason=reason, proposed=True)
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
