"""deploy_champion's rollout: plan_rollout and confirm_rollout, and the DAG's own Amazon provider operators, against
stubbed SageMaker and ECR clients (moto has no trustworthy SageMaker runtime). Packaging: test_model_package.py."""

import copy
import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from pipeline_runs import MODEL
from test_e2e import REPO

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.deployment.contract import ModelPackage
from ml_pipeline.deployment.sagemaker import (
    NOT_CONFIGURED,
    DeploymentError,
    EndpointBusyError,
    confirm_rollout,
    plan_rollout,
    serving_endpoint,
)
from ml_pipeline.errors import ConfigError, is_transient

ENDPOINT = "ml-pipeline-serving"
ACCOUNT = "123456789012"
REPOSITORY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/ml-pipeline-model-server"
DIGEST, OLDER = "sha256:" + "ab" * 32, "sha256:" + "cd" * 32
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ml-pipeline-serving"
ALARMS = ["ml-pipeline-serving-5xx", "ml-pipeline-serving-latency"]
ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
ENDPOINT_ARN = f"{ARN}:endpoint/{ENDPOINT}"
OPERATORS = {
    "create_model": "model",
    "create_endpoint_config": "endpoint_config",
    "create_endpoint": "create_endpoint",
    "update_endpoint": "update_endpoint",
}


def settings(**changes):
    """An operator's settings for serving on SageMaker, as make infra-up --sagemaker-serving writes them."""
    return PipelineConfig(
        **{
            "sagemaker_endpoint_name": ENDPOINT,
            "sagemaker_image_uri": REPOSITORY,
            "sagemaker_execution_role_arn": ROLE,
            "sagemaker_rollback_alarms": ALARMS,
            "artifact_root": "s3://bucket/ml",
        }
        | changes
    )


def package(version="4"):
    return ModelPackage(
        model_name=MODEL,
        model_version=version,
        model_uri=f"models:/{MODEL}/{version}",
        artifact_uri=f"s3://mlflow/models/m-{version}/artifacts",
        tracking_uri="http://mlflow:5000",
        model_data_uri=f"s3://bucket/ml/sagemaker/{MODEL}/v{version}/model.tar.gz",
        uploaded=True,
    )


def client(service):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


OK = {"ResponseMetadata": {"HTTPStatusCode": 200}}  # the operators check it


def missing(stub, operation, **name):
    stub.add_client_error(operation, "ValidationException", f"Could not find {name}", expected_params=name)


def endpoint(config_name, status="InService", reason=None):
    described = {
        "EndpointName": ENDPOINT,
        "EndpointArn": ENDPOINT_ARN,
        "EndpointConfigName": config_name,
        "EndpointStatus": status,
        "CreationTime": datetime(2026, 12, 1),
        "LastModifiedTime": datetime(2026, 12, 1),
    }
    return described | ({"FailureReason": reason} if reason else {})


def newest_image(stub):
    """The repository holds two images; the newest is deployed, by digest."""
    images = [
        {"imageDigest": OLDER, "imagePushedAt": datetime(2026, 11, 30, tzinfo=UTC)},
        {"imageDigest": DIGEST, "imagePushedAt": datetime(2026, 12, 2, tzinfo=UTC)},
    ]
    expected = {"registryId": ACCOUNT, "repositoryName": "ml-pipeline-model-server"}
    stub.add_response("describe_images", {"imageDetails": images}, expected)


def plan(live=None, model_exists=False, config_exists=False, version="4", name=None):
    """plan_rollout against stubs: the endpoint running `live` (a configuration name) or absent, and whether the
    version's model and configuration (`name`, once known) are there already."""
    sagemaker, ecr = client("sagemaker"), client("ecr")
    with Stubber(sagemaker) as sm, Stubber(ecr) as registry:
        newest_image(registry)
        if live:
            sm.add_response("describe_endpoint", endpoint(live), {"EndpointName": ENDPOINT})
        else:
            missing(sm, "describe_endpoint", EndpointName=ENDPOINT)
        if live != name or name is None:
            if model_exists:
                sm.add_response("describe_model", model_description(name), {"ModelName": name})
            else:
                missing(sm, "describe_model", ModelName=name or ANY)
            if config_exists:
                sm.add_response("describe_endpoint_config", config_description(name), {"EndpointConfigName": name})
            else:
                missing(sm, "describe_endpoint_config", EndpointConfigName=name or ANY)
        rollout = plan_rollout(settings(), package(version), sagemaker, ecr)
        sm.assert_no_pending_responses()
    return rollout


def config_description(name):
    return {
        "EndpointConfigName": name,
        "EndpointConfigArn": f"{ARN}:endpoint-config/{name}",
        "CreationTime": datetime(2026, 12, 1),
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": name}],
    }


def model_description(name):
    return {"ModelName": name, "ModelArn": f"{ARN}:model/{name}", "CreationTime": datetime(2026, 12, 1)}


class FakeTaskInstance:
    def __init__(self, rollout):
        self.rollout = rollout

    def xcom_pull(self, task_ids):
        assert task_ids == "plan_rollout"
        return self.rollout


def runs(dag, task_id, rollout):
    """Whether the DAG's operator runs for this plan, or skips itself (its pre_execute)."""
    from airflow.sdk.exceptions import AirflowSkipException

    try:
        dag.get_task(task_id)._pre_execute_hook({"ti": FakeTaskInstance(rollout)})
    except AirflowSkipException:
        return False
    return True


def execute(dag, task_id, rollout, sagemaker, **changes):
    """The DAG's operator, with the XCom values it would receive from plan_rollout, against the stubbed client."""
    task = dag.get_task(task_id)
    assert (task.config.operator.task_id, task.config.key) == ("plan_rollout", OPERATORS[task_id])
    operator = copy.copy(task)
    operator.config, operator.aws_conn_id = copy.deepcopy(rollout[OPERATORS[task_id]]), rollout["aws_conn_id"]
    for name, value in changes.items():
        setattr(operator, name, value)
    operator.hook.__dict__["conn"] = sagemaker
    return operator.execute({})


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["deploy_champion"]


def test_the_first_deployment_creates_the_model_the_configuration_and_the_endpoint(dag):
    rollout = plan()
    name = rollout["name"]
    assert name.startswith(f"{ENDPOINT}-wine-classifier-v4-") and len(name) <= 63
    assert rollout["steps"] == ["create_model", "create_endpoint_config", "create_endpoint"]
    assert [task for task in OPERATORS if runs(dag, task, rollout)] == rollout["steps"]
    assert rollout["model"] == {
        "ModelName": name,
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {
            "Image": f"{REPOSITORY}@{DIGEST}",  # the newest image, pinned by digest
            "ModelDataUrl": f"s3://bucket/ml/sagemaker/{MODEL}/v4/model.tar.gz",
            "Environment": {
                "MODEL_SERVER_MODEL_URI": "/opt/ml/model",
                "MODEL_SERVER_MODEL_NAME": MODEL,
                "MODEL_SERVER_MODEL_VERSION": "4",
            },
        },
    }
    sagemaker = client("sagemaker")
    with Stubber(sagemaker) as stub:
        stub.add_response("create_model", {"ModelArn": f"{ARN}:model/{name}"} | OK, rollout["model"])
        stub.add_response("describe_model", model_description(name), {"ModelName": name})
        stub.add_response(
            "create_endpoint_config",
            {"EndpointConfigArn": f"{ARN}:endpoint-config/{name}"} | OK,
            {
                "EndpointConfigName": name,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": name,
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                    }
                ],
            },
        )
        stub.add_response("describe_endpoint_config", config_description(name), {"EndpointConfigName": name})
        stub.add_response(
            "create_endpoint",
            {"EndpointArn": ENDPOINT_ARN} | OK,
            {"EndpointName": ENDPOINT, "EndpointConfigName": name},
        )
        stub.add_response("describe_endpoint", endpoint(name), {"EndpointName": ENDPOINT})  # the bounded wait
        stub.add_response("describe_endpoint_config", config_description(name), {"EndpointConfigName": name})
        stub.add_response("describe_endpoint", endpoint(name), {"EndpointName": ENDPOINT})
        stub.add_response("describe_endpoint", endpoint(name), {"EndpointName": ENDPOINT})  # confirm_rollout
        for task_id in rollout["steps"]:
            execute(dag, task_id, rollout, sagemaker)
        deployed = confirm_rollout(rollout, sagemaker)
        stub.assert_no_pending_responses()
    assert deployed == {
        "endpoint_name": ENDPOINT,
        "endpoint_config_name": name,
        "model_name": MODEL,
        "model_version": "4",
    }


def test_a_new_champion_updates_the_endpoint_blue_green_with_automatic_rollback_on_the_alarms(dag):
    previous = f"{ENDPOINT}-wine-classifier-v3-0123abcd"
    rollout = plan(live=previous)
    name = rollout["name"]
    assert rollout["steps"] == ["create_model", "create_endpoint_config", "update_endpoint"]
    assert rollout["live_config"] == previous
    assert [task for task in OPERATORS if runs(dag, task, rollout)] == rollout["steps"]
    update = {
        "EndpointName": ENDPOINT,
        "EndpointConfigName": name,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 600},
                "TerminationWaitInSeconds": 0,
                "MaximumExecutionTimeoutInSeconds": 3600,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm} for alarm in ALARMS]},
        },
    }
    assert rollout["update_endpoint"] == update
    sagemaker = client("sagemaker")
    with Stubber(sagemaker) as stub:
        stub.add_response("update_endpoint", {"EndpointArn": ENDPOINT_ARN} | OK, update)
        stub.add_response("describe_endpoint", endpoint(previous, "Updating"), {"EndpointName": ENDPOINT})
        stub.add_response("describe_endpoint", endpoint(name), {"EndpointName": ENDPOINT})
        stub.add_response("describe_endpoint_config", config_description(name), {"EndpointConfigName": name})
        stub.add_response("describe_endpoint", endpoint(name), {"EndpointName": ENDPOINT})
        execute(dag, "update_endpoint", rollout, sagemaker, check_interval=0)  # in service at the second look
        stub.assert_no_pending_responses()


def test_a_rolled_back_update_fails_confirm_rollout_at_once_and_says_the_previous_version_serves():
    rollout = plan(live=f"{ENDPOINT}-wine-classifier-v3-0123abcd")
    sagemaker = client("sagemaker")
    reason = "Deployment rolled back: alarm ml-pipeline-serving-5xx went into ALARM"
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "describe_endpoint", endpoint(rollout["live_config"], reason=reason), {"EndpointName": ENDPOINT}
        )
        with pytest.raises(DeploymentError, match=f"does not serve {MODEL} version 4: .*{reason}.*previous") as raised:
            confirm_rollout(rollout, sagemaker)
    assert not is_transient(raised.value)


def test_a_retry_for_the_same_version_creates_nothing_an_earlier_attempt_made(dag):
    first = plan(live=f"{ENDPOINT}-wine-classifier-v3-0123abcd")
    retry = plan(live=first["live_config"], model_exists=True, config_exists=True, name=first["name"])
    assert retry["name"] == first["name"], "the same version and settings: the same names"
    assert retry["steps"] == ["update_endpoint"]
    assert [task for task in OPERATORS if runs(dag, task, retry)] == ["update_endpoint"]
    # A retry while the first attempt's update is still under way waits for it (a transient failure).
    sagemaker, ecr = client("sagemaker"), client("ecr")
    with Stubber(sagemaker) as sm, Stubber(ecr) as registry:
        newest_image(registry)
        sm.add_response("describe_endpoint", endpoint(first["live_config"], "Updating"), {"EndpointName": ENDPOINT})
        with pytest.raises(EndpointBusyError) as raised:
            plan_rollout(settings(), package(), sagemaker, ecr)
    assert is_transient(raised.value)


def test_the_version_the_endpoint_already_runs_is_not_deployed_again(dag):
    name = plan()["name"]
    rollout = plan(live=name, name=name)
    assert rollout["steps"] == []
    assert not any(runs(dag, task, rollout) for task in OPERATORS)


def test_another_image_or_instance_type_is_a_new_deployment_of_the_same_version():
    name = plan()["name"]
    sagemaker, ecr = client("sagemaker"), client("ecr")
    with Stubber(sagemaker) as sm, Stubber(ecr) as registry:
        registry.add_response(
            "describe_images",
            {"imageDetails": [{"imageDigest": OLDER, "imagePushedAt": datetime(2026, 12, 1)}]},
            {
                "registryId": ACCOUNT,
                "repositoryName": "ml-pipeline-model-server",
                "imageIds": [{"imageTag": "4f2a9c1"}],
            },
        )
        sm.add_response("describe_endpoint", endpoint(name), {"EndpointName": ENDPOINT})
        missing(sm, "describe_model", ModelName=ANY)
        missing(sm, "describe_endpoint_config", EndpointConfigName=ANY)
        tagged = plan_rollout(settings(sagemaker_image_uri=f"{REPOSITORY}:4f2a9c1"), package(), sagemaker, ecr)
    assert tagged["name"] != name and tagged["steps"] == ["create_model", "create_endpoint_config", "update_endpoint"]
    assert tagged["model"]["PrimaryContainer"]["Image"] == f"{REPOSITORY}@{OLDER}"


def test_an_empty_repository_or_a_failed_endpoint_fails_at_once_saying_what_to_do():
    sagemaker, ecr = client("sagemaker"), client("ecr")
    with Stubber(ecr) as registry:
        registry.add_response("describe_images", {"imageDetails": []})
        with pytest.raises(ConfigError, match="has no image to deploy; push docker/model-server/Dockerfile"):
            plan_rollout(settings(), package(), sagemaker, ecr)
    with Stubber(sagemaker) as sm, Stubber(ecr) as registry:
        newest_image(registry)
        sm.add_response("describe_endpoint", endpoint("x", "Failed", "no capacity"), {"EndpointName": ENDPOINT})
        with pytest.raises(DeploymentError, match="is Failed \\(no capacity\\).*aws sagemaker delete-endpoint"):
            plan_rollout(settings(), package(), sagemaker, ecr)


def test_without_an_endpoint_the_run_is_skipped_with_one_line_saying_how_to_turn_it_on(dag, caplog):
    with caplog.at_level(logging.INFO, logger="ml_pipeline.deployment.sagemaker"):
        assert serving_endpoint(PipelineConfig()) == ""
    assert caplog.messages == [NOT_CONFIGURED]
    assert "--sagemaker-serving" in NOT_CONFIGURED and "docs/serving-aws.md" in NOT_CONFIGURED
    gate = dag.get_task("serving_endpoint")
    assert type(gate).__name__ == "_ShortCircuitDecoratedOperator" and gate.ignore_downstream_trigger_rules
    assert gate.get_flat_relative_ids(upstream=False) == set(dag.task_ids) - {"serving_endpoint"}, "gates them all"
    assert serving_endpoint(settings()) == ENDPOINT


def test_every_wait_is_bounded_and_outlasts_sagemakers_own_rollback(dag):
    from ml_pipeline.deployment.sagemaker import DEPLOYMENT_TIMEOUT_SECONDS

    assert dag.get_task("plan_rollout").multiple_outputs, "the operators read plan_rollout's keys"
    for task_id in ("create_endpoint", "update_endpoint"):
        task = dag.get_task(task_id)
        assert task.wait_for_completion and not task.deferrable
        waited = task.check_interval * task.max_ingestion_time  # the waiter's delay x its attempts
        assert DEPLOYMENT_TIMEOUT_SECONDS < waited < task.execution_timeout.total_seconds()


@pytest.mark.e2e
def test_a_run_without_serving_configured_succeeds_having_skipped_every_task_after_the_gate(stores, tmp_path):
    """The real DAG on the embedded Airflow, with no endpoint configured: as on a laptop after each new champion."""
    probe = (
        "import io, json, sys\n"
        "from datetime import datetime, UTC\n"
        "from local_airflow import run_report\n"
        "outcome = run_report.run_logged('deploy_champion', {}, datetime(2026, 12, 1, tzinfo=UTC), io.StringIO(), ())\n"
        "print(json.dumps({'state': outcome.state, 'states': outcome.states, 'log': str(outcome.log)}))\n"
    )
    env = stores | {"PYTHONPATH": f"{REPO / 'scripts'}:{REPO / 'dags'}"}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["state"] == "success"
    assert outcome["states"].pop("serving_endpoint") == "success"
    assert set(outcome["states"].values()) == {"skipped"} and len(outcome["states"]) == 8
    assert NOT_CONFIGURED in Path(outcome["log"]).read_text()
