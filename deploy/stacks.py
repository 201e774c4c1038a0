"""CloudFormation stacks: create or update in place, delete, and wait within a bound; emptying a versioned bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.exceptions

from deploy.aws import DeployError
from deploy.sync import Log

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
# Creating an MWAA environment takes 20-40 minutes, deleting one about as long.
WAITER_DELAY = 30
WAITER_MAX_ATTEMPTS = 180


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
        raise DeployError(
            f"stack {name} did not reach the expected state ({error}); see its events in the CloudFormation console"
        ) from error


def deploy_stack(
    cfn: Any,
    name: str,
    template: Path,
    parameters: dict[str, str],
    log: Log = print,
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


def delete_stack(cfn: Any, name: str, log: Log = print, delay: float = WAITER_DELAY) -> bool:
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
                raise DeployError(f"could not empty {bucket}: {response['Errors'][:3]}")
            deleted += len(batch)
    return deleted
