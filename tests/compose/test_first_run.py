"""The first run on the stack, triggered through the REST API: its model in MLflow, the links to it, where each
candidate trained, and its files in the S3 endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from airflow_rest import AirflowRest, label
from compose_stack import BUCKET, DAG_ID, MODEL_NAME, WORKER, ComposeStack
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from step_timing import step

pytestmark = pytest.mark.compose

# Run inside the s3 container: its endpoint is not published on the host.
HEAD_OBJECTS = """
import boto3, sys
s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:9000', region_name='us-east-1',
                  aws_access_key_id='x', aws_secret_access_key='x')
for uri in sys.argv[1:]:
    bucket, key = uri.removeprefix('s3://').split('/', 1)
    print(f"    {uri}: {s3.head_object(Bucket=bucket, Key=key)['ContentLength']} bytes")
"""


@pytest.fixture(scope="module")
def persisted(airflow: AirflowRest, first_run: str) -> dict[str, Any]:
    """What persist_model returned: the registered version and the alias the gate gave it."""
    return airflow.xcom(DAG_ID, first_run, "persist_model")


@pytest.fixture(scope="module")
def trainings(airflow: AirflowRest, first_run: str) -> list[dict[str, Any]]:
    """train_model's mapped instances."""
    return airflow.mapped_instances(DAG_ID, first_run, "train_model")


def test_the_version_is_the_champion_and_its_files_are_in_the_tracking_servers_store(persisted, mlflow_client):
    with step("check the model version and its champion alias in MLflow"):
        assert persisted.get("alias") == "champion", f"the first run's version should become champion: {persisted}"
        version = check_version_is_champion(mlflow_client, str(persisted["version"]))
        assert version.source.startswith("models:/m-"), f"v{version.version} is not a logged model: {version.source}"
        model = mlflow_client.get_logged_model(version.source.removeprefix("models:/"))
        location = model.artifact_location
        assert location.startswith("mlflow-artifacts:/"), f"{model.model_id} is not in the server's store: {location}"
        files = sorted(artifact.path for artifact in mlflow_client.list_logged_model_artifacts(model.model_id))
        assert "MLmodel" in files, f"no MLmodel under {location}: {files}"
        print(f"    {location}: {', '.join(files)}", flush=True)


def check_version_is_champion(client: MlflowClient, version: str) -> ModelVersion:
    """The registered version, once it is known to be READY and to hold the champion alias."""
    model_version = client.get_model_version(MODEL_NAME, version)
    assert model_version.status == "READY", f"{MODEL_NAME} v{version} is {model_version.status}"
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert champion.version == version, f"champion is v{champion.version}, expected v{version}"
    print(f"    {MODEL_NAME} v{version}: READY, aliases {model_version.aliases}", flush=True)
    return model_version


def test_persist_model_links_to_the_version_in_the_stacks_mlflow_ui(airflow, first_run, persisted, compose):
    with step("check persist_model's extra links open the stack's MLflow UI"):
        links = airflow.get(f"/dags/{DAG_ID}/dagRuns/{first_run}/taskInstances/persist_model/links")["extra_links"]
        browser_mlflow = f"http://localhost:{compose.mlflow_port}/#/"
        expected = f"{browser_mlflow}models/{persisted['model_name']}/versions/{persisted['version']}?"
        assert (links.get("Model version") or "").startswith(expected), f"expected {expected}...: {links}"


def test_each_candidate_trained_in_its_own_mapped_instance_on_the_worker(trainings, compose: ComposeStack):
    with step("check that each candidate trained in its own mapped instance on the Celery worker"):
        states = {label(instance): instance["state"] for instance in trainings}
        assert len(states) == 3, f"one train_model instance per default candidate: {states}"
        assert set(states.values()) == {"success"}, states
        worker = short_host(compose.run("exec", "-T", WORKER, "hostname", capture=True))
        hosts = {label(instance): short_host(instance.get("hostname") or "") for instance in trainings}
        assert set(hosts.values()) == {worker}, f"not all on the worker ({worker}): {hosts}"
        print(f"    {', '.join(sorted(states))}: success on {worker}", flush=True)


def short_host(hostname: str) -> str:
    return hostname.strip().split(".")[0]


def test_the_runs_data_and_models_are_in_the_s3_endpoint(airflow, first_run, trainings, compose: ComposeStack):
    with step("check the run's artifacts in the S3 endpoint"):
        dataset = airflow.xcom(DAG_ID, first_run, "get_data", key="dataset")
        models = [
            airflow.xcom(DAG_ID, first_run, "train_model", map_index=instance["map_index"])["model_uri"]
            for instance in trainings
        ]
        uris = [dataset["train_uri"], dataset["holdout_uri"], *models]
        assert all(uri.startswith(f"s3://{BUCKET}/") for uri in uris), f"not all in s3://{BUCKET}: {uris}"
        # head_object fails (and so the command) on a missing object.
        print(compose.run("exec", "-T", "s3", "python", "-c", HEAD_OBJECTS, *uris, capture=True), end="", flush=True)
