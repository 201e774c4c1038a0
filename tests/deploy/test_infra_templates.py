"""The CloudFormation templates: cfn-lint and checkov clean, and the security properties the deploy relies on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_fakes import REPO_ROOT, run_tool

INFRA = REPO_ROOT / "infra"
TEMPLATES = sorted(INFRA.glob("*.yaml"))


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !Sub, ...) read as their long form."""


def _intrinsic(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load(name: str) -> dict[str, Any]:
    return yaml.load((INFRA / name).read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_templates_exist():
    assert [t.name for t in TEMPLATES] == ["base.yaml", "environment.yaml"]


def test_cfn_lint_is_clean():
    result = run_tool("cfn-lint", *map(str, TEMPLATES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_is_clean_and_every_skip_is_justified():
    result = run_tool(
        "checkov", "--quiet", "--compact", "--skip-download", "--framework", "cloudformation", "-d", str(INFRA)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout
    for template in TEMPLATES:
        for logical_id, resource in load(template.name)["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (logical_id, skip)
                assert len(skip.get("comment", "")) > 40, f"{logical_id} skips {skip['id']} without a justification"


def test_bucket_is_versioned_private_encrypted_and_tls_only():
    resources = load("base.yaml")["Resources"]
    bucket = resources["SourceBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    (deny,) = resources["SourceBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_deploy_role_trusts_only_this_repositorys_main_branch():
    role = load("base.yaml")["Resources"]["DeployRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(trust["Condition"]) == {"StringEquals"}, "no StringLike: wildcards would admit other refs"
    assert trust["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": {"Fn::Sub": "repo:${GitHubRepository}:ref:refs/heads/main"},
    }
    provider = load("base.yaml")["Resources"]["GitHubOidcProvider"]["Properties"]
    assert provider["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["ClientIdList"] == ["sts.amazonaws.com"]


def test_deploy_role_writes_only_dags_and_root_files_and_updates_only_this_environment():
    role = load("base.yaml")["Resources"]["DeployRole"]["Properties"]
    writes, deletes, airflow = set(), set(), []
    for statement in statements(role):
        assert statement["Effect"] == "Allow"
        assert statement.get("Resource") != "*", statement
        actions = as_list(statement["Action"])
        assert not any(a.endswith("*") for a in actions), statement
        resources = [
            r["Fn::Sub"] if isinstance(r, dict) and "Fn::Sub" in r else r for r in as_list(statement["Resource"])
        ]
        if "s3:PutObject" in actions:
            writes.update(resources)
        if "s3:DeleteObject" in actions:
            deletes.update(resources)
        if any(a.startswith("airflow:") for a in actions):
            airflow.append((set(actions), resources))
    root = "${SourceBucket.Arn}/"
    assert writes == {root + "dags/*", root + "requirements.txt", root + "plugins.zip", root + "startup.sh"}
    assert deletes == {root + "dags/*"}
    assert airflow == [
        (
            {"airflow:GetEnvironment", "airflow:UpdateEnvironment"},
            ["arn:${AWS::Partition}:airflow:${AWS::Region}:${AWS::AccountId}:environment/${ProjectName}"],
        )
    ]


def test_environment_runs_airflow_3_3_1_with_logging_secrets_backend_and_versioned_sources():
    template = load("environment.yaml")
    assert template["Parameters"]["EnvironmentClass"]["Default"] == "mw1.small"
    env = template["Resources"]["Environment"]["Properties"]
    assert env["AirflowVersion"] == "3.3.1"
    assert env["DagS3Path"] == "dags"
    assert env["RequirementsS3ObjectVersion"]["Fn::If"][1] == {"Ref": "RequirementsS3ObjectVersion"}
    assert env["PluginsS3ObjectVersion"]["Fn::If"][1] == {"Ref": "PluginsS3ObjectVersion"}
    assert env["StartupScriptS3ObjectVersion"]["Fn::If"][1] == {"Ref": "StartupScriptS3ObjectVersion"}
    for kind in ("DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs"):
        assert env["LoggingConfiguration"][kind]["Enabled"] is True, kind
    options = env["AirflowConfigurationOptions"]
    assert options["secrets.backend"] == ("airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend")
    assert json.loads(options["secrets.backend_kwargs"]) == {
        "connections_prefix": "airflow/connections",
        "variables_prefix": "airflow/variables",
    }
    assert len(env["NetworkConfiguration"]["SubnetIds"]) == 2


def test_execution_role_is_least_privilege():
    role = load("environment.yaml")["Resources"]["ExecutionRole"]["Properties"]
    by_sid = {}
    for statement in statements(role):
        if "Fn::If" in statement:  # the optional SageMaker MLflow grant
            statement = statement["Fn::If"][1]
        by_sid[statement["Sid"]] = statement
        actions = as_list(statement["Action"])
        assert "*" not in actions and "s3:*" not in actions, statement
        if statement.get("Resource") == "*":
            # Only the actions AWS documents as account-wide for MWAA.
            assert set(actions) <= {
                "s3:GetAccountPublicAccessBlock",
                "logs:DescribeLogGroups",
                "cloudwatch:PutMetricData",
            }
    secrets = [r["Fn::Sub"] for r in by_sid["AirflowSecretsUnderProjectPrefixes"]["Resource"]]
    assert [s.split(":secret:")[1] for s in secrets] == ["airflow/connections/*", "airflow/variables/*"]
    assert set(by_sid["AirflowSecretsUnderProjectPrefixes"]["Action"]) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    assert by_sid["WriteOwnLogs"]["Resource"]["Fn::Sub"].endswith(":log-group:airflow-${ProjectName}-*")
    assert by_sid["CeleryQueue"]["Resource"]["Fn::Sub"].endswith(":airflow-celery-*")
    artifact = by_sid["ArtifactStoreReadWrite"]["Resource"]["Fn::Sub"][0]
    assert artifact.endswith("/${ArtifactPrefix}/*")
    assert by_sid["SageMakerMlflowTrackingServer"]["Resource"] == {"Ref": "MlflowTrackingServerArn"}
    assert by_sid["SageMakerMlflowTrackingServer"]["Action"] == "sagemaker-mlflow:*"
    # The source bucket is read-only for the environment: only the deploy role writes it.
    assert not any(a.startswith(("s3:Put", "s3:Delete")) for a in as_list(by_sid["ReadSourceBucket"]["Action"]))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_no_static_credentials_in_templates(template: Path):
    text = template.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert "AccessKey" not in text and "aws_secret_access_key" not in text.lower()


def test_environment_network_is_private_subnets_behind_nat_with_a_self_referencing_group():
    resources = load("environment.yaml")["Resources"]
    env = resources["Environment"]["Properties"]["NetworkConfiguration"]
    assert env["SubnetIds"] == [{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}]
    assert env["SecurityGroupIds"] == [{"Ref": "SecurityGroup"}]
    azs = [
        resources[s]["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in ("PrivateSubnet1", "PrivateSubnet2")
    ]
    assert azs == [0, 1], "MWAA needs two availability zones"
    assert all(
        r["Properties"].get("MapPublicIpOnLaunch") is False
        for r in resources.values()
        if r["Type"] == "AWS::EC2::Subnet"
    )
    assert resources["PrivateDefaultRoute"]["Properties"]["NatGatewayId"] == {"Ref": "NatGateway"}
    for association in ("PrivateSubnet1RouteTableAssociation", "PrivateSubnet2RouteTableAssociation"):
        assert resources[association]["Properties"]["RouteTableId"] == {"Ref": "PrivateRouteTable"}
    ingress = resources["SecurityGroupSelfIngress"]["Properties"]
    assert ingress["GroupId"] == ingress["SourceSecurityGroupId"] == {"Ref": "SecurityGroup"}
    assert not resources["SecurityGroup"]["Properties"].get("SecurityGroupIngress"), "nothing from outside"
