"""require_approval, at the registry: the gate's promotion becomes a proposal; Approve gates it again with the
compare-and-set, Reject or a timeout leaves it challenger with the answer recorded. Off by default.

Every test runs the real task functions against a throwaway MLflow store and artifact store.
"""

from datetime import UTC, datetime

import pytest
from mlflow import MlflowClient
from pipeline_runs import MODEL, WEAK, alias, publish, run_config, tags, train

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import (
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    TAG_APPROVAL,
    TAG_APPROVAL_DETAIL,
    TAG_GATE,
    ApprovalAnswer,
)
from ml_pipeline.registry.approval import keep, promote, proposal_text
from ml_pipeline.store.objects import Storage
from task_runtime.approval import answer_of

APPROVAL = {"require_approval": True}


def answer(kind="approved", by="admin", comment=""):
    at = datetime(2026, 12, 3, 17, 27, tzinfo=UTC).isoformat()
    return ApprovalAnswer(answer=kind, responded_by=by, responded_at=at, comment=comment)


def approval_tags(version):
    return {key: value for key, value in tags(version).items() if key.startswith(TAG_APPROVAL)}


def proposal(tmp_path, tracking_uri):
    """Champion v1 (weak), then a better v2 proposed; the proposal's dataset and training, and its result."""
    publish(tmp_path, tracking_uri, "weak", **WEAK)
    trained = train(tmp_path, "good")
    return trained, publish(tmp_path, tracking_uri, "good", trained=trained, settings=APPROVAL)


def test_a_version_the_gate_would_promote_is_proposed_as_challenger_and_the_champion_stays(tmp_path, tracking_uri):
    _, result = proposal(tmp_path, tracking_uri)
    assert (result["proposed"], result["promoted"], result["alias"]) == (True, False, CHALLENGER_ALIAS)
    assert result["reason"].startswith("f1_macro 1.0000 > champion v1's")
    assert result["reason"].endswith("; proposed for champion, awaiting approval")
    assert result["champion_metrics"]["f1_macro"] == result["champion_score"] < 0.9
    assert (alias(CHAMPION_ALIAS), alias(CHALLENGER_ALIAS)) == ("1", "2")
    assert approval_tags("2") == {TAG_APPROVAL: "proposed", TAG_APPROVAL_DETAIL + "compared_with": "1",
                                  TAG_APPROVAL_DETAIL + "reason": result["reason"]}  # fmt: skip
    assert tags("2")[TAG_GATE] == f"challenger: {result['reason']}"


def test_the_first_version_is_proposed_too_and_a_worse_one_is_not(tmp_path, tracking_uri):
    trained = train(tmp_path, "good")
    first = publish(tmp_path, tracking_uri, "good", trained=trained, settings=APPROVAL)
    assert first["proposed"] and alias(CHAMPION_ALIAS) is None and alias(CHALLENGER_ALIAS) == "1"
    assert approval_tags("1")[TAG_APPROVAL_DETAIL + "compared_with"] == "none"
    promote(run_config(tmp_path, tracking_uri), Storage(), trained[0], first, answer())
    assert alias(CHAMPION_ALIAS) == "1"
    worse = publish(tmp_path, tracking_uri, "weak", settings=APPROVAL, **WEAK)
    assert not worse["proposed"] and worse["alias"] == CHALLENGER_ALIAS and TAG_APPROVAL not in tags("2")


def test_approve_moves_champion_and_records_who_approved(tmp_path, tracking_uri):
    (dataset, _), result = proposal(tmp_path, tracking_uri)
    outcome = promote(run_config(tmp_path, tracking_uri), Storage(), dataset, result, answer(comment="looks right"))
    assert (outcome["promoted"], outcome["alias"], outcome["previous_champion"]) == (True, CHAMPION_ALIAS, "1")
    assert (alias(CHAMPION_ALIAS), alias(CHALLENGER_ALIAS)) == ("2", None)
    recorded = approval_tags("2")
    assert recorded[TAG_APPROVAL] == "approved" and recorded[TAG_APPROVAL_DETAIL + "by"] == "admin"
    assert recorded[TAG_APPROVAL_DETAIL + "comment"] == "looks right"
    assert recorded[TAG_APPROVAL_DETAIL + "reason"].startswith(
        "approved by admin at 2026-12-03T17:27:00+00:00: looks right; gated again: f1_macro 1.0000 > champion v1's"
    )
    assert tags("2")[TAG_GATE].startswith("champion: f1_macro 1.0000 > champion v1's")
    description = MlflowClient().get_model_version(MODEL, "2").description
    assert "Gate: champion, because" in description and "\n\nApproval: approved by admin" in description

    again = promote(run_config(tmp_path, tracking_uri), Storage(), dataset, result, answer(comment="looks right"))
    assert again["promoted"] and again["previous_champion"] == "2", "a retry: no second promotion event"
    assert MlflowClient().get_model_version(MODEL, "2").description.count("Approval:") == 1


def test_approve_after_the_champion_changed_to_a_better_version_leaves_that_champion(tmp_path, tracking_uri):
    (dataset, _), result = proposal(tmp_path, tracking_uri)
    publish(tmp_path, tracking_uri, "newer")  # v3, as good and newer, takes champion while v2 waits
    assert alias(CHAMPION_ALIAS) == "3"
    outcome = promote(run_config(tmp_path, tracking_uri), Storage(), dataset, result, answer())
    assert not outcome["promoted"] and outcome["previous_champion"] == "3"
    assert alias(CHAMPION_ALIAS) == "3", "the compare-and-set gated it again rather than overwrite"
    assert approval_tags("2")[TAG_APPROVAL] == "approved"
    refused = "but gated again it stays challenger: f1_macro 1.0000 = (but older than) champion v3's"
    assert refused in approval_tags("2")[TAG_APPROVAL_DETAIL + "reason"]


def test_approve_after_the_champion_changed_to_a_worse_version_still_promotes(tmp_path, tracking_uri):
    (dataset, _), result = proposal(tmp_path, tracking_uri)
    publish(tmp_path, tracking_uri, "weaker", **WEAK | {"hyperparams": {"n_estimators": 2, "max_depth": 1}})
    MlflowClient().set_registered_model_alias(MODEL, CHAMPION_ALIAS, "3")  # an operator pins another version
    outcome = promote(run_config(tmp_path, tracking_uri), Storage(), dataset, result, answer())
    assert outcome["promoted"] and outcome["previous_champion"] == "3" and alias(CHAMPION_ALIAS) == "2"


@pytest.mark.parametrize(
    ("given", "status", "reason"),
    [
        (answer("rejected", comment="too slow to serve"), "rejected",
         "rejected by admin at 2026-12-03T17:27:00+00:00: too slow to serve; champion v1 stays"),
        (answer("timed out", by=None), "timed out",
         "no answer within 20 h (approval_timeout_hours), so rejected at 2026-12-03T17:27:00+00:00; champion v1 stays"),
    ],
)  # fmt: skip
def test_reject_or_timeout_leaves_it_challenger_with_the_reason_on_the_version(
    tmp_path, tracking_uri, given, status, reason
):
    _, result = proposal(tmp_path, tracking_uri)
    outcome = keep(run_config(tmp_path, tracking_uri), result, given)
    assert (outcome["promoted"], outcome["alias"], outcome["reason"]) == (False, CHALLENGER_ALIAS, reason)
    assert (alias(CHAMPION_ALIAS), alias(CHALLENGER_ALIAS)) == ("1", "2")
    recorded = approval_tags("2")
    assert recorded[TAG_APPROVAL] == status and recorded[TAG_APPROVAL_DETAIL + "reason"] == reason
    assert recorded[TAG_APPROVAL_DETAIL + "compared_with"] == "1"
    assert (TAG_APPROVAL_DETAIL + "by" in recorded) == (given["responded_by"] is not None)
    assert MlflowClient().get_model_version(MODEL, "2").description.endswith(f"\n\nApproval: {reason}.")


def test_a_rerun_proposes_a_rejected_version_again_without_the_old_answer(tmp_path, tracking_uri):
    trained, result = proposal(tmp_path, tracking_uri)
    keep(run_config(tmp_path, tracking_uri), result, answer("rejected", comment="not today"))
    again = publish(tmp_path, tracking_uri, "good", trained=trained, settings=APPROVAL)
    assert again["version"] == "2" and again["reused"] and again["proposed"]
    assert set(approval_tags("2")) == {TAG_APPROVAL, TAG_APPROVAL_DETAIL + "compared_with",
                                       TAG_APPROVAL_DETAIL + "reason"}  # fmt: skip
    assert "Approval:" not in MlflowClient().get_model_version(MODEL, "2").description


def test_off_by_default_the_gate_promotes_as_before(tmp_path, tracking_uri):
    assert PipelineConfig().require_approval is False
    publish(tmp_path, tracking_uri, "weak", **WEAK)
    result = publish(tmp_path, tracking_uri, "good")
    assert (result["proposed"], result["promoted"], alias(CHAMPION_ALIAS)) == (False, True, "2")
    assert not approval_tags("2") and not result["reason"].endswith("awaiting approval")


def test_the_question_shows_the_version_beside_the_champion_and_what_each_answer_does(tmp_path, tracking_uri):
    _, result = proposal(tmp_path, tracking_uri)
    subject, body = proposal_text(result, "http://mlflow/#/models/wine-classifier/versions/2", 20)
    assert subject == "Promote wine-classifier version 2 to champion?"
    assert "| metric | version 2 | champion v1 |" in body
    assert f"| **f1_macro** (the gate's) | 1.0000 | {result['champion_metrics']['f1_macro']:.4f} |" in body
    assert "[Version 2 in MLflow](http://mlflow/#/models/wine-classifier/versions/2)" in body
    assert "no answer within 20 h" in body and f"Gate: {result['reason']}." in body
    first = result | {"previous_champion": None, "champion_metrics": None, "champion_score": None}
    assert "| metric | version 2 |\n|---|---:|\n" in proposal_text(first, None, 1.5)[1]


def test_the_answer_is_read_from_the_ui_s_response_or_the_timeout_s_default():
    at = datetime(2026, 12, 3, 17, 27, tzinfo=UTC)
    user = {"id": "admin", "name": "admin"}
    approved = {"chosen_options": ["Approve"], "params_input": {"comment": " ok "}, "responded_at": at,
                "responded_by_user": user, "timedout": False}  # fmt: skip
    assert answer_of(approved) == ApprovalAnswer(
        answer="approved", responded_by="admin", responded_at=at.isoformat(), comment="ok"
    )
    assert answer_of(approved | {"chosen_options": ["Reject"], "params_input": {}})["answer"] == "rejected"
    timeout = approved | {"chosen_options": ["Reject"], "responded_by_user": None, "timedout": True}
    assert answer_of(timeout) | {"comment": ""} == ApprovalAnswer(
        answer="timed out", responded_by=None, responded_at=at.isoformat(), comment=""
    )
