"""approve_champion: the question Airflow's human-in-the-loop operators ask when persist_model proposes a champion
(`require_approval`), and the answer it hands on.

It asks only when persist_model proposed a version; otherwise it is skipped, and so are the tasks after it. The
question (subject and body) and how long to wait are made when it runs, from persist_model's result and the run's
configuration, as every setting is read when a task runs. While it waits it holds no worker slot: Airflow 3.3 parks
the task in the `awaiting_input` state and its scheduler applies the timeout.

The options are exactly Approve and Reject, which the Airflow UI shows as an approval ("Required actions"). It is a
HITLBranchOperator rather than an ApprovalOperator: on Reject the ApprovalOperator skips every task after it, so no
task could record the rejection; here Approve leads to promote_champion, and Reject (also the answer a timeout
gives) to keep_challenger, which records it on the version.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import HITLBranchOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict

from ml_pipeline.contract import APPROVE, REJECT
from task_runtime import pipeline_task

if TYPE_CHECKING:
    from ml_pipeline.config.model import PipelineConfig
    from ml_pipeline.contract import ApprovalAnswer, PersistResult

PROMOTE_TASK = "promote_champion"
KEEP_TASK = "keep_challenger"
ANSWER_KEY = "answer"  # the XCom with the ApprovalAnswer, pushed before branching (a branch pushes no return value)
COMMENT = "comment"
# Replaced by approval_timeout_hours when the task runs; the configuration allows no longer wait than this.
LONGEST_WAIT = timedelta(hours=22)


class ChampionApproval(HITLBranchOperator):
    """Approve or Reject persist_model's proposed version; no answer within approval_timeout_hours is Reject."""

    def __init__(self, *, proposal_task_id: str = "persist_model", params: Any = None, **kwargs: Any) -> None:
        comment = Param("", type=["string", "null"], title="Comment", source="task", description=(
            "Optional: why, in a line. It is recorded on the model version with your answer."))  # fmt: skip
        # `params` holds the DAG's too (Airflow adds them); the operator shows only its own, the comment.
        given = {key: params.get_param(key) for key in params} if isinstance(params, ParamsDict) else params or {}
        super().__init__(
            subject="Promote the proposed version to champion?",  # made from the proposal when the task runs
            options=[APPROVE, REJECT],
            options_mapping={APPROVE: PROMOTE_TASK, REJECT: KEEP_TASK},
            defaults=[REJECT],
            params=ParamsDict({**given, COMMENT: comment}),
            response_timeout=LONGEST_WAIT,
            **kwargs,
        )
        self.proposal_task_id = proposal_task_id

    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowSkipException

        result = context["ti"].xcom_pull(task_ids=self.proposal_task_id)
        if not (result and result.get("proposed")):
            raise AirflowSkipException("Nothing to approve: persist_model proposed no new champion")
        with pipeline_task() as run:
            hours = run.config.approval_timeout_hours
            self.subject, self.body = _question(run.config, result, hours)
            self.response_timeout = timedelta(hours=hours)
        return super().execute(context)  # asks, then parks the task until an answer or the timeout

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "error" not in event:
            context["ti"].xcom_push(key=ANSWER_KEY, value=answer_of(event))
        return super().execute_complete(context, event)  # branches: Approve to promote_champion, else keep_challenger


def answer_of(event: dict[str, Any]) -> ApprovalAnswer:
    """What the person chose, who, when and their comment; `timed out` when the scheduler applied the default."""
    from ml_pipeline.contract import ApprovalAnswer

    at = event.get("responded_at")
    user = event.get("responded_by_user") or {}
    return ApprovalAnswer(
        answer="timed out" if event.get("timedout") else "approved" if event["chosen_options"] == [APPROVE] else
        "rejected",
        responded_by=user.get("name"),
        responded_at=at.isoformat() if isinstance(at, datetime) else at,
        comment=((event.get("params_input") or {}).get(COMMENT) or "").strip(),
    )  # fmt: skip


def _question(config: PipelineConfig, result: PersistResult, hours: float) -> tuple[str, str]:
    from ml_pipeline.registry.approval import proposal_text
    from task_runtime.urls import mlflow_ui_base, version_url

    base = mlflow_ui_base(config.mlflow_tracking_uri, config.mlflow_ui_url)
    link = version_url(base, result["model_name"], result["version"]) if base else None
    return proposal_text(result, link, hours)
