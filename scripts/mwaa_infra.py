"""Create or delete this project's MWAA infrastructure with one command each (`make infra-up` / `make infra-down`).

MWAA cannot be paused and bills every hour, so the infrastructure is two CloudFormation stacks:
- `<project>-mwaa-base` (infra/base.yaml): the versioned source bucket, GitHub's OIDC provider and the deploy role.
  Costs next to nothing and is kept by `down`, so DAGs, object versions and the GitHub setup survive;
- `<project>-mwaa-environment` (infra/environment.yaml): the Airflow environment, its VPC/NAT and execution role.
  This is what costs money; `down` deletes it, `up` recreates it.

`up` creates/updates the base stack, uploads the repo with the deploy tool (MWAA needs requirements.txt and plugins.zip
object versions at creation), then creates/updates the environment stack with those versions. `destroy` also empties
and deletes the base stack. boto3 only.

`up --emr-serverless` also creates, in the base stack, the EMR Serverless Spark application and job runtime role that
batch_predictions (scoring_engine=spark) runs spark_jobs/score_batch.py with; they bill only while a job runs, so
`down` keeps them. The environment stack then lets the execution role submit jobs to that application and writes its
id, the role and the job script's location into the ml_pipeline Variable.
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
    # Optional EMR Serverless for batch_predictions (infra/base.yaml); the defaults are the template's.
    emr_serverless: bool = False
    emr_release_label: str = "emr-7.12.0"
    emr_architecture: str = "X86_64"
    emr_max_vcpu: int = 16
    emr_max_memory_gb: int = 64
    emr_idle_timeout_minutes: int = 15
    emr_image_uri: str = ""
    emr_python_env: str = ""  # key (or s3://<source bucket>/key) of a venv-pack archive under spark_jobs/
    scoring_source_uri: str = ""  # s3://bucket/prefix the jobs may read rows from; empty: the artifact store
    model_artifacts_uri: str = ""  # s3://bucket/prefix of MLflow's artifact store; empty: the artifact store

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
    return {
        state.artifact.version_field: state.version_id
        for state in plan.artifacts
        if state.version_id and state.artifact.version_field  # not the Spark job script: MWAA does not read it
    }


def split_s3_uri(uri: str, what: str) -> tuple[str, str]:
    """s3://bucket/prefix/ as (bucket, prefix); a prefix is required, the job role never reads a whole bucket."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    if not uri.startswith("s3://") or not bucket or not prefix or "*" in prefix:
        raise deploy_mwaa.DeployError(
            f"{what} = {uri!r} should be s3://BUCKET/PREFIX (a key prefix is required: the EMR job role is granted "
            "that prefix only, never a whole bucket)"
        )
    return bucket, prefix


DEFAULT_PYTHON_ENV_KEY = "spark_jobs/pyspark_env.tar.gz"


def python_env_key(value: str, bucket: str) -> str:
    """The venv-pack archive's key in the source bucket, from a key or an s3:// URI; the job role reads spark_jobs/."""
    if not value:
        return ""
    key = value
    if value.startswith("s3://"):
        if not value.startswith(f"s3://{bucket}/"):
            raise deploy_mwaa.DeployError(
                f"--emr-python-env {value!r} must be in the source bucket s3://{bucket}/spark_jobs/ "
                "(the only place the EMR job role reads the environment from)"
            )
        key = value.removeprefix(f"s3://{bucket}/")
    if not key.startswith("spark_jobs/") or key == "spark_jobs/":
        raise deploy_mwaa.DeployError(f"--emr-python-env {value!r} must be a key under spark_jobs/ of s3://{bucket}/")
    return key


def check_config(config: InfraConfig) -> None:
    """Refuse inconsistent options before any stack is touched."""
    if not config.github_repository:
        raise deploy_mwaa.DeployError(
            "the GitHub repository (owner/name) is required: --github-repository or GITHUB_REPOSITORY"
        )
    emr_only = {
        "--emr-python-env": config.emr_python_env,
        "--emr-image-uri": config.emr_image_uri,
        "--scoring-source-uri": config.scoring_source_uri,
        "--model-artifacts-uri": config.model_artifacts_uri,
    }
    given = [flag for flag, value in emr_only.items() if value]
    if given and not config.emr_serverless:
        raise deploy_mwaa.DeployError(f"{', '.join(given)} only applies with --emr-serverless")
    if config.emr_python_env and not config.emr_python_env.startswith("s3://"):
        python_env_key(config.emr_python_env, "BUCKET")  # a URI's bucket is checked once the base stack names it
    if config.scoring_source_uri:
        split_s3_uri(config.scoring_source_uri, "--scoring-source-uri")
    if config.model_artifacts_uri:
        split_s3_uri(config.model_artifacts_uri, "--model-artifacts-uri")


def base_parameters(config: InfraConfig) -> dict[str, str]:
    """The base stack's parameters; without --emr-serverless the EMR ones are left out (template default: none)."""
    parameters = {
        "ProjectName": config.project,
        "GitHubRepository": config.github_repository,
        "GitHubOidcProviderArn": config.oidc_provider_arn,
    }
    if not config.emr_serverless:
        return parameters
    scoring_bucket, scoring_prefix = (
        split_s3_uri(config.scoring_source_uri, "--scoring-source-uri") if config.scoring_source_uri else ("", "")
    )
    model_bucket, model_prefix = (
        split_s3_uri(config.model_artifacts_uri, "--model-artifacts-uri") if config.model_artifacts_uri else ("", "")
    )
    return {
        **parameters,
        "EnableEmrServerless": "true",
        "EmrReleaseLabel": config.emr_release_label,
        "EmrArchitecture": config.emr_architecture,
        "EmrMaximumVcpu": str(config.emr_max_vcpu),
        "EmrMaximumMemoryGb": str(config.emr_max_memory_gb),
        "EmrIdleTimeoutMinutes": str(config.emr_idle_timeout_minutes),
        "EmrImageUri": config.emr_image_uri,
        # The job role's write and read scopes follow the environment's artifact store.
        "ArtifactBucketName": config.artifact_bucket,
        "ArtifactPrefix": config.artifact_prefix,
        "ScoringSourceBucketName": scoring_bucket,
        "ScoringSourcePrefix": scoring_prefix,
        "ModelArtifactBucketName": model_bucket,
        "ModelArtifactPrefix": model_prefix,
    }


def environment_parameters(
    config: InfraConfig, bucket: str, versions: dict[str, str], emr_application_id: str = ""
) -> dict[str, str]:
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
        "EmrApplicationId": emr_application_id,
        "EmrPythonEnvKey": python_env_key(config.emr_python_env, bucket) if emr_application_id else "",
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
    check_config(config)
    base = deploy_stack(cfn, config.base_stack, INFRA / "base.yaml", base_parameters(config), log, delay)
    bucket = base["BucketName"]
    emr_application_id = base.get("EmrApplicationId", "") if config.emr_serverless else ""
    if config.emr_serverless and not emr_application_id:
        raise deploy_mwaa.DeployError(f"stack {config.base_stack} has no EmrApplicationId output after the update")
    # Checked before the upload: a wrong bucket in --emr-python-env should not leave a half-done `up`.
    env_key = python_env_key(config.emr_python_env, bucket) if emr_application_id else ""
    versions = upload_repo(s3, bucket, repo, log)
    environment = deploy_stack(
        cfn,
        config.environment_stack,
        INFRA / "environment.yaml",
        environment_parameters(config, bucket, versions, emr_application_id),
        log,
        delay,
    )
    outputs = {**base, **environment}
    lines = [
        "",
        f"MWAA environment {config.project} is up. It bills every hour until `make infra-down`.",
        f"Airflow UI: {outputs.get('WebserverUrl', '?')}",
        "Set these GitHub repository variables (Settings > Secrets and variables > Actions > Variables):",
        f"  AWS_REGION={config.region}",
        f"  MWAA_BUCKET={bucket}",
        f"  MWAA_ENVIRONMENT={config.project}",
        f"  AWS_DEPLOY_ROLE_ARN={outputs['DeployRoleArn']}",
    ]
    if emr_application_id:
        lines += [
            f"EMR Serverless application {emr_application_id} (bills only while a job runs; stops after "
            f"{config.emr_idle_timeout_minutes} idle minutes), job role {outputs.get('EmrJobRoleArn', '?')}.",
            f"Spark job: s3://{bucket}/{deploy_mwaa.SPARK_JOB_SCRIPT} (`make deploy` uploads it).",
        ]
        if env_key and deploy_mwaa.head(s3, bucket, env_key) is None:
            lines.append(
                f"The Python environment s3://{bucket}/{env_key} does not exist yet: build it with venv-pack and "
                f"upload it (aws s3 cp pyspark_env.tar.gz s3://{bucket}/{env_key}) before scoring with Spark."
            )
    log("\n".join(lines))
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
    emr = parser.add_argument_group(
        "EMR Serverless for batch_predictions (scoring_engine=spark); bills only while a job runs"
    )
    emr.add_argument(
        "--emr-serverless",
        action="store_true",
        default=environ.get("MWAA_EMR_SERVERLESS", "").lower() in {"1", "true", "yes"},
        help="create the Spark application and its job role (env MWAA_EMR_SERVERLESS=true); repeat it on every `up`",
    )
    emr.add_argument("--emr-release-label", default=InfraConfig.emr_release_label, help="an emr-7.x release")
    emr.add_argument("--emr-architecture", default=InfraConfig.emr_architecture, choices=["X86_64", "ARM64"])
    emr.add_argument("--emr-max-vcpu", type=int, default=InfraConfig.emr_max_vcpu, help="cap on all workers' vCPUs")
    emr.add_argument(
        "--emr-max-memory-gb", type=int, default=InfraConfig.emr_max_memory_gb, help="cap on all workers' memory"
    )
    emr.add_argument(
        "--emr-idle-timeout-minutes",
        type=int,
        default=InfraConfig.emr_idle_timeout_minutes,
        help="the application stops after this many idle minutes",
    )
    emr.add_argument("--emr-image-uri", default="", help="a custom image in ECR with the job's Python packages")
    emr.add_argument(
        "--emr-python-env",
        nargs="?",
        const=DEFAULT_PYTHON_ENV_KEY,
        default="",
        help=f"key of the venv-pack archive in the source bucket (alone: {DEFAULT_PYTHON_ENV_KEY})",
    )
    emr.add_argument("--scoring-source-uri", default="", help="s3://BUCKET/PREFIX the jobs may read rows from")
    emr.add_argument("--model-artifacts-uri", default="", help="s3://BUCKET/PREFIX of MLflow's artifact store")
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
