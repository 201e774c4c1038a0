"""People are told: a task that failed for good, drift and decay, each as one line and a link.

Where the line goes is decided when it is sent, from the pipeline's configuration as tasks read it: with
`alert_sns_topic_arn` set (on MWAA), to that Amazon SNS topic through the Amazon provider's SnsHook and the pipeline's
`aws_conn_id` (its subscribers get an e-mail, a chat message, ...); empty (locally), to the task log as one WARNING.

Telling never fails nor hides what it tells: a line that cannot be sent is logged, in one line, and the task goes
on as it would have; and it is bounded (a short timeout and two attempts at most). Only `airflow.sdk` is imported
here: the provider and boto3 load when a line is sent, so DAG files stay fast to parse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier, get_current_context

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ml_pipeline.config.model import PipelineConfig
    from ml_pipeline.contract import ScoringSummary

log = logging.getLogger(__name__)
# botocore's own default is up to 60 s per read and several retries; a notification waits at most ~30 s in all.
SNS_CLIENT_LIMITS: dict[str, Any] = {
    "connect_timeout": 5,
    "read_timeout": 10,
    "retries": {"mode": "standard", "max_attempts": 2},
}
REASON_CHARS = 500  # an exception's first line, when the task pushed no one-line reason


def notify(line: str, link: str | None = None, *, config: PipelineConfig | None = None) -> None:
    """Tell people `line` (and `link`): to the SNS topic `alert_sns_topic_arn`, or as one WARNING in the task log
    when it is empty. Never raises. Without `config`, reads it as tasks do (the Variable, the environment and, inside
    a task, its run's conf)."""
    _tell(line, link, lambda: config or _config(_run_conf()))


def _tell(line: str, link: str | None, read_config: Callable[[], PipelineConfig]) -> None:
    try:
        config = read_config()
        topic = config.alert_sns_topic_arn
        notifier = SnsLine(line, link, topic, config.aws_conn_id) if topic else LogLine(line, link)
        notifier.notify({})  # neither reads the context
    except Exception as error:  # telling must not fail, nor hide, what it tells
        log.warning("Alert not sent (%s): %s", _first_line(error), _message(line, link, " "))


class LogLine(BaseNotifier):
    """The log-only notifier: one WARNING line in the task log (and, locally, in the run's log file)."""

    def __init__(self, line: str, link: str | None = None) -> None:
        super().__init__()
        self.line, self.link = line, link

    def notify(self, context: Context) -> None:
        log.warning("Alert: %s", _message(self.line, self.link, " "))


class SnsLine(LogLine):
    """The line as an SNS message (and its start as the Subject) to a topic, through the Amazon provider's SnsHook
    with a bounded client, in the topic's own region."""

    def __init__(self, line: str, link: str | None, topic_arn: str, aws_conn_id: str) -> None:
        super().__init__(line, link)
        self.topic_arn, self.aws_conn_id = topic_arn, aws_conn_id

    def notify(self, context: Context) -> None:
        from airflow.providers.amazon.aws.hooks.sns import SnsHook
        from botocore.config import Config

        region = self.topic_arn.split(":")[3]  # arn:aws:sns:<region>:<account>:<name>
        hook = SnsHook(aws_conn_id=self.aws_conn_id, region_name=region, config=Config(**SNS_CLIENT_LIMITS))
        hook.publish_to_target(self.topic_arn, _message(self.line, self.link, "\n\n"), subject=subject(self.line))
        log.info("Alert sent to %s: %s", self.topic_arn, self.line)


class TaskFailureNotifier(BaseNotifier):
    """Every task's `on_failure_callback` (DEFAULT_ARGS). Airflow calls it once, when the task's last attempt failed
    (a failure with attempts left calls `on_retry_callback` instead): the task, the run, the task's one-line reason
    and a link to the task instance in the Airflow UI."""

    def notify(self, context: Context) -> None:
        try:
            line = failure_line(context)
        except Exception as error:  # not expected; still said, in the task log
            log.warning("Alert not sent (%s): a task failed; see its log", _first_line(error))
            return
        try:
            link: str | None = context["ti"].log_url
        except Exception:  # e.g. a task instance the DAG processor holds: the line still goes
            link = None
        # No current context in a callback: the run's conf comes from this one.
        _tell(line, link, lambda: _config(context["dag_run"].conf))


def failure_line(context: Context) -> str:
    """`<dag>: <task>[<candidate>] failed on run <run_id>: <reason>`; the reason is the one line the task pushed
    (`failing_clearly`), else the first line of its exception."""
    ti = context["ti"]
    index = ti.map_index if ti.map_index is not None else -1
    label = ti.task_id + (f"[{ti.rendered_map_index or index}]" if index >= 0 else "")
    return f"{ti.dag_id}: {label} failed on run {ti.run_id}: {_reason(context)}"


def _reason(context: Context) -> str:
    from task_runtime import FAILURE_KEY

    ti = context["ti"]
    try:
        pushed = ti.xcom_pull(task_ids=ti.task_id, key=FAILURE_KEY, map_indexes=ti.map_index)
    except Exception:  # the reason is a nicety: the exception still says what happened
        pushed = None
    if pushed:
        return str(pushed)
    error = context.get("exception")
    if isinstance(error, BaseException):
        return _first_line(error)
    return str(error or "no reason given; see the task's log")


def notify_drift(summary: ScoringSummary, decayed: str | None = None) -> None:
    """announce_drift's line: which variables drifted and where the report is, and why the version decayed; the link:
    the scoring's MLflow run (the reports are among its artifacts), else this task in the Airflow UI. Never raises."""
    try:
        config = _config(_run_conf())
        crossed = ", ".join(f"{name} ({why})" for name, why in (summary["drifted"] or {}).items())
        drift = f" drifted: {crossed}; report: {summary['drift_report_uri']}" if crossed else ""
        decay = f"{';' if drift else ''} decayed: {decayed}" if decayed else ""
        line = f"batch_predictions: {summary['model_name']} v{summary['model_version']}{drift}{decay}"
        link = _mlflow_run_link(config, summary["mlflow_run_id"]) or task_link()
    except Exception as error:  # announce_drift logs the drift itself in any case
        log.warning("Drift alert not sent (%s)", _first_line(error))
        return
    notify(line, link, config=config)


def task_link() -> str | None:
    """The running task instance in the Airflow UI (Airflow's `[api] base_url`); None outside a task."""
    try:
        return str(get_current_context()["ti"].log_url)
    except Exception:
        return None


def subject(line: str) -> str:
    """An SNS Subject: printable ASCII, fewer than 100 characters."""
    text = "".join(char if " " <= char <= "~" else "?" for char in " ".join(line.split()))
    return text if len(text) < 100 else text[:96] + "..."


def _message(line: str, link: str | None, between: str) -> str:
    return f"{line}{between}{link}" if link else line


def _first_line(error: BaseException) -> str:
    text = next((part.strip() for part in str(error).splitlines() if part.strip()), "")
    return f"{type(error).__name__}: {text[:REASON_CHARS]}" if text else type(error).__name__


def _run_conf() -> dict[str, Any] | None:
    try:
        return get_current_context()["dag_run"].conf
    except Exception:  # not inside a task
        return None


def _config(conf: dict[str, Any] | None) -> PipelineConfig:
    """The configuration as tasks read it; when the run's conf is what is wrong (the failure being told, perhaps),
    the Variable's and the environment's alone: where alerts go is an operator setting."""
    from task_runtime import _task_config

    try:
        return _task_config(conf)
    except Exception:
        if not conf:
            raise
        return _task_config(None)


def _mlflow_run_link(config: PipelineConfig, run_id: str | None) -> str | None:
    from task_runtime.urls import mlflow_ui_base, run_url

    base = mlflow_ui_base(config.mlflow_tracking_uri, config.mlflow_ui_url)
    return run_url(base, run_id) if base and run_id else None
