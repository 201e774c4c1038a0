"""The infrastructure's settings (`make infra-up` options), their checks, and the two stacks' parameters."""

from __future__ import annotations

from dataclasses import dataclass

from deploy.aws import DeployError


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
    # Optional SageMaker serving for deploy_champion (infra/base.yaml); the instances bill hourly once it deploys.
    sagemaker_serving: bool = False
    sagemaker_instance_type: str = "ml.m5.large"
    sagemaker_instance_count: int = 1

    @property
    def base_stack(self) -> str:
        return f"{self.project}-mwaa-base"

    @property
    def environment_stack(self) -> str:
        return f"{self.project}-mwaa-environment"


def split_s3_uri(uri: str, what: str) -> tuple[str, str]:
    """s3://bucket/prefix/ as (bucket, prefix); a prefix is required, the job role never reads a whole bucket."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    if not uri.startswith("s3://") or not bucket or not prefix or "*" in prefix:
        raise DeployError(
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
            raise DeployError(
                f"--emr-python-env {value!r} must be in the source bucket s3://{bucket}/spark_jobs/ "
                "(the only place the EMR job role reads the environment from)"
            )
        key = value.removeprefix(f"s3://{bucket}/")
    if not key.startswith("spark_jobs/") or key == "spark_jobs/":
        raise DeployError(f"--emr-python-env {value!r} must be a key under spark_jobs/ of s3://{bucket}/")
    return key


def check_config(config: InfraConfig) -> None:
    """Refuse inconsistent options before any stack is touched."""
    if not config.github_repository:
        raise DeployError("the GitHub repository (owner/name) is required: --github-repository or GITHUB_REPOSITORY")
    emr_only = {
        "--emr-python-env": config.emr_python_env,
        "--emr-image-uri": config.emr_image_uri,
        "--scoring-source-uri": config.scoring_source_uri,
        "--model-artifacts-uri": config.model_artifacts_uri,
    }
    given = [flag for flag, value in emr_only.items() if value]
    if given and not config.emr_serverless:
        raise DeployError(f"{', '.join(given)} only applies with --emr-serverless")
    serving_only = {
        "--sagemaker-instance-type": config.sagemaker_instance_type != InfraConfig.sagemaker_instance_type,
        "--sagemaker-instance-count": config.sagemaker_instance_count != InfraConfig.sagemaker_instance_count,
    }
    if (given := [flag for flag, changed in serving_only.items() if changed]) and not config.sagemaker_serving:
        raise DeployError(f"{', '.join(given)} only applies with --sagemaker-serving")
    if config.emr_python_env and not config.emr_python_env.startswith("s3://"):
        python_env_key(config.emr_python_env, "BUCKET")  # a URI's bucket is checked once the base stack names it
    if config.scoring_source_uri:
        split_s3_uri(config.scoring_source_uri, "--scoring-source-uri")
    if config.model_artifacts_uri:
        split_s3_uri(config.model_artifacts_uri, "--model-artifacts-uri")


def base_parameters(config: InfraConfig) -> dict[str, str]:
    """The base stack's parameters; without --emr-serverless or --sagemaker-serving theirs are left out (template
    defaults: none)."""
    parameters = {
        "ProjectName": config.project,
        "GitHubRepository": config.github_repository,
        "GitHubOidcProviderArn": config.oidc_provider_arn,
    }
    if config.emr_serverless or config.sagemaker_serving:
        # The EMR job role's and the endpoint role's scopes follow the environment's artifact store.
        parameters |= {"ArtifactBucketName": config.artifact_bucket, "ArtifactPrefix": config.artifact_prefix}
    if config.sagemaker_serving:
        parameters["EnableSageMakerServing"] = "true"
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
        "ScoringSourceBucketName": scoring_bucket,
        "ScoringSourcePrefix": scoring_prefix,
        "ModelArtifactBucketName": model_bucket,
        "ModelArtifactPrefix": model_prefix,
    }


def environment_parameters(
    config: InfraConfig,
    bucket: str,
    versions: dict[str, str],
    emr_application_id: str = "",
    endpoint: str = "",
    alert_topic: str = "",
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
        "SageMakerEndpointName": endpoint,
        "SageMakerInstanceType": config.sagemaker_instance_type,
        "SageMakerInstanceCount": str(config.sagemaker_instance_count),
        "AlertTopicArn": alert_topic,
    }
    for field in ("RequirementsS3ObjectVersion", "PluginsS3ObjectVersion", "StartupScriptS3ObjectVersion"):
        parameters[field] = versions.get(field, "")
    return parameters
