"""Create or delete this project's MWAA infrastructure with one command each (`make infra-up` / `make infra-down`).

MWAA cannot be paused and bills every hour, so the infrastructure is two CloudFormation stacks:
- `<project>-mwaa-base` (infra/base.yaml): the versioned source bucket, GitHub's OIDC provider and the deploy role.
  Costs next to nothing and is kept by `down`, so DAGs, object versions and the GitHub setup survive;
- `<project>-mwaa-environment` (infra/environment.yaml): the Airflow environment, its VPC/NAT and execution role.
  This is what costs money; `down` deletes it, `up` recreates it.

`up` creates/updates the base stack, publishes the repo exactly as `make deploy` does (MWAA needs requirements.txt and
plugins.zip object versions at creation), then creates/updates the environment stack with those versions. `destroy`
also empties and deletes the base stack.

With `emr_serverless` the base stack also holds the EMR Serverless Spark application and job runtime role that
batch_predictions (scoring_engine=spark) runs spark_jobs/score_batch.py with, and classification_pipeline
(segment_engine=spark) spark_jobs/train_segments.py; they bill only while a job runs, so
`down` keeps them. The environment stack then lets the execution role submit jobs to that application and writes its
id, the role and the job script's location into the ml_pipeline Variable.

With `sagemaker_serving` the base stack also holds the model server's ECR repository, the endpoint's role and the
rollback alarms, and the environment stack lets deploy_champion create and update the endpoint. That endpoint bills
every hour and belongs to no stack, so `down`, `destroy` and an `up` without serving delete it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.exceptions

from deploy.aws import DeployError, head_object
from deploy.bundle import SPARK_JOB_SCRIPT
from deploy.files import REPO_ROOT
from deploy.infra_config import InfraConfig, base_parameters, check_config, environment_parameters, python_env_key
from deploy.stacks import WAITER_DELAY, delete_stack, deploy_stack, empty_bucket, stack_outputs, stack_status
from deploy.sync import Log, publish

INFRA = REPO_ROOT / "infra"


def delete_endpoint(config: InfraConfig, cfn: Any, sagemaker: Any, log: Log) -> None:
    """Delete the endpoint deploy_champion made, if the base stack serves one: it bills every hour while it exists.
    Its models and endpoint configurations cost nothing and stay."""
    if stack_status(cfn, config.base_stack) is None:
        return
    endpoint = stack_outputs(cfn, config.base_stack).get("ServingEndpointName")
    if not endpoint:
        return
    try:
        sagemaker.delete_endpoint(EndpointName=endpoint)
    except botocore.exceptions.ClientError as error:
        if "Could not find endpoint" not in str(error):
            raise
        log(f"SageMaker endpoint {endpoint} does not exist")
        return
    log(f"deleted SageMaker endpoint {endpoint}: it no longer bills")


def up(
    config: InfraConfig,
    cfn: Any,
    s3: Any,
    sagemaker: Any,
    repo: Path = REPO_ROOT,
    log: Log = print,
    delay: float = WAITER_DELAY,
) -> dict[str, str]:
    check_config(config)
    if not config.sagemaker_serving:  # before its role and alarms go
        delete_endpoint(config, cfn, sagemaker, log)
    base = deploy_stack(cfn, config.base_stack, INFRA / "base.yaml", base_parameters(config), log, delay)
    bucket = base["BucketName"]
    emr_application_id = base.get("EmrApplicationId", "") if config.emr_serverless else ""
    if config.emr_serverless and not emr_application_id:
        raise DeployError(f"stack {config.base_stack} has no EmrApplicationId output after the update")
    endpoint = base.get("ServingEndpointName", "") if config.sagemaker_serving else ""
    if config.sagemaker_serving and not endpoint:
        raise DeployError(f"stack {config.base_stack} has no ServingEndpointName output after the update")
    # Checked before the upload: a wrong bucket in --emr-python-env should not leave a half-done `up`.
    env_key = python_env_key(config.emr_python_env, bucket) if emr_application_id else ""
    plan = publish(s3, bucket, repo, log)
    log(f"published {plan.totals()}")
    versions = plan.versions()
    environment = deploy_stack(
        cfn,
        config.environment_stack,
        INFRA / "environment.yaml",
        environment_parameters(config, bucket, versions, emr_application_id, endpoint, base.get("AlertTopicArn", "")),
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
            f"Spark job: s3://{bucket}/{SPARK_JOB_SCRIPT} (`make deploy` uploads it).",
        ]
        if env_key and head_object(s3, bucket, env_key) is None:
            lines.append(
                f"The Python environment s3://{bucket}/{env_key} does not exist yet: build it with venv-pack and "
                f"upload it (aws s3 cp pyspark_env.tar.gz s3://{bucket}/{env_key}) before scoring with Spark."
            )
    if endpoint:
        lines += [
            f"SageMaker serving: deploy_champion creates endpoint {endpoint} ({config.sagemaker_instance_count} x "
            f"{config.sagemaker_instance_type}) with the next champion; it bills every hour until `make infra-down`.",
            f"  MODEL_SERVER_REPOSITORY={outputs.get('ModelServerRepositoryUri', '?')} (repository variable: the "
            "deploy workflow then pushes docker/model-server/Dockerfile's image there)",
        ]
    if topic := outputs.get("AlertTopicArn"):
        lines.append(
            f"Failed tasks, drift and decay are published to {topic}; subscribe an e-mail to it: aws sns subscribe "
            f"--topic-arn {topic} --protocol email --notification-endpoint <you@example.com>, then confirm the e-mail."
        )
    log("\n".join(lines))
    return outputs


def down(config: InfraConfig, cfn: Any, sagemaker: Any, log: Log = print, delay: float = WAITER_DELAY) -> None:
    delete_endpoint(config, cfn, sagemaker, log)
    delete_stack(cfn, config.environment_stack, log, delay)
    log(
        f"MWAA environment {config.project} is deleted and no longer bills. The base stack {config.base_stack} "
        "(bucket, deploy role) is kept: `make infra-up` recreates the environment from it, `make infra-destroy` "
        "deletes it too."
    )


def destroy(
    config: InfraConfig, cfn: Any, s3: Any, sagemaker: Any, log: Log = print, delay: float = WAITER_DELAY
) -> None:
    delete_endpoint(config, cfn, sagemaker, log)
    delete_stack(cfn, config.environment_stack, log, delay)
    if stack_status(cfn, config.base_stack) is None:
        log(f"stack {config.base_stack} does not exist")
        return
    bucket = stack_outputs(cfn, config.base_stack).get("BucketName")
    if bucket:
        log(f"emptied s3://{bucket}: {empty_bucket(s3, bucket)} object version(s) deleted")
    delete_stack(cfn, config.base_stack, log, delay)
