"""The settings deploy_champion reads to roll each champion out to a SageMaker real-time endpoint
(docs/serving-aws.md), checked where they are read, so that a typo fails every task at once, not a deployment later.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

# Lowercase (SageMaker's ARNs are), and short enough that `<endpoint>-<model>-v<version>-<digest>` names a model.
EndpointName = Annotated[str, Field(pattern=r"^$|^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")]
# An ECR repository (deploy_champion takes its newest image) or one image in it, by tag or digest.
ImageUri = Annotated[
    str,
    Field(
        pattern=r"^$|^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+"
        r"(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})?$"
    ),
]
RoleArn = Annotated[str, Field(pattern=r"^$|^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")]
InstanceType = Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
# Together or not at all: make infra-up --sagemaker-serving writes the three into the Airflow Variable.
TOGETHER = ("sagemaker_endpoint_name", "sagemaker_image_uri", "sagemaker_execution_role_arn")


def check_serving(config: Any) -> Any:
    """The endpoint, its image and its role come together, and SageMaker reads the model from S3 only."""
    given = [name for name in TOGETHER if getattr(config, name)]
    if given and len(given) < len(TOGETHER):
        missing = " and ".join(name for name in TOGETHER if name not in given)
        raise ValueError(f"{' and '.join(given)} set without {missing}; serving on SageMaker needs all three")
    if given and not config.artifact_root.startswith("s3://"):
        raise ValueError(
            "sagemaker_endpoint_name needs artifact_root on S3: SageMaker reads the model's model.tar.gz from there"
        )
    return config


class DeploymentSettings(BaseModel):
    sagemaker_endpoint_name: EndpointName = Field(
        "", description="The SageMaker real-time endpoint deploy_champion rolls each champion out to; empty: none"
    )
    sagemaker_image_uri: ImageUri = Field(
        "", description="The model server image in ECR: a repository (its newest image) or repository:tag"
    )
    sagemaker_execution_role_arn: RoleArn = Field("", description="The IAM role the endpoint runs as")
    sagemaker_instance_type: InstanceType = Field("ml.m5.large", description="The endpoint's instance type")
    sagemaker_instance_count: int = Field(1, ge=1, le=10, description="The endpoint's instances (billed each hour)")
    sagemaker_rollback_alarms: list[str] = Field(
        [], max_length=10, description="CloudWatch alarms that roll a deployment back while they are in alarm"
    )

    _serving = model_validator(mode="after")(check_serving)
