"""require_approval: the gate's decision to promote becomes a proposal that a person answers in the Airflow UI.

- persist_model proposes (gate.gate with require_approval): the version becomes challenger and `record_proposal`
  tags it `approval=proposed`, with the champion it was compared against; the champion stays.
- Approve (promote_champion): the version is gated again under the registry lock, with the gate's compare-and-set,
  against whatever is champion then; it takes champion only if it still earns it, so a champion that changed
  meanwhile to a better version stays.
- Reject, or no answer within `approval_timeout_hours` (keep_challenger): no alias moves; the answer is recorded on
  the version (tags `approval`, `approval.*` and its description).

Airflow's human-in-the-loop operator asks the question (task_runtime/approval.py); this module never imports Airflow.
"""

from __future__ import annotations

import logging

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import (
    CHAMPION_ALIAS,
    METRICS,
    TAG_APPROVAL,
    TAG_APPROVAL_DETAIL,
    ApprovalAnswer,
    ApprovalResult,
    DatasetSnapshot,
    PersistResult,
)
from ml_pipeline.data.splits import read_schema, read_split
from ml_pipeline.registry.connection import connect, explained_tracking_errors
from ml_pipeline.registry.gate import Decision, alias_version, gate
from ml_pipeline.registry.publish import import_skops_quietly
from ml_pipeline.registry.run_log import Holdout
from ml_pipeline.store.locks import registry_lock
from ml_pipeline.store.objects import Storage

log = logging.getLogger(__name__)

PROPOSED = "proposed"
DETAILS = ("reason", "compared_with", "by", "at", "comment")  # the tags approval.<detail>
DESCRIPTION_MARK = "\n\nApproval: "  # what the version's description says of the answer, after the gate's decision


def record_proposal(client: MlflowClient, model_name: str, version: str, decision: Decision) -> None:
    """Tag a proposed version: `approval=proposed`, the gate's reason and the champion it was compared against."""
    compared_with = decision.champion.version if decision.champion else "none"
    _tag(client, model_name, version, PROPOSED, {"reason": decision.reason, "compared_with": str(compared_with)})


def answered(answer: ApprovalAnswer, timeout_hours: float) -> str:
    """Who answered what and when, in words: `rejected by admin at 2026-12-03T17:27:57Z: too slow`."""
    at = answer["responded_at"] or "an unknown time"
    if answer["answer"] == "timed out":
        return f"no answer within {timeout_hours:g} h (approval_timeout_hours), so rejected at {at}"
    comment = f": {answer['comment']}" if answer["comment"] else ""
    return f"{answer['answer']} by {answer['responded_by'] or 'an unknown user'} at {at}{comment}"


def approve(
    client: MlflowClient,
    version: ModelVersion,
    metrics: dict[str, float],
    holdout: Holdout,
    metric: str,
    allow_schema_change: bool,
    answer: ApprovalAnswer,
) -> tuple[Decision, str]:
    """Gate the approved version again (call under the registry lock) and record the answer; the decision and why."""
    decision = gate(client, version.name, version, metrics, holdout, metric, allow_schema_change)
    who = answered(answer, 0)
    if decision.promoted:
        reason = f"{who}; gated again: {decision.reason}"
    else:
        reason = f"{who}, but gated again it stays {decision.alias}: {decision.reason}"
    _record(client, version.name, version.version, answer, reason)
    return decision, reason


def reject(client: MlflowClient, model_name: str, version: str, answer: ApprovalAnswer, timeout_hours: float) -> str:
    """Record a rejection or a timeout on the version; no alias moves. Returns the reason recorded."""
    champion = alias_version(client, model_name, CHAMPION_ALIAS)
    stays = f"champion v{champion.version} stays" if champion else "there is still no champion"
    reason = f"{answered(answer, timeout_hours)}; {stays}"
    _record(client, model_name, version, answer, reason)
    return reason


def promote(
    config: PipelineConfig, storage: Storage, dataset: DatasetSnapshot, result: PersistResult, answer: ApprovalAnswer
) -> ApprovalResult:
    """promote_champion: gate the approved version again on its run's holdout and move champion if it still earns
    it. A retry is safe: a version that is already champion stays so."""
    model_name = result["model_name"]
    with explained_tracking_errors(config.mlflow_tracking_uri):
        connect(config.mlflow_tracking_uri, config.experiment_name)
        client = MlflowClient()
        import_skops_quietly()
        schema = read_schema(dataset["schema_uri"], storage)
        holdout = Holdout(schema, *read_split(dataset["holdout_uri"], schema, storage))
        version = client.get_model_version(model_name, result["version"])
        with registry_lock(storage, config.artifact_root, model_name):
            decision, reason = approve(
                client, version, result["metrics"], holdout, result["gate_metric"], config.allow_schema_change, answer
            )
        return _outcome(client, result, answer, decision.promoted, reason, decision.champion)


def keep(config: PipelineConfig, result: PersistResult, answer: ApprovalAnswer) -> ApprovalResult:
    """keep_challenger: record the rejection or the timeout on the version; no alias moves."""
    with explained_tracking_errors(config.mlflow_tracking_uri):
        connect(config.mlflow_tracking_uri, config.experiment_name)
        client = MlflowClient()
        reason = reject(client, result["model_name"], result["version"], answer, config.approval_timeout_hours)
        champion = alias_version(client, result["model_name"], CHAMPION_ALIAS)
        return _outcome(client, result, answer, False, reason, champion)


def _outcome(
    client: MlflowClient,
    result: PersistResult,
    answer: ApprovalAnswer,
    promoted: bool,
    reason: str,
    champion: ModelVersion | None,
) -> ApprovalResult:
    log.info("Model %s v%s: %s", result["model_name"], result["version"], reason)
    aliases = client.get_model_version(result["model_name"], result["version"]).aliases
    return ApprovalResult(
        model_name=result["model_name"],
        version=result["version"],
        **answer,
        promoted=promoted,
        alias=aliases[0] if aliases else "",  # champion, challenger, or none when a newer challenger took it
        reason=reason,
        previous_champion=str(champion.version) if champion else None,
    )


def proposal_text(result: PersistResult, version_link: str | None, timeout_hours: float) -> tuple[str, str]:
    """The question approve_champion asks in the Airflow UI: a subject and a Markdown body with the version, its
    holdout metrics beside the champion's, the gate's reason, a link to the version in MLflow and what each answer
    does."""
    name, version, metric = result["model_name"], result["version"], result["gate_metric"]
    champion, theirs = result["previous_champion"], result["champion_metrics"] or {}
    subject = f"Promote {name} version {version} to champion?"
    header = f"| metric | version {version} |" + (f" champion v{champion} |" if champion else "")
    rows = [header, "|---|---:|" + ("---:|" if champion else "")]
    for key in METRICS:
        label = f"**{key}** (the gate's)" if key == metric else key
        mine = f"{result['metrics'][key]:.4f}" if key in result["metrics"] else "-"
        other = f" {theirs[key]:.4f} |" if key in theirs else " - |"
        rows.append(f"| {label} | {mine} |" + (other if champion else ""))
    against = f"than champion v{champion}" if champion else "and there is no champion yet"
    link = f"[Version {version} in MLflow]({version_link}): its run, data and lineage.\n\n" if version_link else ""
    body = (
        f"**{result['best_candidate']}**, registered as {name} version {version}, scored at least as well on this "
        f"run's holdout rows {against}:\n\n" + "\n".join(rows) + "\n\n"
        f"Gate: {result['reason']}.\n\n{link}"
        f"- **Approve**: it is gated again against the champion of that moment (the registry's compare-and-set) "
        f"and takes `@champion` if it still earns it; batch_predictions then scores with it.\n"
        f"- **Reject**, or no answer within {timeout_hours:g} h: it stays `@challenger` and the champion stays. "
        "Either answer, and your comment, is recorded on the version."
    )
    return subject, body


def _record(client: MlflowClient, model_name: str, version: str, answer: ApprovalAnswer, reason: str) -> None:
    """The answer as tags, and as the last paragraph of the version's description (replacing an earlier one)."""
    details = {
        "reason": reason,
        "by": answer["responded_by"],
        "at": answer["responded_at"],
        "comment": answer["comment"],
    }
    existing = client.get_model_version(model_name, version)
    details["compared_with"] = (existing.tags or {}).get(TAG_APPROVAL_DETAIL + "compared_with")
    described = (existing.description or "").split(DESCRIPTION_MARK)[0]
    client.update_model_version(model_name, version, description=f"{described}{DESCRIPTION_MARK}{reason}.")
    _tag(client, model_name, version, answer["answer"], details)


def _tag(client: MlflowClient, model_name: str, version: str, status: str, details: dict[str, str | None]) -> None:
    """Set the details given (and remove those not given, left from an earlier proposal), then the status."""
    tags = client.get_model_version(model_name, version).tags or {}
    for name in DETAILS:
        key = TAG_APPROVAL_DETAIL + name
        if details.get(name):
            client.set_model_version_tag(model_name, version, key, str(details[name])[:5000])
        elif key in tags:
            client.delete_model_version_tag(model_name, version, key)
    client.set_model_version_tag(model_name, version, TAG_APPROVAL, status)
