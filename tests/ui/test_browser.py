"""What a person sees: the DAG in Airflow's graph, its trigger form refusing a bad value, a run started from the form,
and the task's extra links opening MLflow on the model version (alias, metrics, the gate's reason) and its runs."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.ui
RUN_SECONDS = 600  # a run of one candidate takes about a minute here; the bound is generous for slow CI machines


def follow(page: Page, name: str, role: str = "link") -> Page:
    """Click a link that opens a new tab (extra links, the MLflow menu entry) and return that tab."""
    with page.context.expect_page() as opened:
        page.get_by_role(role, name=name, exact=True).click()
    return opened.value


def run_id_from(page: Page, dag_id: str) -> str:
    """The run the trigger created: the UI moves to its page."""
    page.wait_for_url(re.compile(rf"/dags/{dag_id}/runs/[^/]+$"))
    return page.url.rsplit("/runs/", 1)[1].replace("%2B", "+").replace("%3A", ":")


def task_details(page: Page, stack, dag_id: str, run_id: str, task: str) -> None:
    page.goto(f"{stack.ui.airflow_url}/dags/{dag_id}/runs/{run_id}/tasks/{task}/details")
    expect(page.get_by_text("Extra Links")).to_be_visible()


def test_train_from_the_trigger_form_and_follow_the_links_to_the_model_in_mlflow(page, stack, shots):
    dag_url = f"{stack.ui.airflow_url}/dags/classification_pipeline"
    page.goto(dag_url)
    page.get_by_role("button", name="Show Graph").click()
    nodes = page.locator(".react-flow__node")
    expect(nodes).to_have_count(11)  # the segment tasks too: EMR job and its run, plan, the group, publish_router
    expect(nodes.filter(has_text="get_data")).to_have_count(1)
    expect(nodes.filter(has_text="train_model [")).to_have_count(1)  # mapped: one instance per candidate
    expect(nodes.filter(has_text="persist_model")).to_have_count(1)
    expect(nodes.filter(has_text="approve_champion")).to_have_count(1)  # asks only with require_approval
    expect(nodes.filter(has_text="publish_router")).to_have_count(1)  # runs only with segment_column
    shots.take(page, "dag-graph")

    page.get_by_role("button", name="Browse").click()
    registry = follow(page, "MLflow", role="menuitem")  # the plugin's navigation entry
    expect(registry.get_by_text("Registered Models").first).to_be_visible()
    registry.close()
    page.keyboard.press("Escape")

    runs_before = stack.api.run_ids("classification_pipeline")
    page.get_by_role("button", name="Trigger Dag").click()
    form = page.get_by_role("dialog")
    form.get_by_role("button", name="Candidates").click()
    form.get_by_role("combobox").first.click()
    page.get_by_role("option", name="logistic_regression").click()
    form.get_by_role("button", name="Data checks").click()
    form.get_by_label("test_size").fill("0.3")
    expect(form.get_by_text("hyperparams", exact=True)).to_be_hidden()  # the Candidates section has folded away
    shots.take(page, "trigger-form", docs="airflow-trigger-form.png")
    form.get_by_label("test_size").fill("1.5")  # the configuration allows 0 < test_size < 1
    form.get_by_role("button", name="Trigger").click()
    refused = page.get_by_text("Failed to Trigger Dag")
    expect(refused).to_be_visible()
    shots.take(page, "bad-value-refused")
    assert stack.api.run_ids("classification_pipeline") == runs_before, "a refused value starts no run"

    form.get_by_label("test_size").fill("0.3")
    page.mouse.move(0, 0)  # a toast under the pointer stays, covering the Trigger button
    expect(refused).to_be_hidden(timeout=20_000)
    form.get_by_role("button", name="Trigger").click()
    run_id = run_id_from(page, "classification_pipeline")

    run = stack.api.wait_for_run("classification_pipeline", run_id, RUN_SECONDS)
    assert run["state"] == "success"
    settings = {key: value for key, value in run["conf"].items() if value is not None}
    assert settings == {"test_size": 0.3, "classifier": "logistic_regression"}, "empty fields are sent as null"
    page.goto(f"{dag_url}/runs/{run_id}")
    page.get_by_role("button", name="Show Graph").click()
    expect(page.locator(".react-flow__node").filter(has_text="persist_model")).to_be_visible()
    shots.take(page, "run-graph", docs="airflow-dag-graph.png")

    task_details(page, stack, "classification_pipeline", run_id, "persist_model")
    shots.take(page, "persist-model-links")
    version = follow(page, "Model version")
    expect(version.get_by_text("wine-classifier").first).to_be_visible()
    expect(version.get_by_text("Version 1")).to_be_visible()
    expect(version.get_by_text("@ champion")).to_be_visible()
    expect(version.get_by_text("holdout.f1_macro")).to_be_visible()
    expect(version.get_by_text("Gate: champion, because no champion yet.")).to_be_visible()
    shots.take(version, "mlflow-model-version", docs="mlflow-model-version.png")

    mlflow_run = follow(page, "MLflow run")
    expect(mlflow_run.get_by_text(f"classification_pipeline.{run_id}.logistic_regression").first).to_be_visible()
    shots.take(mlflow_run, "mlflow-run")

    page.goto(f"{stack.ui.airflow_url}/dags/classification_pipeline/runs/{run_id}/tasks/train_model/mapped/0/details")
    candidate_runs = follow(page, "MLflow run")
    expect(candidate_runs.get_by_text("Runs", exact=True).first).to_be_visible()
    expect(candidate_runs.get_by_text(re.compile(r"\d+ matching runs?"))).to_be_visible()
    shots.take(candidate_runs, "mlflow-candidate-runs")


def test_score_with_the_champion_and_follow_the_links_to_the_version_and_the_scoring_run(page, stack, shots):
    page.goto(f"{stack.ui.airflow_url}/dags/batch_predictions")
    page.get_by_role("button", name="Trigger Dag").click()
    form = page.get_by_role("dialog")
    form.get_by_role("button", name="Trigger").click()
    run_id = run_id_from(page, "batch_predictions")
    run = stack.api.wait_for_run("batch_predictions", run_id, RUN_SECONDS)
    assert run["state"] == "success", "needs the champion the training test registered"

    task_details(page, stack, "batch_predictions", run_id, "publish_predictions")
    # A local output has no browser address: no "Predictions" link.
    expect(page.get_by_role("link", name="Predictions", exact=True)).to_have_count(0)
    shots.take(page, "publish-predictions-links")
    version = follow(page, "Model version")
    expect(version.get_by_text("@ champion")).to_be_visible()
    scoring = follow(page, "MLflow run")
    expect(scoring.get_by_text("rows_scored").first).to_be_visible()
    shots.take(scoring, "mlflow-scoring-run")
    report = follow(page, "Drift report")  # the run's artifacts, opened on drift/report.html
    expect(report.get_by_text("report.html").first).to_be_visible()
    heading = re.compile(r"^Drift: wine-classifier v\d+ on ")
    expect(report.frame_locator("iframe").get_by_role("heading", name=heading).first).to_be_visible()
    shots.take(report, "mlflow-drift-report")


def test_a_proposed_champion_is_approved_on_the_required_actions_page_and_takes_champion(page, stack, shots):
    from airflow_rest import wait_until
    from mlflow import MlflowClient

    dag_id, run_id = "classification_pipeline", f"approval__{time.strftime('%Y%m%dT%H%M%S')}"
    stack.api.trigger(dag_id, run_id, {"require_approval": True, "classifier": "logistic_regression"})

    def asking() -> bool:
        state = stack.api.task_instance(dag_id, run_id, "approve_champion").get("state")
        assert state not in ("skipped", "failed", "upstream_failed"), f"approve_champion {state}: nothing asked"
        return state == "awaiting_input"

    wait_until("approve_champion to ask", asking, RUN_SECONDS, interval=3)
    proposal = stack.api.xcom(dag_id, run_id, "persist_model")
    assert proposal["proposed"] and not proposal["promoted"]
    registry = MlflowClient(tracking_uri=stack.ui.mlflow_url)
    champion_before = registry.get_registered_model(proposal["model_name"]).aliases.get("champion")

    page.goto(f"{stack.ui.airflow_url}/dags/{dag_id}/runs/{run_id}/tasks/approve_champion/required_actions")
    expect(page.get_by_text(f"Promote {proposal['model_name']} version {proposal['version']} to champion?").first)\
        .to_be_visible()  # fmt: skip
    expect(page.get_by_text(f"Version {proposal['version']} in MLflow")).to_be_visible()
    page.locator("input[name=element_comment]").fill("checked in the browser test")  # its label says Comment
    page.set_viewport_size({"width": 1400, "height": 1120})  # the question and its two buttons in one picture
    shots.take(page, "required-action", docs="airflow-approval.png")
    page.get_by_role("button", name="Approve", exact=True).click()

    run = stack.api.wait_for_run(dag_id, run_id, RUN_SECONDS)
    assert run["state"] == "success"
    page.reload()
    expect(page.get_by_text(re.compile(rf"Response received at .* from {stack.user}"))).to_be_visible()
    shots.take(page, "approval-received")
    states = {task["task_id"]: task["state"] for task in stack.api.task_instances(dag_id, run_id)}
    assert (states["promote_champion"], states["keep_challenger"]) == ("success", "skipped")
    champion = registry.get_model_version_by_alias(proposal["model_name"], "champion")
    assert str(champion.version) == proposal["version"] != str(champion_before), "@champion moved to the approved one"
    assert champion.tags["approval"] == "approved" and champion.tags["approval.by"] == stack.user
    assert champion.tags["approval.comment"] == "checked in the browser test"
