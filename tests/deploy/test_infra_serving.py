"""`make infra-up --sagemaker-serving` and turning it off: the parameters both stacks get, what infra-up prints, and
the endpoint deploy_champion made (billed hourly, in no stack) deleted by infra-down, infra-destroy and an infra-up
without serving."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from deploy_fakes import CfnLoader
from test_infra import PROJECT, FakeCloudFormation, FakeSageMaker, params

from deploy import infra
from deploy.aws import DeployError
from deploy.cli import parse_args
from deploy.infra_config import InfraConfig
from ml_pipeline.config.model import PipelineConfig

ENDPOINT = f"{PROJECT}-serving"
REPOSITORY = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{PROJECT}-model-server"


@pytest.fixture
def serving() -> InfraConfig:
    return InfraConfig(project=PROJECT, region="us-east-1", github_repository="octo/mlops", sagemaker_serving=True)


def base_outputs(bucket: str, served: bool = True) -> dict[str, str]:
    outputs = {"BucketName": bucket, "DeployRoleArn": "arn:aws:iam::123456789012:role/d"}
    return outputs | ({"ServingEndpointName": ENDPOINT, "ModelServerRepositoryUri": REPOSITORY} if served else {})


def test_up_with_serving_creates_its_resources_and_names_the_endpoint_to_the_environment(
    serving, fake_repo, bucket, s3_client
):
    serving = dataclasses.replace(serving, sagemaker_instance_type="ml.c5.large", sagemaker_instance_count=2)
    cfn = FakeCloudFormation(outputs={serving.base_stack: base_outputs(bucket)})
    sagemaker, logs = FakeSageMaker(), []

    infra.up(serving, cfn, s3_client, sagemaker, repo=fake_repo, log=logs.append, delay=0)

    base, env = params(cfn.calls[0][1]), params(cfn.calls[2][1])
    assert base == {"ProjectName": PROJECT, "GitHubRepository": "octo/mlops", "GitHubOidcProviderArn": "",
                    "EnableSageMakerServing": "true", "ArtifactBucketName": "",
                    "ArtifactPrefix": "ml-pipeline/artifacts"}  # fmt: skip
    assert (env["SageMakerEndpointName"], env["SageMakerInstanceType"], env["SageMakerInstanceCount"]) == (
        ENDPOINT, "ml.c5.large", "2"
    )  # fmt: skip
    assert sagemaker.calls == [], "nothing to delete when serving is on"
    text = "\n".join(logs)
    assert f"endpoint {ENDPOINT} (2 x ml.c5.large)" in text and "bills every hour" in text
    assert f"MODEL_SERVER_REPOSITORY={REPOSITORY}" in text


def test_up_without_serving_deletes_the_endpoint_before_its_role_and_alarms_go(serving, fake_repo, bucket, s3_client):
    config = dataclasses.replace(serving, sagemaker_serving=False)
    cfn = FakeCloudFormation(
        stacks={config.base_stack: {"StackStatus": "UPDATE_COMPLETE"}},
        outputs={config.base_stack: base_outputs(bucket)},
    )
    sagemaker = FakeSageMaker({ENDPOINT}, calls=cfn.calls)

    infra.up(config, cfn, s3_client, sagemaker, repo=fake_repo, log=lambda _: None, delay=0)

    assert [name for name, _ in cfn.calls[:2]] == ["delete_endpoint", "update_stack"]
    assert sagemaker.endpoints == set()
    assert "EnableSageMakerServing" not in params(cfn.calls[1][1])  # template default: false
    assert params(cfn.calls[-2][1])["SageMakerEndpointName"] == ""


@pytest.mark.parametrize("command", ["down", "destroy"])
def test_down_and_destroy_delete_the_endpoint_so_nothing_bills_by_the_hour(serving, bucket, s3_client, command):
    cfn = FakeCloudFormation(
        stacks={serving.base_stack: {"StackStatus": "CREATE_COMPLETE"},
                serving.environment_stack: {"StackStatus": "CREATE_COMPLETE"}},
        outputs={serving.base_stack: base_outputs(bucket)},
    )  # fmt: skip
    sagemaker, logs = FakeSageMaker({ENDPOINT}), []
    if command == "down":
        infra.down(serving, cfn, sagemaker, log=logs.append, delay=0)
    else:
        infra.destroy(serving, cfn, s3_client, sagemaker, log=logs.append, delay=0)
    assert sagemaker.endpoints == set() and f"deleted SageMaker endpoint {ENDPOINT}" in logs[0]
    # Again, with the endpoint gone (deploy_champion never ran, or a second infra-down): nothing fails.
    infra.down(serving, FakeCloudFormation(outputs={serving.base_stack: base_outputs(bucket)},
                                           stacks={serving.base_stack: {"StackStatus": "CREATE_COMPLETE"}}),
               FakeSageMaker(), log=logs.append, delay=0)  # fmt: skip
    assert f"SageMaker endpoint {ENDPOINT} does not exist" in logs


def test_serving_options_without_serving_and_a_stack_without_the_endpoint_are_refused(serving, s3_client, bucket):
    off = dataclasses.replace(serving, sagemaker_serving=False, sagemaker_instance_count=3)
    cfn = FakeCloudFormation()
    with pytest.raises(DeployError, match="--sagemaker-instance-count only applies with --sagemaker-serving"):
        infra.up(off, cfn, s3_client, FakeSageMaker(), delay=0)
    assert cfn.calls == []
    stale = FakeCloudFormation(outputs={serving.base_stack: base_outputs(bucket, served=False)})
    with pytest.raises(DeployError, match="has no ServingEndpointName output"):
        infra.up(serving, stale, s3_client, FakeSageMaker(), delay=0)


def test_parse_args_serving_flags_and_defaults_agree_with_the_templates_and_the_pipeline():
    args = parse_args(["up", "--sagemaker-serving", "--sagemaker-instance-count", "2"], {"AWS_REGION": "eu-west-1"})
    assert (args.sagemaker_serving, args.sagemaker_instance_count) == (True, 2)
    assert parse_args(["up"], {"AWS_REGION": "eu-west-1", "MWAA_SAGEMAKER_SERVING": "true"}).sagemaker_serving
    assert parse_args(["up"], {"AWS_REGION": "eu-west-1"}).sagemaker_serving is False
    environment = yaml.load((infra.INFRA / "environment.yaml").read_text(), Loader=CfnLoader)  # noqa: S506
    defaults = {name: spec.get("Default") for name, spec in environment["Parameters"].items()}
    config, pipeline = InfraConfig(project=PROJECT, region="us-east-1"), PipelineConfig()
    assert config.sagemaker_instance_type == defaults["SageMakerInstanceType"] == pipeline.sagemaker_instance_type
    assert config.sagemaker_instance_count == defaults["SageMakerInstanceCount"] == pipeline.sagemaker_instance_count
