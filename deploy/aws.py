"""Region, credentials and AWS error handling shared by every deploy and infra command."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import boto3
import botocore.exceptions

NOT_FOUND = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
ACCESS_DENIED = {"403", "AccessDenied", "Forbidden"}


class DeployError(RuntimeError):
    """A problem the user must fix (configuration, bucket, credentials, a failed update); printed without traceback."""


NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY locally; "
    "in GitHub Actions the deploy job gets them through OIDC (aws-actions/configure-aws-credentials)"
)


def add_region_argument(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    parser.add_argument(
        "--region",
        default=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
        help="AWS region (env AWS_REGION or AWS_DEFAULT_REGION)",
    )


class Clients:
    """boto3 clients from the standard credential chain (profile, environment, OIDC web identity), made on first use."""

    def __init__(self, region: str) -> None:
        self.session = boto3.session.Session(region_name=region)
        if self.session.get_credentials() is None:
            raise DeployError(NO_CREDENTIALS)

    @cached_property
    def s3(self) -> Any:
        return self.session.client("s3")

    @cached_property
    def mwaa(self) -> Any:
        return self.session.client("mwaa")

    @cached_property
    def cloudformation(self) -> Any:
        return self.session.client("cloudformation")

    @cached_property
    def sagemaker(self) -> Any:
        return self.session.client("sagemaker")


def error_code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def head_object(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The object's metadata, or None when there is no such key."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as error:
        if error_code(error) in NOT_FOUND:
            return None
        raise
