"""The deploy package's command line: `python -m deploy push|up|down|destroy` (make deploy, make infra-*).

One parser for all commands, so region, credentials and errors are handled in one place; configuration comes from
flags or the environment variables the GitHub workflow sets.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import botocore.exceptions

from deploy import infra
from deploy.aws import NO_CREDENTIALS, Clients, DeployError, add_region_argument
from deploy.files import REPO_ROOT
from deploy.infra_config import DEFAULT_PYTHON_ENV_KEY, InfraConfig
from deploy.push import push


def _add_push_arguments(push_parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    push_parser.add_argument("--bucket", default=environ.get("MWAA_BUCKET"), help="source bucket (env MWAA_BUCKET)")
    push_parser.add_argument(
        "--environment", default=environ.get("MWAA_ENVIRONMENT"), help="MWAA environment name (env MWAA_ENVIRONMENT)"
    )
    push_parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="repository root (default: this one)")
    push_parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    push_parser.add_argument("--wait", action="store_true", help="wait until the environment is AVAILABLE again")
    push_parser.add_argument("--timeout", type=float, default=3600, help="seconds --wait waits at most (default 3600)")


def _add_infra_arguments(infra: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    infra.add_argument(
        "--project",
        default=environ.get("MWAA_ENVIRONMENT") or "ml-pipeline",
        help="environment and stack name prefix (env MWAA_ENVIRONMENT; default ml-pipeline)",
    )
    infra.add_argument(
        "--github-repository",
        default=environ.get("GITHUB_REPOSITORY", ""),
        help="owner/name allowed to deploy from main (env GITHUB_REPOSITORY)",
    )
    infra.add_argument(
        "--oidc-provider-arn",
        default=environ.get("GITHUB_OIDC_PROVIDER_ARN", ""),
        help="the account's existing GitHub OIDC provider, if it has one",
    )
    infra.add_argument("--environment-class", default=environ.get("MWAA_ENVIRONMENT_CLASS", "mw1.small"))
    infra.add_argument("--min-workers", type=int, default=1)
    infra.add_argument("--max-workers", type=int, default=2)
    infra.add_argument("--webserver-access-mode", default="PUBLIC_ONLY", choices=["PUBLIC_ONLY", "PRIVATE_ONLY"])
    infra.add_argument("--artifact-bucket", default=environ.get("ML_PIPELINE_ARTIFACT_BUCKET", ""))
    infra.add_argument("--artifact-prefix", default="ml-pipeline/artifacts")
    infra.add_argument("--mlflow-tracking-uri", default=environ.get("MWAA_MLFLOW_TRACKING_URI", ""))
    infra.add_argument("--mlflow-tracking-server-arn", default=environ.get("MWAA_MLFLOW_TRACKING_SERVER_ARN", ""))
    emr = infra.add_argument_group(
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
    serving = infra.add_argument_group(
        "SageMaker serving for deploy_champion; the endpoint it creates bills every hour until infra-down deletes it"
    )
    serving.add_argument(
        "--sagemaker-serving",
        action="store_true",
        default=environ.get("MWAA_SAGEMAKER_SERVING", "").lower() in {"1", "true", "yes"},
        help="create the image repository, endpoint role and alarms (env MWAA_SAGEMAKER_SERVING=true); repeat it on "
        "every `up`: an `up` without it deletes the endpoint and them",
    )
    serving.add_argument("--sagemaker-instance-type", default=InfraConfig.sagemaker_instance_type)
    serving.add_argument("--sagemaker-instance-count", type=int, default=InfraConfig.sagemaker_instance_count)


def parse_args(argv: list[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    helps = {
        "push": "sync dags/, plugins.zip, requirements.txt to the bucket and update the environment (make deploy)",
        "up": "create/update the bucket, OIDC deploy role and MWAA environment (make infra-up; BILLS HOURLY)",
        "down": "delete the MWAA environment, keep the bucket and roles (make infra-down)",
        "destroy": "delete the environment, then empty and delete the bucket and roles (make infra-destroy)",
    }
    for name, text in helps.items():
        command = commands.add_parser(name, help=text, description=text)
        add_region_argument(command, environ)
        (_add_push_arguments if name == "push" else _add_infra_arguments)(command, environ)
    args = parser.parse_args(argv)
    required = [("--region or AWS_REGION", args.region)]
    if args.command == "push":
        required += [("--bucket or MWAA_BUCKET", args.bucket), ("--environment or MWAA_ENVIRONMENT", args.environment)]
    missing = [name for name, value in required if not value]
    if missing:
        parser.error("missing configuration: " + ", ".join(missing))
    if args.command == "push":
        args.bucket = args.bucket.removeprefix("s3://").rstrip("/")
    return args


def run(args: argparse.Namespace, clients: Any) -> None:
    if args.command == "push":
        summary = push(
            repo=args.repo,
            bucket=args.bucket,
            environment=args.environment,
            s3=clients.s3,
            mwaa=clients.mwaa,
            dry_run=args.dry_run,
            wait=args.wait,
            timeout=args.timeout,
        )
        print(summary.render())
        return
    config = InfraConfig(**{field.name: getattr(args, field.name) for field in fields(InfraConfig)})
    if args.command == "up":
        infra.up(config, clients.cloudformation, clients.s3, clients.sagemaker)
    elif args.command == "down":
        infra.down(config, clients.cloudformation, clients.sagemaker)
    else:
        infra.destroy(config, clients.cloudformation, clients.s3, clients.sagemaker)


def main(argv: list[str] | None = None, clients: Callable[[str], Any] = Clients) -> int:
    args = parse_args(argv, os.environ)
    failure = "deploy failed" if args.command == "push" else f"infra-{args.command} failed"
    try:
        run(args, clients(args.region))
    except botocore.exceptions.NoCredentialsError:
        print(f"{failure}: {NO_CREDENTIALS}", file=sys.stderr)
        return 1
    except (DeployError, botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        print(f"{failure}: {error}", file=sys.stderr)  # e.g. an endpoint that cannot be reached, after boto's retries
        return 1
    return 0
