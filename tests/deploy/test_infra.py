"""`make infra-up/down/destroy`: stack orchestration against a recording CloudFormation fake, S3 on moto.

moto's CloudFormation ignores parts of these templates (bucket versioning, OIDC providers, MWAA), so the stacks are
faked here and the templates themselves are checked by cfn-lint, checkov and test_infra_templates.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import yaml
from deploy_fakes import CfnLoader, track, write

from deploy import infra
from deploy.aws import DeployError
from deploy.cli import parse_args
from deploy.infra_config import DEFAULT_PYTHON_ENV_KEY, InfraConfig, python_env_key
from deploy.stacks import deploy_stack

PROJECT = "ml-pipeline"


class FakeCloudFormation:
    """Just enough of the CloudFormation client: stacks by name, with a status and outputs; records every call."""

    def __init__(
        self, stacks: dict[str, dict[str, Any]] | None = None, outputs: dict[str, dict[str, str]] | None = None
    ):
        self.stacks = stacks or {}
        self.outputs = outputs or {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.no_changes: set[str] = set()

    def _missing(self, name: str) -> botocore.exceptions.ClientError:
        error = {"Error": {"Code": "ValidationError", "Message": f"Stack with id {name} does not exist"}}
        return botocore.exceptions.ClientError(error, "DescribeStacks")

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName not in self.stacks:
            raise self._missing(StackName)
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.get(StackName, {}).items()]
        return {"Stacks": [{**self.stacks[StackName], "Outputs": outputs}]}

    def create_stack(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(("create_stack", kwargs))
        self.stacks[kwargs["StackName"]] = {"StackStatus": "CREATE_COMPLETE", "Parameters": kwargs["Parameters"]}
        return {"StackId": kwargs["StackName"]}

    def update_stack(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(("update_stack", kwargs))
        if kwargs["StackName"] in self.no_changes:
            error = {"Error": {"Code": "ValidationError", "Message": "No updates are to be performed."}}
            raise botocore.exceptions.ClientError(error, "UpdateStack")
        self.stacks[kwargs["StackName"]] = {"StackStatus": "UPDATE_COMPLETE", "Parameters": kwargs["Parameters"]}
        return {"StackId": kwargs["StackName"]}

    def delete_stack(self, StackName: str) -> None:
        self.calls.append(("delete_stack", {"StackName": StackName}))
        self.stacks.pop(StackName, None)

    def get_waiter(self, name: str) -> Any:
        fake = self

        class Waiter:
            def wait(self, StackName: str, WaiterConfig: dict[str, Any]) -> None:
                fake.calls.append(("wait", {"waiter": name, "StackName": StackName}))

        return Waiter()

    def call_names(self) -> list[tuple[str, str]]:
        return [(name, kwargs.get("StackName", "")) for name, kwargs in self.calls]


class FakeSageMaker:
    """The one SageMaker call infra makes: deleting the serving endpoint (deploy_champion's, in no stack)."""

    def __init__(self, endpoints: set[str] | None = None, calls: list[tuple[str, dict[str, Any]]] | None = None):
        self.endpoints = endpoints if endpoints is not None else set()
        self.calls = calls if calls is not None else []  # a FakeCloudFormation's, to see the order of both

    def delete_endpoint(self, EndpointName: str) -> None:
        self.calls.append(("delete_endpoint", {"EndpointName": EndpointName}))
        if EndpointName not in self.endpoints:
            error = {"Error": {"Code": "ValidationException", "Message": f"Could not find endpoint {EndpointName}"}}
            raise botocore.exceptions.ClientError(error, "DeleteEndpoint")
        self.endpoints.remove(EndpointName)


def params(call: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in call["Parameters"]}


@pytest.fixture
def config() -> InfraConfig:
    return InfraConfig(project=PROJECT, region="us-east-1", github_repository="octo/mlops")


def test_up_creates_base_uploads_then_creates_environment_with_object_versions(
    config, fake_repo: Path, bucket: str, s3_client
):
    cfn = FakeCloudFormation(
        outputs={
            config.base_stack: {"BucketName": bucket, "DeployRoleArn": "arn:aws:iam::123456789012:role/d"},
            config.environment_stack: {"WebserverUrl": "https://example.invalid"},
        }
    )
    logs: list[str] = []

    outputs = infra.up(config, cfn, s3_client, FakeSageMaker(), repo=fake_repo, log=logs.append, delay=0)

    assert cfn.call_names() == [
        ("create_stack", config.base_stack),
        ("wait", config.base_stack),
        ("create_stack", config.environment_stack),
        ("wait", config.environment_stack),
    ]
    base_call, env_call = cfn.calls[0][1], cfn.calls[2][1]
    assert params(base_call) == {"ProjectName": PROJECT, "GitHubRepository": "octo/mlops", "GitHubOidcProviderArn": ""}
    assert base_call["TemplateBody"] == (infra.INFRA / "base.yaml").read_text()
    assert env_call["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    env = params(env_call)
    # The environment starts on exactly the objects the upload just created.
    assert (
        env["RequirementsS3ObjectVersion"] == s3_client.head_object(Bucket=bucket, Key="requirements.txt")["VersionId"]
    )
    assert env["PluginsS3ObjectVersion"] == s3_client.head_object(Bucket=bucket, Key="plugins.zip")["VersionId"]
    assert env["StartupScriptS3ObjectVersion"] == ""
    assert env["SourceBucketName"] == bucket and env["EnvironmentClass"] == "mw1.small"
    assert "dags/pipeline.py" in {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert outputs["DeployRoleArn"].endswith(":role/d")
    assert any(f"MWAA_BUCKET={bucket}" in line for line in logs)
    assert any("bills every hour" in line for line in logs)


def test_up_again_updates_and_tolerates_stacks_without_changes(config, fake_repo, bucket, s3_client):
    cfn = FakeCloudFormation(
        stacks={
            config.base_stack: {"StackStatus": "CREATE_COMPLETE"},
            config.environment_stack: {"StackStatus": "UPDATE_COMPLETE"},
        },
        outputs={config.base_stack: {"BucketName": bucket, "DeployRoleArn": "arn:aws:iam::123456789012:role/d"}},
    )
    cfn.no_changes = {config.base_stack}

    infra.up(config, cfn, s3_client, FakeSageMaker(), repo=fake_repo, log=lambda _: None, delay=0)

    assert cfn.call_names() == [
        ("update_stack", config.base_stack),
        ("update_stack", config.environment_stack),
        ("wait", config.environment_stack),
    ]


def test_up_names_the_base_stacks_alert_topic_to_the_environment_and_says_how_to_subscribe(
    config, fake_repo, bucket, s3_client
):
    topic = "arn:aws:sns:us-east-1:123456789012:ml-pipeline-alerts"
    base = {"BucketName": bucket, "DeployRoleArn": "arn:aws:iam::123456789012:role/d", "AlertTopicArn": topic}
    cfn = FakeCloudFormation(outputs={config.base_stack: base})
    logs: list[str] = []

    infra.up(config, cfn, s3_client, FakeSageMaker(), repo=fake_repo, log=logs.append, delay=0)

    assert params(cfn.calls[2][1])["AlertTopicArn"] == topic
    assert f"aws sns subscribe --topic-arn {topic} --protocol email" in logs[-1]


def test_a_failed_first_create_is_deleted_and_created_again(config, tmp_path):
    cfn = FakeCloudFormation(stacks={"s": {"StackStatus": "ROLLBACK_COMPLETE"}})
    template = tmp_path / "t.yaml"
    template.write_text("Resources: {}\n")

    deploy_stack(cfn, "s", template, {}, log=lambda _: None, delay=0)

    assert [name for name, _ in cfn.call_names()] == ["delete_stack", "wait", "create_stack", "wait"]


def test_up_requires_the_github_repository(config, s3_client):
    with pytest.raises(DeployError, match="GitHub repository"):
        infra.up(
            InfraConfig(project=PROJECT, region="us-east-1"), FakeCloudFormation(), s3_client, FakeSageMaker(), delay=0
        )


def test_down_deletes_only_the_billed_environment_stack(config):
    cfn = FakeCloudFormation(
        stacks={
            config.base_stack: {"StackStatus": "CREATE_COMPLETE"},
            config.environment_stack: {"StackStatus": "CREATE_COMPLETE"},
        }
    )
    infra.down(config, cfn, FakeSageMaker(), log=lambda _: None, delay=0)
    assert cfn.call_names() == [("delete_stack", config.environment_stack), ("wait", config.environment_stack)]
    assert set(cfn.stacks) == {config.base_stack}


def test_destroy_empties_the_versioned_bucket_then_deletes_both_stacks(config, bucket, s3_client):
    for body in (b"one", b"two"):
        s3_client.put_object(Bucket=bucket, Key="dags/a.py", Body=body)
    s3_client.delete_object(Bucket=bucket, Key="dags/a.py")  # leaves a delete marker
    cfn = FakeCloudFormation(
        stacks={
            config.base_stack: {"StackStatus": "CREATE_COMPLETE"},
            config.environment_stack: {"StackStatus": "CREATE_COMPLETE"},
        },
        outputs={config.base_stack: {"BucketName": bucket}},
    )

    infra.destroy(config, cfn, s3_client, FakeSageMaker(), log=lambda _: None, delay=0)

    versions = s3_client.list_object_versions(Bucket=bucket)
    assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []
    assert [c for c in cfn.call_names() if c[0] == "delete_stack"] == [
        ("delete_stack", config.environment_stack),
        ("delete_stack", config.base_stack),
    ]


def test_parse_args_reads_the_environment():
    args = parse_args(
        ["up"], {"AWS_REGION": "eu-west-1", "MWAA_ENVIRONMENT": "wine", "GITHUB_REPOSITORY": "octo/mlops"}
    )
    assert (args.project, args.region, args.github_repository) == ("wine", "eu-west-1", "octo/mlops")
    assert args.environment_class == "mw1.small"


# ---- --emr-serverless: the optional EMR Serverless application for batch_predictions ----

APPLICATION_ID = "00fabc123def4567"


def emr_cfn(config: InfraConfig, bucket: str) -> FakeCloudFormation:
    return FakeCloudFormation(
        outputs={
            config.base_stack: {
                "BucketName": bucket,
                "DeployRoleArn": "arn:aws:iam::123456789012:role/d",
                "EmrApplicationId": APPLICATION_ID,
                "EmrJobRoleArn": "arn:aws:iam::123456789012:role/ml-pipeline-emr-job",
            }
        }
    )


def test_up_with_emr_serverless_passes_the_application_to_the_environment(fake_repo, bucket, s3_client):
    track(write(fake_repo / "spark_jobs" / "score_batch.py", "print('job')\n"))
    config = InfraConfig(
        project=PROJECT,
        region="us-east-1",
        github_repository="octo/mlops",
        emr_serverless=True,
        emr_max_vcpu=8,
        emr_python_env="spark_jobs/pyspark_env.tar.gz",
        scoring_source_uri="s3://warehouse/exports/wine/",
        model_artifacts_uri="s3://sagemaker-mlflow-artifacts/wine-server",
    )
    cfn = emr_cfn(config, bucket)
    logs: list[str] = []

    infra.up(config, cfn, s3_client, FakeSageMaker(), repo=fake_repo, log=logs.append, delay=0)

    base, env = params(cfn.calls[0][1]), params(cfn.calls[2][1])
    assert base == {
        "ProjectName": PROJECT,
        "GitHubRepository": "octo/mlops",
        "GitHubOidcProviderArn": "",
        "EnableEmrServerless": "true",
        "EmrReleaseLabel": "emr-7.12.0",
        "EmrArchitecture": "X86_64",
        "EmrMaximumVcpu": "8",
        "EmrMaximumMemoryGb": "64",
        "EmrIdleTimeoutMinutes": "15",
        "EmrImageUri": "",
        "ArtifactBucketName": "",
        "ArtifactPrefix": "ml-pipeline/artifacts",
        "ScoringSourceBucketName": "warehouse",
        "ScoringSourcePrefix": "exports/wine",
        "ModelArtifactBucketName": "sagemaker-mlflow-artifacts",
        "ModelArtifactPrefix": "wine-server",
    }
    assert env["EmrApplicationId"] == APPLICATION_ID
    assert env["EmrPythonEnvKey"] == "spark_jobs/pyspark_env.tar.gz"
    # The job script went up with the repository; it is not an environment setting.
    assert s3_client.head_object(Bucket=bucket, Key="spark_jobs/score_batch.py")["Metadata"]["sha256"]
    assert not any(v is None for v in env.values()) and "None" not in env
    text = "\n".join(logs)
    assert f"EMR Serverless application {APPLICATION_ID}" in text
    assert f"s3://{bucket}/spark_jobs/score_batch.py" in text
    assert f"s3://{bucket}/spark_jobs/pyspark_env.tar.gz does not exist yet" in text


def test_up_with_emr_says_nothing_about_an_environment_archive_that_is_there(fake_repo, bucket, s3_client):
    s3_client.put_object(Bucket=bucket, Key="spark_jobs/pyspark_env.tar.gz", Body=b"tar")
    config = InfraConfig(
        project=PROJECT,
        region="us-east-1",
        github_repository="octo/mlops",
        emr_serverless=True,
        emr_python_env=f"s3://{bucket}/spark_jobs/pyspark_env.tar.gz",  # a URI in the source bucket works too
    )
    logs: list[str] = []

    infra.up(config, emr_cfn(config, bucket), s3_client, FakeSageMaker(), repo=fake_repo, log=logs.append, delay=0)

    assert not any("does not exist yet" in line for line in logs)


def test_up_without_emr_leaves_the_application_out(config, fake_repo, bucket, s3_client):
    cfn = FakeCloudFormation(
        outputs={config.base_stack: {"BucketName": bucket, "DeployRoleArn": "arn:aws:iam::123456789012:role/d"}}
    )
    infra.up(config, cfn, s3_client, FakeSageMaker(), repo=fake_repo, log=lambda _: None, delay=0)
    assert "EnableEmrServerless" not in params(cfn.calls[0][1])  # template default: false
    env = params(cfn.calls[2][1])
    assert env["EmrApplicationId"] == "" and env["EmrPythonEnvKey"] == ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"emr_python_env": "spark_jobs/pyspark_env.tar.gz"}, "--emr-python-env only applies with --emr-serverless"),
        ({"emr_serverless": True, "scoring_source_uri": "s3://warehouse"}, "a key prefix is required"),
        ({"emr_serverless": True, "scoring_source_uri": "s3://warehouse/*"}, "a key prefix is required"),
        ({"emr_serverless": True, "model_artifacts_uri": "warehouse/models"}, "should be s3://BUCKET/PREFIX"),
        ({"emr_serverless": True, "emr_python_env": "dags/env.tar.gz"}, "must be a key under spark_jobs/"),
    ],
)
def test_inconsistent_emr_options_are_refused_before_any_stack_call(config, s3_client, changes, message):
    cfn = FakeCloudFormation()
    with pytest.raises(DeployError, match=message):
        infra.up(dataclasses.replace(config, **changes), cfn, s3_client, FakeSageMaker(), delay=0)
    assert cfn.calls == []


@pytest.mark.parametrize(
    "value",
    ["s3://another-bucket/spark_jobs/env.tar.gz", "dags/env.tar.gz", "pyspark_env.tar.gz", "spark_jobs/"],
)
def test_python_env_must_be_under_spark_jobs_of_the_source_bucket(value):
    with pytest.raises(DeployError, match="spark_jobs/"):
        python_env_key(value, "source-bucket")


def test_python_env_key_accepts_a_key_or_a_uri_in_the_source_bucket():
    assert python_env_key("", "b") == ""
    assert python_env_key("spark_jobs/e.tar.gz", "b") == "spark_jobs/e.tar.gz"
    assert python_env_key("s3://b/spark_jobs/e.tar.gz", "b") == "spark_jobs/e.tar.gz"


def test_parse_args_emr_flags():
    args = parse_args(["up", "--emr-serverless", "--emr-python-env"], {"AWS_REGION": "eu-west-1"})
    assert args.emr_serverless is True
    assert args.emr_python_env == DEFAULT_PYTHON_ENV_KEY == "spark_jobs/pyspark_env.tar.gz"
    assert parse_args(["up"], {"AWS_REGION": "eu-west-1", "MWAA_EMR_SERVERLESS": "true"}).emr_serverless
    off = parse_args(["up"], {"AWS_REGION": "eu-west-1"})
    assert off.emr_serverless is False and off.emr_python_env == ""
    # main() builds InfraConfig from the parsed arguments by field name.
    assert {f.name for f in dataclasses.fields(InfraConfig)} <= set(vars(off))


def test_emr_defaults_are_the_templates():
    base = yaml.load((infra.INFRA / "base.yaml").read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader
    defaults = {name: spec.get("Default") for name, spec in base["Parameters"].items()}
    config = InfraConfig(project=PROJECT, region="us-east-1")
    assert config.emr_release_label == defaults["EmrReleaseLabel"]
    assert config.emr_architecture == defaults["EmrArchitecture"]
    assert config.emr_max_vcpu == defaults["EmrMaximumVcpu"]
    assert config.emr_max_memory_gb == defaults["EmrMaximumMemoryGb"]
    assert config.emr_idle_timeout_minutes == defaults["EmrIdleTimeoutMinutes"]
    assert config.artifact_prefix == defaults["ArtifactPrefix"]
