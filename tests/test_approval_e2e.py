"""End to end with require_approval: the real DAG run by `scripts/run_pipeline.py` waits in approve_champion until
it is answered through Airflow's REST API, as the UI's Required actions page answers it (PATCH .../hitlDetails), or
until its timeout answers Reject for it (applied by make run itself, with the scheduler's sweep).

The API is Airflow's own app, in this process, on the session's metadata database (the simple auth manager's
all-admins mode stands in for a login).
"""

import re
import subprocess
import threading
import time

import pytest
from local_airflow import metadata
from mlflow import MlflowClient
from test_e2e import MODEL, alias_version, champion_events, pipeline_command, run_id_of

pytestmark = pytest.mark.e2e
DAG_ID = "classification_pipeline"
ONE_CANDIDATE = {"require_approval": True, "classifier": "logistic_regression"}


@pytest.fixture(scope="module")
def airflow_api(airflow_home):
    """Airflow's REST API on the session's metadata database, every caller an admin named `admin`."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        yield TestClient(create_app("core"))


class Run:
    """`make run`'s script in the background; a thread keeps what it prints, so a test can wait for a trail line."""

    def __init__(self, command, env):
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self.keep, daemon=True)
        self.reader.start()

    def keep(self):
        for line in self.process.stdout:
            self.lines.append(line)

    def printed(self):
        return "".join(self.lines)


@pytest.fixture
def start(stores):
    """Start `make run`'s script for a date; a run still waiting when the test ends is stopped (SIGTERM)."""
    started = []

    def run(logical_date, conf):
        started.append(Run(pipeline_command(logical_date, conf), stores))
        return started[-1]

    yield run
    for run in started:
        if run.process.poll() is None:
            run.process.terminate()
            run.process.wait(timeout=60)


def finish(run, expect_success=True):
    run.process.wait(timeout=600)
    run.reader.join(timeout=60)
    output = run.printed()
    assert (run.process.returncode == 0) == expect_success, output[-5000:]
    return output


def awaiting_answer(run, logical_date, timeout=400):
    """The path to answer once the task waits and make run's trail has said so (a person reads it there first)."""
    deadline = time.monotonic() + timeout
    while not (
        metadata.task_states(DAG_ID, run_id_of(logical_date)).get("approve_champion") == "awaiting_input"
        and "approve_champion     awaiting_input" in run.printed()
    ):
        assert run.process.poll() is None, finish(run)
        assert time.monotonic() < deadline, "approve_champion never asked"
        time.sleep(1)
    return hitl_path(logical_date)


def hitl_path(logical_date):
    return f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id_of(logical_date)}/taskInstances/approve_champion/-1/hitlDetails"


def answer(api, logical_date, option, comment):
    """What the UI sends when a person clicks Approve or Reject."""
    body = {"chosen_options": [option], "params_input": {"comment": comment}}
    response = api.patch(hitl_path(logical_date), json=body)
    assert response.status_code == 200, response.text


def tags(version):
    return MlflowClient().get_model_version(MODEL, version).tags


def test_a_proposal_waits_for_approve_or_reject_in_the_ui(start, airflow_api):
    first, second = "2026-12-01T00:00:00+00:00", "2026-12-02T00:00:00+00:00"
    run = start(first, ONE_CANDIDATE)
    question = airflow_api.get(awaiting_answer(run, first)).json()
    assert question["subject"] == "Promote wine-classifier version 1 to champion?"
    assert question["options"] == ["Approve", "Reject"] and question["defaults"] == ["Reject"]
    assert "there is no champion yet" in question["body"]
    assert "[Version 1 in MLflow](http://127.0.0.1:5000/#/models/wine-classifier/versions/1" in question["body"]
    assert list(question["params"]) == ["comment"]
    assert MlflowClient().get_registered_model(MODEL).aliases == {"challenger": 1}
    assert champion_events(first) == [], "no event before the approval"
    answer(airflow_api, first, "Approve", "first model, checked")
    output = finish(run)
    assert "champion     proposed - challenger: no champion yet; proposed for champion, awaiting approval" in output
    assert "approval     approved - champion: approved by Anonymous at " in output
    assert "approve_champion     awaiting_input" in output and "promote_champion     success" in output
    assert alias_version("champion") == "1" and tags("1")["approval.comment"] == "first model, checked"
    assert [event["version"] for event in champion_events(first)] == ["1"], "promote_champion announced it"
    assert metadata.task_states(DAG_ID, run_id_of(first))["keep_challenger"] == "skipped"

    run = start(second, ONE_CANDIDATE)
    awaiting_answer(run, second)
    answer(airflow_api, second, "Reject", "not before the release")
    output = finish(run)
    assert "approval     rejected - challenger: rejected by Anonymous at " in output
    assert ": not before the release; champion v1 stays" in output
    assert (alias_version("champion"), alias_version("challenger")) == ("1", "2")
    assert tags("2")["approval"] == "rejected" and champion_events(second) == []
    assert metadata.task_states(DAG_ID, run_id_of(second))["promote_champion"] == "skipped"


def test_no_answer_in_time_is_a_rejection_and_without_require_approval_nothing_is_asked(start):
    date = "2026-12-05T00:00:00+00:00"
    run = start(date, ONE_CANDIDATE | {"approval_timeout_hours": 0.001})  # 3.6 s
    # make run applies the timeout itself, with the scheduler's sweep: dag.test() has no scheduler
    output = finish(run)
    page = f"http://127.0.0.1:8080/dags/{DAG_ID}/runs/{run_id_of(date)}/tasks/approve_champion/required_actions"
    assert re.search(rf"approve_champion waits for your answer until [-0-9: ]+ UTC: .* {re.escape(page)}", output)
    assert "approval     timed out - challenger: no answer within 0.001 h (approval_timeout_hours)" in output
    assert tags("1")["approval"] == "timed out" and "approval.by" not in tags("1")
    assert champion_events(date) == [] and MlflowClient().get_registered_model(MODEL).aliases == {"challenger": 1}

    date = "2026-12-06T00:00:00+00:00"
    output = finish(start(date, {"classifier": "logistic_regression"}))
    assert "champion     yes - champion: f1_macro 1.0000 = (and newer than)" not in output, "v1 never was champion"
    assert "champion     yes - champion: no champion yet" in output and "approval " not in output
    assert metadata.task_states(DAG_ID, run_id_of(date)) == {
        "get_data": "success", "train_model[logistic_regression]": "success", "persist_model": "success",
        "approve_champion": "skipped", "promote_champion": "skipped", "keep_challenger": "skipped",
        "plan_segments": "skipped", "segments.train_segments": "skipped", "segments.persist_segments": "skipped",
        "publish_router": "skipped", "segment_emr_job": "skipped", "train_segments_on_emr": "skipped",
    }  # fmt: skip
    assert [event["version"] for event in champion_events(date)] == ["2"]
    assert "approval" not in tags("2")
