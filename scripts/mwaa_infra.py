"""Create or delete this project's MWAA infrastructure with one command each (`make infra-up` / `make infra-down`).

MWAA cannot be paused and bills every hour, so the infrastructure is two CloudFormation stacks:
- `<project>-mwaa-base` (infra/base.yaml): the versioned source bucket, GitHub's OIDC provider and the deploy role.
  Costs next to nothing and is kept by `down`, so DAGs, object versions and the GitHub setup survive;
- `<project>-mwaa-environment` (infra/environment.yaml): the Airflow environment, its VPC/NAT and execution role.
  This is what costs money; `down` deletes it, `up` recreates it.

`up` creates/updates the base stack, uploads the repo with the deploy tool (MWAA needs requirements.txt and plugins.zip
object versions at creation), then creates/updates the environment stack with those versions. `destroy` also empties
and deletes the base stack. boto3 only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import deploy_mwaa

REPO_ROOT = Path(__file__).resolve().parents[1]
INFRA = REPO_ROOT / "infra"
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
# Creating an MWAA environment takes 20-40 minutes, deleting one about as long.
WAITER_DELAY = 30
WAITER_MAX_ATTEMPTS = 180


@dataclass(frozen=True)
class InfraConfig:
    project: str
    region: str
    github_repository: str = ""
    oidc_provider_arn: str = ""
    environment_class: str = "mw1.small"
    min_workers: int = 1
    max_workers: int = 2
    webserver_access_mode: str = "PUBLIC_ONLY"
    artifact_bucket: str = ""
    artifact_prefix: str = "ml-pipeline/artifacts"
    mlflow_tracking_uri: str = ""
    mlflow_tracking_server_arn: str = ""

    @property
    def base_stack(self) -> str:
        return f"{self.project}-mwaa-base"

    @property
    def environment_stack(self) -> str:
        return f"{self.project}-mwaa-environment"


def stack_status(cfn: Any, name: str) -> str | None:
    """The stack's status, or None when it does not exist (CloudFormation reports that as a ValidationError)."""
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except botocore.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def stack_outputs(cfn: Any, name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _wait(cfn: Any, waiter: str, name: str, delay: float) -> None:
    try:
        cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": delay, "MaxAttempts": WAITER_MAX_ATTEMPTS})
    except botocore.exceptions.WaiterError as error:
        raise deploy_mwaa.DeployError(
            f"stack {name} did not reach the expected state ({error}); see its events in the CloudFormation console"
        ) from error


def deploy_stack(
    cfn: Any,
    name: str,
    template: Path,
    parameters: dict[str, str],
    log: Callable[[str], None] = print,
    delay: float = WAITER_DELAY,
) -> dict[str, str]:
    """Create the stack, or update it in place; returns its outputs. A create that failed is deleted and retried."""
    body = template.read_text()
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())]
    status = stack_status(cfn, name)
    if status == "ROLLBACK_COMPLETE":  # a failed first create leaves a stack that can only be deleted
        log(f"stack {name} is ROLLBACK_COMPLETE after a failed create: deleting it first")
        delete_stack(cfn, name, log, delay)
        status = None
    if status is None:
        log(f"creating stack {name} ...")
        cfn.create_stack(StackName=name, TemplateBody=body, Parameters=params, Capabilities=CAPABILITIES)
        _wait(cfn, "stack_create_complete", name, delay)
    else:
        log(f"updating stack {name} ({status}) ...")
        try:
            cfn.update_stack(StackName=name, TemplateBody=body, Parameters=params, Capabilities=CAPABILITIES)
        except botocore.exceptions.ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
            log(f"stack {name} is up to date")
        else:
            _wait(cfn, "stack_update_complete", name, delay)
    return stack_outputs(cfn, name)


def delete_stack(cfn: Any, name: str, log: Callable[[str], None] = print, delay: float = WAITER_DELAY) -> bool:
    """Delete the stack and wait; False when there was none."""
    if stack_status(cfn, name) is None:
        log(f"stack {name} does not exist")
        return False
    log(f"deleting stack {name} ...")
    cfn.delete_stack(StackName=name)
    _wait(cfn, "stack_delete_complete", name, delay)
    return True


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker: CloudFormation cannot delete a bucket that is not empty."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        batch = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if batch:
            response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if response.get("Errors"):
                raise deploy_mwaa.DeployError(f"could not empty {bucket}: {response['Errors'][:3]}")
            deleted += len(batch)
    return deleted


def upload_repo(s3: Any, bucket: str, repo: Path, log: Callable[[str], None] = print) -> dict[str, str]:
    """Sync the repo into the bucket with the deploy tool; returns the environment stack's *ObjectVersion parameters."""
    deploy_mwaa.check_bucket(s3, bucket)
    plan = deploy_mwaa.plan_deploy(s3, bucket, repo)
    summary = deploy_mwaa.Summary()
    deploy_mwaa.apply_plan(s3, bucket, plan, summary, log)
    log(f"uploaded {len(summary.uploaded)} file(s), {summary.bytes_sent} bytes; deleted {len(summary.deleted)}")
    return {state.artifact.version_field: state.version_id for state in plan.artifacts if state.version_id}


def environment_parameters(config: InfraConfig, bucket: str, versions: dict[str, str]) -> dict[str, str]:
    parameters = {
        "ProjectName": config.project,
        "SourceBucketName": bucket,
        "EnvironmentClass": config.environment_class,
        "MinWorkers": str(config.min_workers),
        "MaxWorkers": str(config.max_workers),
        "WebserverAccessMode": config.webserver_access_mode,
        "ArtifactBucketName": config.artifact_bucket,
        "ArtifactPrefix": config.artifact_prefix,
        "MlflowTrackingUri": config.mlflow_tracking_uri,
        "MlflowTrackingServerArn": config.mlflow_tracking_server_arn,
    }
    for field in ("RequirementsS3ObjectVersion", "PluginsS3ObjectVersion", "StartupScriptS3ObjectVersion"):
        parameters[field] = versions.get(field, "")
    return parameters


def up(
    config: InfraConfig,
    cfn: Any,
    s3: Any,
    repo: Path = REPO_ROOT,
    log: Callable[[str], None] = print,
    delay: float = WAITER_DELAY,
) -> dict[str, str]:
    if not config.github_repository:
        raise deploy_mwaa.DeployError(
            "the GitHub repository (owner/name) is required: --github-repository or GITHUB_REPOSITORY"
        )
    base = deploy_stack(
        cfn,
        config.base_stack,
        INFRA / "base.yaml",
        {
            "ProjectName": config.project,
            "GitHubRepository": config.github_repository,
            "GitHubOidcProviderArn": config.oidc_provider_arn,
        },
        log,
        delay,
    )
    bucket = base["BucketName"]
    versions = upload_repo(s3, bucket, repo, log)
    environment = deploy_stack(
        cfn,
        config.environment_stack,
        INFRA / "environment.yaml",
        environment_parameters(config, bucket, versions),
        log,
        delay,
    )
    outputs = {**base, **environment}
    log(
        "\n".join(
            [
                "",
                f"MWAA environment {config.project} is up. It bills every hour until `make infra-down`.",
                f"Airflow UI: {outputs.get('WebserverUrl', '?')}",
                "Set these GitHub repository variables (Settings > Secrets and variables > Actions > Variables):",
                f"  AWS_REGION={config.region}",
                f"  MWAA_BUCKET={bucket}",
                f"  MWAA_ENVIRONMENT={config.project}",
                f"  AWS_DEPLOY_ROLE_ARN={outputs['DeployRoleArn']}",
            ]
        )
    )
    return outputs


def down(config: InfraConfig, cfn: Any, log: Callable[[str], None] = print, delay: float = WAITER_DELAY) -> None:
    delete_stack(cfn, config.environment_stack, log, delay)
    log(
        f"MWAA environment {config.project} is deleted and no longer bills. The base stack {config.base_stack} "
        "(bucket, deploy role) is kept: `make infra-up` recreates the environment from it, `make infra-destroy` "
        "deletes it too."
    )


def destroy(
    config: InfraConfig, cfn: Any, s3: Any, log: Callable[[str], None] = print, delay: float = WAITER_DELAY
) -> None:
    delete_stack(cfn, config.environment_stack, log, delay)
    if stack_status(cfn, config.base_stack) is None:
        log(f"stack {config.base_stack} does not exist")
        return
    bucket = stack_outputs(cfn, config.base_stack).get("BucketName")
    if bucket:
        log(f"emptied s3://{bucket}: {empty_bucket(s3, bucket)} object version(s) deleted")
    delete_stack(cfn, config.base_stack, log, delay)


def parse_args(argv: list[str] | None, environ: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mwaa_infra.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "destroy"])
    parser.add_argument(
        "--project",
        default=environ.get("MWAA_ENVIRONMENT") or "ml-pipeline",
        help="environment and stack name prefix (env MWAA_ENVIRONMENT; default ml-pipeline)",
    )
    parser.add_argument(
        "--region",
        default=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
        help="AWS region (env AWS_REGION)",
    )
    parser.add_argument(
        "--github-repository",
        default=environ.get("GITHUB_REPOSITORY", ""),
        help="owner/name allowed to deploy from main (env GITHUB_REPOSITORY)",
    )
    parser.add_argument(
        "--oidc-provider-arn",
        default=environ.get("GITHUB_OIDC_PROVIDER_ARN", ""),
        help="the account's existing GitHub OIDC provider, if it has one",
    )
    parser.add_argument("--environment-class", default=environ.get("MWAA_ENVIRONMENT_CLASS", "mw1.small"))
    parser.add_argument("--min-workers", type=int, default=1)
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument("--webserver-access-mode", default="PUBLIC_ONLY", choices=["PUBLIC_ONLY", "PRIVATE_ONLY"])
    parser.add_argument("--artifact-bucket", default=environ.get("ML_PIPELINE_ARTIFACT_BUCKET", ""))
    parser.add_argument("--artifact-prefix", default="ml-pipeline/artifacts")
    parser.add_argument("--mlflow-tracking-uri", default=environ.get("MWAA_MLFLOW_TRACKING_URI", ""))
    parser.add_argument("--mlflow-tracking-server-arn", default=environ.get("MWAA_MLFLOW_TRACKING_SERVER_ARN", ""))
    args = parser.parse_args(argv)
    if not args.region:
        parser.error("missing configuration: --region or AWS_REGION")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, dict(os.environ))
    config = InfraConfig(**{field.name: getattr(args, field.name) for field in fields(InfraConfig)})
    session = boto3.session.Session(region_name=args.region)
    try:
        if session.get_credentials() is None:
            raise deploy_mwaa.DeployError(deploy_mwaa.no_credentials_message())
        cfn, s3 = session.client("cloudformation"), session.client("s3")
        if args.command == "up":
            up(config, cfn, s3)
        elif args.command == "down":
            down(config, cfn)
        else:
            destroy(config, cfn, s3)
    except (deploy_mwaa.DeployError, botocore.exceptions.ClientError) as error:
        print(f"infra-{args.command} failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
