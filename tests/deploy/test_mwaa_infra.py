"""`make infra-up/down/destroy`: stack orchestration against a recording CloudFormation fake, S3 on moto.

moto's CloudFormation ignores parts of these templates (bucket versioning, OIDC providers, MWAA), so the stacks are
faked here and the templates themselves are checked by cfn-lint, checkov and test_infra_templates.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.exceptions
import mwaa_infra
import pytest

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


def params(call: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in call["Parameters"]}


@pytest.fixture
def config() -> mwaa_infra.InfraConfig:
    return mwaa_infra.InfraConfig(project=PROJECT, region="us-east-1", github_repository="octo/mlops")


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

    outputs = mwaa_infra.up(config, cfn, s3_client, repo=fake_repo, log=logs.append, delay=0)

    assert cfn.call_names() == [
        ("create_stack", config.base_stack),
        ("wait", config.base_stack),
        ("create_stack", config.environment_stack),
        ("wait", config.environment_stack),
    ]
    base_call, env_call = cfn.calls[0][1], cfn.calls[2][1]
    assert params(base_call) == {"ProjectName": PROJECT, "GitHubRepository": "octo/mlops", "GitHubOidcProviderArn": ""}
    assert base_call["TemplateBody"] == (mwaa_infra.INFRA / "base.yaml").read_text()
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

    mwaa_infra.up(config, cfn, s3_client, repo=fake_repo, log=lambda _: None, delay=0)

    assert cfn.call_names() == [
        ("update_stack", config.base_stack),
        ("update_stack", config.environment_stack),
        ("wait", config.environment_stack),
    ]


def test_a_failed_first_create_is_deleted_and_created_again(config, tmp_path):
    cfn = FakeCloudFormation(stacks={"s": {"StackStatus": "ROLLBACK_COMPLETE"}})
    template = tmp_path / "t.yaml"
    template.write_text("Resources: {}\n")

    mwaa_infra.deploy_stack(cfn, "s", template, {}, log=lambda _: None, delay=0)

    assert [name for name, _ in cfn.call_names()] == ["delete_stack", "wait", "create_stack", "wait"]


def test_up_requires_the_github_repository(config, s3_client):
    with pytest.raises(mwaa_infra.deploy_mwaa.DeployError, match="GitHub repository"):
        mwaa_infra.up(
            mwaa_infra.InfraConfig(project=PROJECT, region="us-east-1"), FakeCloudFormation(), s3_client, delay=0
        )


def test_down_deletes_only_the_billed_environment_stack(config):
    cfn = FakeCloudFormation(
        stacks={
            config.base_stack: {"StackStatus": "CREATE_COMPLETE"},
            config.environment_stack: {"StackStatus": "CREATE_COMPLETE"},
        }
    )
    mwaa_infra.down(config, cfn, log=lambda _: None, delay=0)
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

    mwaa_infra.destroy(config, cfn, s3_client, log=lambda _: None, delay=0)

    versions = s3_client.list_object_versions(Bucket=bucket)
    assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []
    assert [c for c in cfn.call_names() if c[0] == "delete_stack"] == [
        ("delete_stack", config.environment_stack),
        ("delete_stack", config.base_stack),
    ]


def test_parse_args_reads_the_environment():
    args = mwaa_infra.parse_args(
        ["up"], {"AWS_REGION": "eu-west-1", "MWAA_ENVIRONMENT": "wine", "GITHUB_REPOSITORY": "octo/mlops"}
    )
    assert (args.project, args.region, args.github_repository) == ("wine", "eu-west-1", "octo/mlops")
    assert args.environment_class == "mw1.small"
