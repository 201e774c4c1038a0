"""What deploy_champion's tasks hand each other through XCom (the pinned version itself is ml_pipeline.contract's
PinnedModel)."""

from __future__ import annotations

from typing import Any, TypedDict

from ml_pipeline.contract import PinnedModel

# What plan_rollout may ask for, in this order; each is the task (an Amazon provider operator) of the same name.
ROLLOUT_STEPS = ("create_model", "create_endpoint_config", "create_endpoint", "update_endpoint")


class ModelPackage(PinnedModel):
    """package_model's output: the pinned version as the model.tar.gz SageMaker unpacks into /opt/ml/model."""

    model_data_uri: str  # s3://.../sagemaker/<model>/v<version>/model.tar.gz: one key per version
    uploaded: bool  # False when an earlier attempt or run had already put it there


class Rollout(TypedDict):
    """plan_rollout's output: the requests deploy_champion's SageMaker operators send, and which of them run."""

    endpoint_name: str
    name: str  # the version's SageMaker model and endpoint configuration: <endpoint>-<model>-v<version>-<digest>
    model_name: str
    model_version: str
    live_config: str  # the endpoint configuration the endpoint runs now; empty when there is no endpoint
    steps: list[str]  # some of ROLLOUT_STEPS; none when the version already runs there
    aws_conn_id: str
    model: dict[str, Any]  # CreateModel's request
    endpoint_config: dict[str, Any]  # CreateEndpointConfig's
    create_endpoint: dict[str, Any]  # CreateEndpoint's
    update_endpoint: dict[str, Any]  # UpdateEndpoint's: blue/green with automatic rollback


class Deployment(TypedDict):
    """confirm_rollout's output: the endpoint serves this version."""

    endpoint_name: str
    endpoint_config_name: str
    model_name: str
    model_version: str
