"""People are told (task_runtime/notify.py): a task that failed for good, and drift, as one line and a link, to the
SNS topic `alert_sns_topic_arn` (moto stands in for SNS) or, without one, as a warning in the task log; and telling
never fails nor hides what it tells."""

import json
import logging
import re
import socket
import subprocess
import sys
import time
from types import SimpleNamespace
from urllib.parse import quote

import boto3
import pytest
import requests
from moto import mock_aws
from test_e2e import REPO

from ml_pipeline.config.model import PipelineConfig
from task_runtime import DRIFT_ASSET, FAILURE_KEY
from task_runtime import notify as notify_module
from task_runtime.notify import TaskFailureNotifier, failure_line, notify, subject

LINE = "classification_pipeline: train_model[shallow_forest] failed on run manual__1: Candidate over budget: too big"
REGION = "us-east-1"
LINK = "http://localhost:8080/dags/classification_pipeline/runs/manual__1/tasks/train_model/mapped/1?try_number=3"


def topic_with_a_queue(region, endpoint=None):
    """An SNS topic with an SQS queue subscribed; returns the topic's ARN and a function that reads what reached it."""
    sns = boto3.client("sns", region_name=region, endpoint_url=endpoint)
    sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint)
    topic = sns.create_topic(Name="ml-pipeline-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    def received():
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return topic, received


@pytest.fixture
def aws(monkeypatch):
    """Fake credentials in us-east-1, no real endpoint."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS"):
        monkeypatch.delenv(name, raising=False)


def test_with_a_topic_one_message_with_the_line_and_the_link_is_published_to_it_in_its_region(aws):
    with mock_aws():
        topic, received = topic_with_a_queue("eu-west-1")  # not the connection's region: the topic's counts
        notify(LINE, LINK, config=PipelineConfig(alert_sns_topic_arn=topic))
        (message,) = received()
    assert message["TopicArn"] == topic
    assert message["Message"] == f"{LINE}\n\n{LINK}"
    assert message["Subject"] == subject(LINE) and len(message["Subject"]) < 100


def test_an_sns_subject_is_printable_ascii_under_100_characters():
    assert subject("drift: température\nbig") == "drift: temp?rature big"
    assert subject("x" * 150) == "x" * 96 + "..."


def test_without_a_topic_the_line_and_the_link_are_one_warning_in_the_task_log(caplog):
    with caplog.at_level(logging.INFO, logger="task_runtime.notify"):
        notify(LINE, LINK, config=PipelineConfig())
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("WARNING", f"Alert: {LINE} {LINK}")
    ]


def test_a_topic_that_refuses_the_message_is_logged_in_one_line_and_nothing_is_raised(aws, caplog):
    with mock_aws():
        missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
        notify(LINE, LINK, config=PipelineConfig(alert_sns_topic_arn=missing))
    (record,) = [record for record in caplog.records if record.name == "task_runtime.notify"]
    assert record.levelname == "WARNING"
    assert re.fullmatch(rf"Alert not sent \(NotFoundException: .+\): {re.escape(LINE)} {re.escape(LINK)}",
                        record.getMessage())  # fmt: skip


def test_sns_that_does_not_answer_is_given_up_on_within_the_clients_bounds(aws, monkeypatch, caplog):
    limits = notify_module.SNS_CLIENT_LIMITS
    worst = limits["retries"]["max_attempts"] * (limits["connect_timeout"] + limits["read_timeout"])
    assert worst <= 30, "a notification never holds a task's end for long"
    monkeypatch.setattr(notify_module, "SNS_CLIENT_LIMITS", limits | {"connect_timeout": 0.5, "read_timeout": 0.5})
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        notify(LINE, LINK, config=PipelineConfig(alert_sns_topic_arn="arn:aws:sns:us-east-1:123456789012:alerts"))
        elapsed = time.monotonic() - started
    assert elapsed < 5, "two attempts of half a second, and a short backoff"
    assert any(message.startswith("Alert not sent (ReadTimeoutError: ") for message in caplog.messages)


class FailedInstance:
    """The task instance an on_failure_callback receives, as far as the notifier reads it."""

    dag_id, task_id, run_id = "classification_pipeline", "train_model", "manual__1"
    map_index, rendered_map_index, log_url = 1, "shallow_forest", LINK

    def __init__(self, pushed):
        self.pushed = pushed

    def xcom_pull(self, *, task_ids, key, map_indexes):
        assert (task_ids, key, map_indexes) == (self.task_id, FAILURE_KEY, self.map_index), "its own reason"
        return self.pushed


def test_the_failure_line_names_the_dag_the_task_and_its_candidate_the_run_and_the_tasks_own_reason():
    error = RuntimeError("AirflowFailException: the same, with a traceback")
    context = {"ti": FailedInstance("Candidate over budget: too big"), "exception": error}
    assert failure_line(context) == LINE


def test_without_a_pushed_reason_the_failure_line_gives_the_exceptions_first_line():
    instance = FailedInstance(None)
    instance.task_id, instance.map_index = "create_endpoint", -1
    context = {"ti": instance, "exception": ValueError("\nEndpoint failed: no capacity\n  details...")}
    assert failure_line(context) == (
        "classification_pipeline: create_endpoint failed on run manual__1: ValueError: Endpoint failed: no capacity"
    )


def test_a_run_conf_that_is_itself_the_failure_does_not_keep_the_alert_from_the_operators_topic(aws, monkeypatch):
    with mock_aws():
        topic, received = topic_with_a_queue("us-east-1")
        monkeypatch.setenv("ML_PIPELINE_ALERT_SNS_TOPIC_ARN", topic)
        context = {
            "ti": FailedInstance("Invalid configuration: unknown configuration key 'colour'"),
            "dag_run": SimpleNamespace(conf={"colour": 1}),
        }
        TaskFailureNotifier()(context)
        (message,) = received()
    assert message["Message"].startswith("classification_pipeline: train_model[shallow_forest] failed on run")
    assert message["Message"].endswith(f"Invalid configuration: unknown configuration key 'colour'\n\n{LINK}")


DECAYED = "live f1_macro 0.412 on 120 labeled rows, holdout 0.978 (decay_margin 0.05)"
DRIFTED = {"alcohol": "PSI 2.010 > 0.2", "color_intensity": "PSI 0.512 > 0.2"}
DRIFT_LINE = (
    "drifted: alcohol (PSI 2.010 > 0.2), color_intensity (PSI 0.512 > 0.2); report: "
    "s3://bucket/batch_predictions/manual__1/drift/report.html"
)


@pytest.mark.parametrize(
    ("drifted", "decayed", "told"),
    [
        (DRIFTED, None, DRIFT_LINE),
        ({}, DECAYED, f"decayed: {DECAYED}"),
        (DRIFTED, DECAYED, f"{DRIFT_LINE}; decayed: {DECAYED}"),
    ],
)
def test_drift_and_decay_tell_people_what_happened_and_where_the_report_is(
    dagbag, monkeypatch, caplog, drifted, decayed, told
):
    """announce_drift, the real DAG's task function, on a scoring run that drifted, decayed or both."""
    outlet = SimpleNamespace(extra=None)
    function = dagbag.dags["batch_predictions"].get_task("announce_drift").python_callable
    monkeypatch.setitem(function.__globals__, "get_current_context", lambda: {"outlet_events": {DRIFT_ASSET: outlet}})
    config = PipelineConfig(mlflow_tracking_uri="http://mlflow:5000")
    monkeypatch.setattr(notify_module, "_config", lambda conf: config)
    summary = {
        "model_name": "wine-classifier",
        "model_version": "3",
        "drifted": drifted,
        "drift_report_uri": "s3://bucket/batch_predictions/manual__1/drift/report.html",
        "mlflow_run_id": "0123abcd",
    }
    with caplog.at_level(logging.WARNING, logger="task_runtime.notify"):
        function(summary, {"decayed": decayed})
    assert outlet.extra["drifted"] == drifted and outlet.extra["decayed"] == decayed, "the Asset event says both"
    assert [record.getMessage() for record in caplog.records if record.name == "task_runtime.notify"] == [
        f"Alert: batch_predictions: wine-classifier v3 {told} http://mlflow:5000/#/runs/0123abcd?workflowType=machine_learning"
    ]


@pytest.mark.e2e
def test_a_task_that_fails_in_a_real_run_tells_the_topic_once_with_a_link_to_it(
    stores, moto_server, tmp_path, monkeypatch
):
    """classification_pipeline on the embedded Airflow with a source that does not exist: get_data fails at once
    (nothing to retry), the tasks after it do not run, and the topic gets one message, through the Airflow
    connection and the endpoint the environment names."""
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    for name, value in credentials.items():  # for this process's clients of moto; the run gets them below
        monkeypatch.setenv(name, value)
    topic, received = topic_with_a_queue(REGION, endpoint=moto_server)
    probe = (
        "import io, json, sys\n"
        "from datetime import datetime, UTC\n"
        "from local_airflow import run_report\n"
        "outcome = run_report.run_logged('classification_pipeline', {'source_uri': sys.argv[1]},"
        " datetime(2026, 12, 2, tzinfo=UTC), io.StringIO(), ())\n"
        "print(json.dumps({'run_id': outcome.run_id, 'states': outcome.states}))\n"
    )
    alerts = {"AWS_ENDPOINT_URL_SNS": moto_server, "ML_PIPELINE_ALERT_SNS_TOPIC_ARN": topic}
    env = stores | credentials | alerts | {"PYTHONPATH": f"{REPO / 'scripts'}:{REPO / 'dags'}"}
    command = [sys.executable, "-c", probe, str(tmp_path / "missing.csv")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert [state for state in outcome["states"].values() if state == "failed"] == ["failed"]
    assert outcome["states"]["get_data"] == "failed"
    (message,) = received()
    line, link = message["Message"].split("\n\n")
    assert line.startswith(f"classification_pipeline: get_data failed on run {outcome['run_id']}: Invalid input data")
    assert "missing.csv" in line
    run = quote(outcome["run_id"])
    assert re.fullmatch(rf"https?://\S+/dags/classification_pipeline/runs/{re.escape(run)}/tasks/get_data\?try_number=1",
                        link), link  # fmt: skip
