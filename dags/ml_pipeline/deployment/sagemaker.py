"""The SageMaker side of deploy_champion: the names a version's deployment has, what the endpoint runs now and so
what to do (nothing, create or update it), the requests the Amazon provider's operators send, and whether the
endpoint serves the version once they are done. The clients are passed in (boto3's, or stubbed in the tests).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from botocore.exceptions import ClientError

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.deployment.contract import Deployment, ModelPackage, Rollout
from ml_pipeline.errors import ConfigError, PipelineError

log = logging.getLogger(__name__)
NOT_CONFIGURED = (
    "Serving on SageMaker is not configured (sagemaker_endpoint_name is empty), so deploy_champion deploys nothing; "
    'turn it on with make infra-up INFRA_ARGS="... --sagemaker-serving" (docs/serving-aws.md, "Turn it on")'
)
VARIANT = "AllTraffic"  # one variant; a blue/green update needs the same name in the old and new configurations
MODEL_DIR = "/opt/ml/model"  # where SageMaker unpacks ModelDataUrl: the model server's pinned directory
BAKE_SECONDS = 600  # all traffic on the new fleet while the alarms are watched, before the old fleet goes
DEPLOYMENT_TIMEOUT_SECONDS = 3600  # SageMaker rolls back a blue/green update that has not finished by then
BUSY = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
NAME_LENGTH = 63  # SageMaker's longest model or endpoint configuration name


class EndpointBusyError(PipelineError):
    """The endpoint is being created, updated or deleted by something else: worth a retry."""

    label = "Endpoint busy"
    transient = True


class DeploymentError(PipelineError):
    """The endpoint cannot take the version, or did not: SageMaker rolled it back."""

    label = "Deployment failed"


def serving_endpoint(config: PipelineConfig) -> str:
    """The endpoint to deploy to; empty, saying how to turn it on, when serving on SageMaker is not configured."""
    if not config.sagemaker_endpoint_name:
        log.info(NOT_CONFIGURED)
    return config.sagemaker_endpoint_name


def resolve_image(ecr: Any, image_uri: str) -> str:
    """The image by digest (the tag's, else the newest pushed): every instance pulls the same bytes, whatever is
    pushed later, and a new image makes a new deployment."""
    if "@sha256:" in image_uri:
        return image_uri
    host, _, path = image_uri.partition("/")
    repository, _, tag = path.partition(":")
    request: dict[str, Any] = {"registryId": host.split(".")[0], "repositoryName": repository}
    if tag:
        request["imageIds"] = [{"imageTag": tag}]
    try:
        pages = ecr.get_paginator("describe_images").paginate(**request)
        images = [image for page in pages for image in page["imageDetails"]]
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code not in ("RepositoryNotFoundException", "ImageNotFoundException"):
            raise
        images = []
    if not images:
        raise ConfigError(
            f"sagemaker_image_uri {image_uri} has no image to deploy; push docker/model-server/Dockerfile's image "
            'there (the deploy workflow does: docs/serving-aws.md, "Turn it on")'
        )
    newest = max(images, key=lambda image: image["imagePushedAt"])
    return f"{host}/{repository}@{newest['imageDigest']}"


def deployment_name(endpoint: str, model_name: str, version: str, requests: dict[str, Any]) -> str:
    """`<endpoint>-<model>-v<version>-<digest>`: the same version with the same image, role and instances always
    gets the same name (a retry reuses what is there); anything else gets a new one."""
    digest = hashlib.sha256(json.dumps(requests, sort_keys=True).encode()).hexdigest()[:8]
    suffix = f"-v{version}-{digest}"
    model = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")
    room = NAME_LENGTH - len(endpoint) - 1 - len(suffix)
    return f"{endpoint}-{model[:room].rstrip('-')}{suffix}"


def _described(describe: Any, **name: str) -> dict[str, Any] | None:
    """What SageMaker says about the named resource; None when it does not exist."""
    try:
        return describe(**name)
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if error.response.get("Error", {}).get("Code") == "ValidationException" and "Could not find" in message:
            return None
        raise


def deployment_config(alarms: list[str]) -> dict[str, Any]:
    """Blue/green, all traffic at once (a canary needs two instances or more), then a baking period on the alarms."""
    policy = {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": BAKE_SECONDS},
        "TerminationWaitInSeconds": 0,
        "MaximumExecutionTimeoutInSeconds": DEPLOYMENT_TIMEOUT_SECONDS,
    }
    config: dict[str, Any] = {"BlueGreenUpdatePolicy": policy}
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": alarm} for alarm in alarms]}
    return config


def _live_config(sagemaker: Any, endpoint: str) -> str:
    """The endpoint configuration the endpoint runs; empty when there is no endpoint yet."""
    live = _described(sagemaker.describe_endpoint, EndpointName=endpoint)
    if live is None:
        return ""
    status = live["EndpointStatus"]
    if status in BUSY:
        raise EndpointBusyError(f"endpoint {endpoint} is {status}; deploy_champion tries again once it settles")
    if status != "InService":
        raise DeploymentError(
            f"endpoint {endpoint} is {status} ({live.get('FailureReason', 'no reason given')}) and cannot be "
            f"updated: delete it (aws sagemaker delete-endpoint --endpoint-name {endpoint}) and rerun"
        )
    return live["EndpointConfigName"]


def _steps(sagemaker: Any, name: str, *, live: bool) -> list[str]:
    """What deploying `name` still takes: a model and a configuration an earlier attempt made are reused."""
    steps = [] if _described(sagemaker.describe_model, ModelName=name) else ["create_model"]
    if not _described(sagemaker.describe_endpoint_config, EndpointConfigName=name):
        steps.append("create_endpoint_config")
    return [*steps, "update_endpoint" if live else "create_endpoint"]


def plan_rollout(config: PipelineConfig, package: ModelPackage, sagemaker: Any, ecr: Any) -> Rollout:
    """What deploying the packaged version takes: only what does not exist yet, nothing when it already runs."""
    endpoint = config.sagemaker_endpoint_name
    container = {
        "Image": resolve_image(ecr, config.sagemaker_image_uri),
        "ModelDataUrl": package["model_data_uri"],
        "Environment": {
            "MODEL_SERVER_MODEL_URI": MODEL_DIR,
            "MODEL_SERVER_MODEL_NAME": package["model_name"],
            "MODEL_SERVER_MODEL_VERSION": package["model_version"],
        },
    }
    variant = {"VariantName": VARIANT, "InstanceType": config.sagemaker_instance_type,
               "InitialInstanceCount": config.sagemaker_instance_count}  # fmt: skip
    model = {"PrimaryContainer": container, "ExecutionRoleArn": config.sagemaker_execution_role_arn}
    name = deployment_name(endpoint, package["model_name"], package["model_version"], model | variant)
    live_config = _live_config(sagemaker, endpoint)
    steps = [] if live_config == name else _steps(sagemaker, name, live=bool(live_config))
    if not steps:
        log.info("%s version %s already runs on endpoint %s (%s): nothing to deploy",
                 package["model_name"], package["model_version"], endpoint, name)  # fmt: skip
    target = {"EndpointName": endpoint, "EndpointConfigName": name}
    return Rollout(
        endpoint_name=endpoint,
        name=name,
        model_name=package["model_name"],
        model_version=package["model_version"],
        live_config=live_config,
        steps=steps,
        aws_conn_id=config.aws_conn_id,
        model={"ModelName": name, **model},
        endpoint_config={"EndpointConfigName": name, "ProductionVariants": [variant | {"ModelName": name}]},
        create_endpoint=target,
        update_endpoint=target | {"DeploymentConfig": deployment_config(config.sagemaker_rollback_alarms)},
    )


def confirm_rollout(rollout: Rollout, sagemaker: Any) -> Deployment:
    """The endpoint serves the version, or why not: an update SageMaker rolled back still ends InService."""
    endpoint = sagemaker.describe_endpoint(EndpointName=rollout["endpoint_name"])
    status, running = endpoint["EndpointStatus"], endpoint["EndpointConfigName"]
    if status != "InService" or running != rollout["name"]:
        reason = endpoint.get("FailureReason") or "no reason given; see the endpoint's events and its alarms"
        raise DeploymentError(
            f"endpoint {rollout['endpoint_name']} does not serve {rollout['model_name']} version "
            f"{rollout['model_version']}: it is {status} with {running} ({reason}); SageMaker rolled the update "
            "back, so the previous version still serves"
        )
    log.info("Endpoint %s serves %s version %s (%s)", rollout["endpoint_name"], rollout["model_name"],
             rollout["model_version"], running)  # fmt: skip
    return Deployment(endpoint_name=rollout["endpoint_name"], endpoint_config_name=running,
                      model_name=rollout["model_name"], model_version=rollout["model_version"])  # fmt: skip
