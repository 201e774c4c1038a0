"""`make deploy` (deploy.push and its command line) against moto S3 (server mode, versioned bucket), MWAA stubbed."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber
from deploy_fakes import (
    ENVIRONMENT,
    EXPECTED_DAG_KEYS,
    PACKAGE_ZIP,
    SPARK_JOB,
    SPARK_JOB_MODULES,
    SPARK_JOB_TEXT,
    SPARK_TRAINING_JOB,
    add_spark_job,
    track,
    write,
)

from deploy import cli as deploy_cli
from deploy.aws import DeployError
from deploy.bundle import Artifact
from deploy.push import Summary, push
from deploy.sync import ArtifactState, Plan, apply_plan

REQUIREMENTS_ARN = "arn:aws:airflow:us-east-1:123456789012:environment/" + ENVIRONMENT


def environment(status: str = "AVAILABLE", **fields: Any) -> dict[str, Any]:
    return {"Environment": {"Name": ENVIRONMENT, "Arn": REQUIREMENTS_ARN, "Status": status, **fields}}


def keys(s3_client, bucket: str) -> set[str]:
    return {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])}


def latest_version(s3_client, bucket: str, key: str) -> str:
    return s3_client.head_object(Bucket=bucket, Key=key)["VersionId"]


def run(repo: Path, bucket: str, s3_client, mwaa_client, **kwargs: Any) -> Summary:
    logs: list[str] = []
    summary = push(
        repo=repo,
        bucket=bucket,
        environment=ENVIRONMENT,
        s3=s3_client,
        mwaa=mwaa_client,
        log=logs.append,
        sleep=lambda _: None,
        poll=0,
        **kwargs,
    )
    return summary


def expect_update(stubber: Stubber, current: dict[str, Any], expected: dict[str, Any]) -> None:
    stubber.add_response("get_environment", environment(**current), {"Name": ENVIRONMENT})
    stubber.add_response(
        "update_environment",
        {"Arn": REQUIREMENTS_ARN},
        {"Name": ENVIRONMENT, "WorkerReplacementStrategy": "GRACEFUL", **expected},
    )


def first_deploy(fake_repo: Path, bucket: str, s3_client, mwaa) -> dict[str, str]:
    """Deploy into the empty bucket; returns the versions the (stubbed) environment now runs."""
    client, stubber = mwaa
    stubber.add_response("get_environment", environment(), {"Name": ENVIRONMENT})
    stubber.add_response("update_environment", {"Arn": REQUIREMENTS_ARN}, ANY_UPDATE)
    summary = run(fake_repo, bucket, s3_client, client)
    stubber.assert_no_pending_responses()
    assert summary.environment_update is not None
    return {k: v for k, v in summary.environment_update.items() if k.endswith(("Path", "Version"))}


ANY_UPDATE = {
    "Name": ENVIRONMENT,
    "WorkerReplacementStrategy": "GRACEFUL",
    "RequirementsS3Path": "requirements.txt",
    "RequirementsS3ObjectVersion": ANY,
    "PluginsS3Path": "plugins.zip",
    "PluginsS3ObjectVersion": ANY,
}


def test_first_deploy_uploads_everything_and_updates_with_the_new_versions(fake_repo, bucket, s3_client, mwaa):
    client, stubber = mwaa
    stubber.add_response("get_environment", environment(), {"Name": ENVIRONMENT})
    stubber.add_response("update_environment", {"Arn": REQUIREMENTS_ARN}, ANY_UPDATE)

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()
    assert keys(s3_client, bucket) == EXPECTED_DAG_KEYS | {"requirements.txt", "plugins.zip"}
    assert set(summary.uploaded) == EXPECTED_DAG_KEYS | {"requirements.txt", "plugins.zip"}
    body = s3_client.get_object(Bucket=bucket, Key="dags/ml_pipeline/tasks.py")["Body"].read()
    assert body == (fake_repo / "dags/ml_pipeline/tasks.py").read_bytes()
    expected_bytes = (
        sum((fake_repo / k).stat().st_size for k in EXPECTED_DAG_KEYS | {"requirements.txt"})
        + s3_client.head_object(Bucket=bucket, Key="plugins.zip")["ContentLength"]
    )
    assert summary.bytes_sent == expected_bytes
    update = summary.environment_update
    assert update["RequirementsS3ObjectVersion"] == latest_version(s3_client, bucket, "requirements.txt")
    assert update["PluginsS3ObjectVersion"] == latest_version(s3_client, bucket, "plugins.zip")
    assert "StartupScriptS3Path" not in update
    rendered = summary.render()
    assert f"bytes sent:     {expected_bytes}" in rendered
    assert "environment update: yes" in rendered


def test_no_op_deploy_uploads_nothing_and_does_not_update(fake_repo, bucket, s3_client, mwaa):
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    before = s3_client.list_object_versions(Bucket=bucket)["Versions"]
    stubber.add_response("get_environment", environment(**versions), {"Name": ENVIRONMENT})

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()  # and no update_environment: the Stubber rejects unqueued calls
    assert summary.uploaded == [] and summary.deleted == [] and summary.bytes_sent == 0
    assert summary.environment_update is None
    assert len(s3_client.list_object_versions(Bucket=bucket)["Versions"]) == len(before)
    assert "environment update: no" in summary.render()


def test_changing_one_dag_uploads_only_that_file_without_update(fake_repo, bucket, s3_client, mwaa):
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    # Same size, different content: the sha256 metadata, not the size, must catch it.
    write(fake_repo / "dags/ml_pipeline/tasks.py", "def train():\n    return 2\n")
    stubber.add_response("get_environment", environment(**versions), {"Name": ENVIRONMENT})

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()
    assert summary.uploaded == ["dags/ml_pipeline/tasks.py"]
    assert summary.bytes_sent == (fake_repo / "dags/ml_pipeline/tasks.py").stat().st_size
    assert summary.environment_update is None
    body = s3_client.get_object(Bucket=bucket, Key="dags/ml_pipeline/tasks.py")["Body"].read()
    assert body == b"def train():\n    return 2\n"


def test_deleting_a_dag_deletes_its_object(fake_repo, bucket, s3_client, mwaa):
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    (fake_repo / "dags/pipeline.py").unlink()
    stubber.add_response("get_environment", environment(**versions), {"Name": ENVIRONMENT})

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()
    assert summary.deleted == ["dags/pipeline.py"]
    assert summary.uploaded == [] and summary.bytes_sent == 0
    assert keys(s3_client, bucket) == (EXPECTED_DAG_KEYS - {"dags/pipeline.py"}) | {"requirements.txt", "plugins.zip"}


def test_objects_not_in_the_repo_are_deleted_even_if_they_were_uploaded_by_hand(fake_repo, bucket, s3_client, mwaa):
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    s3_client.put_object(Bucket=bucket, Key="dags/__pycache__/old.cpython-312.pyc", Body=b"x")
    s3_client.put_object(Bucket=bucket, Key="artifacts/model.pkl", Body=b"keep me")  # outside dags/: untouched
    stubber.add_response("get_environment", environment(**versions), {"Name": ENVIRONMENT})

    summary = run(fake_repo, bucket, s3_client, client)

    assert summary.deleted == ["dags/__pycache__/old.cpython-312.pyc"]
    assert "artifacts/model.pkl" in keys(s3_client, bucket)


def test_changed_requirements_upload_once_and_update_with_exactly_the_new_version(fake_repo, bucket, s3_client, mwaa):
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    old_version = versions["RequirementsS3ObjectVersion"]
    write(fake_repo / "requirements.txt", (fake_repo / "requirements.txt").read_text() + "pandas\n")
    # The expected parameters are checked by the Stubber; the version is only known after the upload.
    expect_update(stubber, versions, {"RequirementsS3Path": "requirements.txt", "RequirementsS3ObjectVersion": ANY})

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()
    assert summary.uploaded == ["requirements.txt"]
    assert summary.bytes_sent == (fake_repo / "requirements.txt").stat().st_size
    new_version = latest_version(s3_client, bucket, "requirements.txt")
    assert new_version != old_version
    assert summary.environment_update == {
        "Name": ENVIRONMENT,
        "WorkerReplacementStrategy": "GRACEFUL",
        "RequirementsS3Path": "requirements.txt",
        "RequirementsS3ObjectVersion": new_version,
    }
    versions_of_requirements = [
        v for v in s3_client.list_object_versions(Bucket=bucket)["Versions"] if v["Key"] == "requirements.txt"
    ]
    assert len(versions_of_requirements) == 2  # uploaded once more, not once per artifact or per retry


def test_changed_lock_file_republishes_requirements_after_the_lock(fake_repo, bucket, s3_client, mwaa):
    """MWAA reinstalls only on a new requirements.txt version, so a new dags/constraints.txt must bring one."""
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    write(fake_repo / "dags/constraints.txt", "scikit-learn==1.7.2\nmlflow==3.5.0\n")
    expect_update(stubber, versions, {"RequirementsS3Path": "requirements.txt", "RequirementsS3ObjectVersion": ANY})

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()
    assert summary.uploaded == ["dags/constraints.txt", "requirements.txt"]  # the lock lands first
    assert summary.environment_update["RequirementsS3ObjectVersion"] == latest_version(
        s3_client, bucket, "requirements.txt"
    )


def test_startup_script_is_uploaded_and_referenced_when_the_repo_has_one(fake_repo, bucket, s3_client, mwaa):
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    track(write(fake_repo / "startup.sh", "#!/bin/sh\nexport ML_PIPELINE_MODEL_NAME=wine\n"))
    expect_update(stubber, versions, {"StartupScriptS3Path": "startup.sh", "StartupScriptS3ObjectVersion": ANY})

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()
    assert summary.uploaded == ["startup.sh"]
    assert summary.environment_update["StartupScriptS3ObjectVersion"] == latest_version(s3_client, bucket, "startup.sh")


def test_an_environment_behind_the_bucket_is_updated_without_uploading(fake_repo, bucket, s3_client, mwaa):
    """A deploy whose update failed after the upload retries the update next time."""
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    stale = {**versions, "PluginsS3ObjectVersion": "an-older-version"}
    expect_update(
        stubber, stale, {"PluginsS3Path": "plugins.zip", "PluginsS3ObjectVersion": versions["PluginsS3ObjectVersion"]}
    )

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()
    assert summary.uploaded == [] and summary.bytes_sent == 0
    assert summary.environment_update["PluginsS3ObjectVersion"] == versions["PluginsS3ObjectVersion"]


def test_wait_follows_the_update_until_available(fake_repo, bucket, s3_client, mwaa):
    client, stubber = mwaa
    stubber.add_response("get_environment", environment(), {"Name": ENVIRONMENT})
    stubber.add_response("update_environment", {"Arn": REQUIREMENTS_ARN}, ANY_UPDATE)
    stubber.add_response("get_environment", environment("UPDATING"), {"Name": ENVIRONMENT})
    stubber.add_response(
        "get_environment", environment("AVAILABLE", LastUpdate={"Status": "SUCCESS"}), {"Name": ENVIRONMENT}
    )

    summary = run(fake_repo, bucket, s3_client, client, wait=True)

    stubber.assert_no_pending_responses()
    assert summary.environment_update is not None


def test_wait_does_not_mistake_the_state_before_the_update_for_its_end(fake_repo, bucket, s3_client, mwaa):
    client, stubber = mwaa
    long_ago = {"Status": "SUCCESS", "CreatedAt": datetime.now(UTC) - timedelta(days=3)}
    stubber.add_response("get_environment", environment(), {"Name": ENVIRONMENT})
    stubber.add_response("update_environment", {"Arn": REQUIREMENTS_ARN}, ANY_UPDATE)
    # MWAA has not switched to UPDATING yet: the AVAILABLE it reports belongs to an update from days ago.
    stubber.add_response("get_environment", environment("AVAILABLE", LastUpdate=long_ago), {"Name": ENVIRONMENT})
    stubber.add_response("get_environment", environment("UPDATING", LastUpdate=long_ago), {"Name": ENVIRONMENT})
    stubber.add_response(
        "get_environment",
        environment("AVAILABLE", LastUpdate={"Status": "SUCCESS", "CreatedAt": datetime.now(UTC)}),
        {"Name": ENVIRONMENT},
    )

    run(fake_repo, bucket, s3_client, client, wait=True)

    stubber.assert_no_pending_responses()  # all three polls happened


def test_wait_for_a_busy_environment_then_update_it_despite_an_old_failure(fake_repo, bucket, s3_client, mwaa):
    client, stubber = mwaa
    old_failure = {"Status": "FAILED", "CreatedAt": datetime.now(UTC) - timedelta(days=1)}
    stubber.add_response("get_environment", environment("UPDATING"), {"Name": ENVIRONMENT})
    stubber.add_response("get_environment", environment("UPDATING"), {"Name": ENVIRONMENT})
    stubber.add_response("get_environment", environment("AVAILABLE", LastUpdate=old_failure), {"Name": ENVIRONMENT})
    stubber.add_response("update_environment", {"Arn": REQUIREMENTS_ARN}, ANY_UPDATE)
    stubber.add_response(
        "get_environment",
        environment("AVAILABLE", LastUpdate={"Status": "SUCCESS", "CreatedAt": datetime.now(UTC)}),
        {"Name": ENVIRONMENT},
    )

    summary = run(fake_repo, bucket, s3_client, client, wait=True)

    stubber.assert_no_pending_responses()
    assert summary.environment_update is not None


def test_wait_is_bounded_by_the_timeout(fake_repo, bucket, s3_client, mwaa):
    client, stubber = mwaa
    stubber.add_response("get_environment", environment("UPDATING"), {"Name": ENVIRONMENT})
    stubber.add_response("get_environment", environment("UPDATING"), {"Name": ENVIRONMENT})

    with pytest.raises(DeployError, match="is still UPDATING after 0 s"):
        run(fake_repo, bucket, s3_client, client, wait=True, timeout=0)
    stubber.assert_no_pending_responses()  # one look to decide, one poll, then the bound
    assert "requirements.txt" in keys(s3_client, bucket), "the upload is kept: the next deploy only updates"


def test_an_environment_whose_last_update_failed_accepts_a_new_one(fake_repo, bucket, s3_client, mwaa):
    client, stubber = mwaa
    stubber.add_response("get_environment", environment("UPDATE_FAILED"), {"Name": ENVIRONMENT})
    stubber.add_response("update_environment", {"Arn": REQUIREMENTS_ARN}, ANY_UPDATE)

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()
    assert summary.environment_update is not None


@pytest.mark.parametrize(
    "final",
    [
        environment("UPDATE_FAILED", LastUpdate={"Status": "FAILED", "Error": {"ErrorMessage": "pip failed"}}),
        environment("AVAILABLE", LastUpdate={"Status": "FAILED", "Error": {"ErrorMessage": "pip failed"}}),
    ],
    ids=["update-failed", "rolled-back"],
)
def test_wait_fails_clearly_when_the_update_fails(fake_repo, bucket, s3_client, mwaa, final):
    client, stubber = mwaa
    stubber.add_response("get_environment", environment(), {"Name": ENVIRONMENT})
    stubber.add_response("update_environment", {"Arn": REQUIREMENTS_ARN}, ANY_UPDATE)
    stubber.add_response("get_environment", environment("UPDATING"), {"Name": ENVIRONMENT})
    stubber.add_response("get_environment", final, {"Name": ENVIRONMENT})

    with pytest.raises(DeployError, match=r"update failed.*pip failed"):
        run(fake_repo, bucket, s3_client, client, wait=True)


def test_busy_environment_without_wait_fails_after_uploading(fake_repo, bucket, s3_client, mwaa):
    client, stubber = mwaa
    stubber.add_response("get_environment", environment("UPDATING"), {"Name": ENVIRONMENT})

    with pytest.raises(DeployError, match="is UPDATING, so it cannot be updated now"):
        run(fake_repo, bucket, s3_client, client)
    assert "requirements.txt" in keys(s3_client, bucket)


def test_dry_run_prints_the_plan_and_changes_nothing(fake_repo, bucket, s3_client, mwaa):
    client, stubber = mwaa
    stubber.add_response("get_environment", environment(), {"Name": ENVIRONMENT})

    summary = run(fake_repo, bucket, s3_client, client, dry_run=True)

    stubber.assert_no_pending_responses()
    assert keys(s3_client, bucket) == set()
    assert set(summary.uploaded) == EXPECTED_DAG_KEYS | {"requirements.txt", "plugins.zip"}
    assert summary.bytes_sent > 0
    assert summary.environment_update == {
        "Name": ENVIRONMENT,
        "RequirementsS3Path": "requirements.txt",
        "RequirementsS3ObjectVersion": "<new version>",
        "PluginsS3Path": "plugins.zip",
        "PluginsS3ObjectVersion": "<new version>",
    }
    rendered = summary.render()
    assert "dry run: nothing was changed" in rendered
    assert "environment update: yes (PluginsS3ObjectVersion=<new version>, RequirementsS3ObjectVersion=" in rendered


# ---- the command line: configuration and clear errors ----


def cli(argv: list[str], s3_client, mwaa_client) -> int:
    return deploy_cli.main(["push", *argv], clients=lambda region: SimpleNamespace(s3=s3_client, mwaa=mwaa_client))


def test_cli_reads_configuration_from_environment_variables(fake_repo, bucket, s3_client, mwaa, monkeypatch, capsys):
    client, stubber = mwaa
    monkeypatch.setenv("MWAA_BUCKET", f"s3://{bucket}/")
    monkeypatch.setenv("MWAA_ENVIRONMENT", ENVIRONMENT)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    stubber.add_response("get_environment", environment(), {"Name": ENVIRONMENT})

    assert cli(["--repo", str(fake_repo), "--dry-run"], s3_client, client) == 0

    out = capsys.readouterr().out
    assert "upload  dags/pipeline.py" in out
    assert "Summary (dry run: nothing was changed)" in out
    assert keys(s3_client, bucket) == set()


def test_cli_missing_bucket_is_a_usage_error(monkeypatch, capsys):
    for name in ("MWAA_BUCKET", "MWAA_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as raised:
        deploy_cli.main(["push", "--environment", ENVIRONMENT, "--region", "us-east-1"])
    assert raised.value.code == 2
    assert "--bucket or MWAA_BUCKET" in capsys.readouterr().err


def test_cli_nonexistent_bucket_fails_clearly(fake_repo, s3_client, mwaa, capsys):
    client, _ = mwaa
    argv = [
        "--repo",
        str(fake_repo),
        "--bucket",
        "no-such-bucket",
        "--environment",
        ENVIRONMENT,
        "--region",
        "us-east-1",
    ]
    assert cli(argv, s3_client, client) == 1
    assert "bucket 'no-such-bucket' does not exist" in capsys.readouterr().err


def test_cli_bucket_without_versioning_fails_before_uploading(fake_repo, s3_client, mwaa, capsys):
    client, _ = mwaa
    s3_client.create_bucket(Bucket="unversioned")
    argv = ["--repo", str(fake_repo), "--bucket", "unversioned", "--environment", ENVIRONMENT, "--region", "us-east-1"]
    assert cli(argv, s3_client, client) == 1
    assert "does not have versioning enabled" in capsys.readouterr().err
    assert keys(s3_client, "unversioned") == set()


def test_cli_missing_credentials_fail_clearly(fake_repo, monkeypatch, tmp_path, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never probe an instance metadata address
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    argv = ["--repo", str(fake_repo), "--bucket", "b", "--environment", ENVIRONMENT, "--region", "us-east-1"]
    assert deploy_cli.main(["push", *argv]) == 1
    assert "no AWS credentials found" in capsys.readouterr().err


def test_cli_unreachable_endpoint_fails_in_one_line(fake_repo, free_port, capsys):
    unreachable = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    argv = ["--repo", str(fake_repo), "--bucket", "b", "--environment", ENVIRONMENT, "--region", "us-east-1"]
    assert cli(argv, unreachable, None) == 1
    err = capsys.readouterr().err
    assert err.startswith("deploy failed: Could not connect to the endpoint URL") and err.count("\n") == 1


def test_cli_unknown_environment_fails_clearly(fake_repo, bucket, s3_client, capsys, s3_endpoint):
    client = boto3.client("mwaa", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("get_environment", "ResourceNotFoundException", "not found", 404)
        argv = ["--repo", str(fake_repo), "--bucket", bucket, "--environment", "nope", "--region", "us-east-1"]
        assert cli(argv, s3_client, client) == 1
    assert "MWAA environment 'nope' does not exist" in capsys.readouterr().err


# ---- the EMR Serverless job script (batch_predictions, scoring_engine=spark) ----


def test_spark_job_is_planned_and_uploaded_outside_dags_without_an_environment_update_of_its_own(
    fake_repo, bucket, s3_client, mwaa
):
    add_spark_job(fake_repo)
    client, stubber = mwaa
    stubber.add_response("get_environment", environment(), {"Name": ENVIRONMENT})
    # Exactly requirements.txt and plugins.zip: the Stubber refuses any other field, e.g. one for the job script.
    stubber.add_response("update_environment", {"Arn": REQUIREMENTS_ARN}, ANY_UPDATE)
    logs: list[str] = []

    summary = push(repo=fake_repo, bucket=bucket, environment=ENVIRONMENT, s3=s3_client, mwaa=client, log=logs.append)

    stubber.assert_no_pending_responses()
    assert f"  upload  {SPARK_JOB} ({len(SPARK_JOB_TEXT)} bytes, content changed; EMR Serverless job" in logs[0]
    zipped = re.escape("content changed; dags/ml_pipeline/ zipped for the EMR Serverless job, no environment update)")
    assert re.search(rf"  upload  {PACKAGE_ZIP} \(\d+ bytes, {zipped}", logs[0])
    job_files = [SPARK_JOB, *SPARK_JOB_MODULES, SPARK_TRAINING_JOB, PACKAGE_ZIP]
    assert summary.uploaded[: len(job_files)] == job_files, "the job lands before the DAG files that submit it"
    assert keys(s3_client, bucket) == EXPECTED_DAG_KEYS | {"requirements.txt", "plugins.zip", *job_files}
    assert not any(k.startswith("dags/spark_jobs") for k in keys(s3_client, bucket))
    stored = s3_client.get_object(Bucket=bucket, Key=SPARK_JOB)
    assert stored["Body"].read() == SPARK_JOB_TEXT.encode()
    assert stored["Metadata"] == {"sha256": hashlib.sha256(SPARK_JOB_TEXT.encode()).hexdigest()}
    assert not any(k.startswith("Spark") or "spark" in str(v) for k, v in summary.environment_update.items())


def test_unchanged_spark_job_is_skipped(fake_repo, bucket, s3_client, mwaa):
    add_spark_job(fake_repo)
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    before = latest_version(s3_client, bucket, SPARK_JOB)
    stubber.add_response("get_environment", environment(**versions), {"Name": ENVIRONMENT})
    logs: list[str] = []

    summary = push(repo=fake_repo, bucket=bucket, environment=ENVIRONMENT, s3=s3_client, mwaa=client, log=logs.append)

    stubber.assert_no_pending_responses()
    assert summary.uploaded == [] and summary.environment_update is None
    assert latest_version(s3_client, bucket, SPARK_JOB) == before
    assert f"  keep    {SPARK_JOB} (unchanged, version {before}; EMR Serverless job" in logs[0]
    package_version = latest_version(s3_client, bucket, PACKAGE_ZIP)  # the same package zips to the same bytes
    assert f"  keep    {PACKAGE_ZIP} (unchanged, version {package_version}; dags/ml_pipeline/ zipped" in logs[0]


def test_a_changed_package_module_uploads_its_zip_before_the_dag_file(fake_repo, bucket, s3_client, mwaa):
    add_spark_job(fake_repo)
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    write(fake_repo / "dags" / "ml_pipeline" / "tasks.py", "def train():\n    return 2\n")
    stubber.add_response("get_environment", environment(**versions), {"Name": ENVIRONMENT})

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()
    assert summary.uploaded == [PACKAGE_ZIP, "dags/ml_pipeline/tasks.py"]
    assert summary.environment_update is None


def test_changed_spark_job_is_uploaded_alone_and_does_not_update_the_environment(fake_repo, bucket, s3_client, mwaa):
    add_spark_job(fake_repo)
    versions = first_deploy(fake_repo, bucket, s3_client, mwaa)
    client, stubber = mwaa
    # Same size, other content: the sha256 metadata catches it.
    add_spark_job(fake_repo, SPARK_JOB_TEXT.replace("placeholder", "placeholdeR"))
    stubber.add_response("get_environment", environment(**versions), {"Name": ENVIRONMENT})

    summary = run(fake_repo, bucket, s3_client, client)

    stubber.assert_no_pending_responses()  # and no update_environment: MWAA does not read the job script
    assert summary.uploaded == [SPARK_JOB]
    assert summary.bytes_sent == len(SPARK_JOB_TEXT)
    assert summary.environment_update is None
    body = s3_client.get_object(Bucket=bucket, Key=SPARK_JOB)["Body"].read()
    assert body == SPARK_JOB_TEXT.replace("placeholder", "placeholdeR").encode()


def test_dry_run_lists_the_spark_job_and_changes_nothing(fake_repo, bucket, s3_client, mwaa):
    add_spark_job(fake_repo)
    client, stubber = mwaa
    stubber.add_response("get_environment", environment(), {"Name": ENVIRONMENT})

    summary = run(fake_repo, bucket, s3_client, client, dry_run=True)

    assert keys(s3_client, bucket) == set()
    assert SPARK_JOB in summary.uploaded
    assert set(summary.environment_update) == {
        "Name",
        "RequirementsS3Path",
        "RequirementsS3ObjectVersion",
        "PluginsS3Path",
        "PluginsS3ObjectVersion",
    }


def test_cli_dry_run_prints_the_spark_job(fake_repo, bucket, s3_client, mwaa, capsys):
    add_spark_job(fake_repo)
    client, stubber = mwaa
    stubber.add_response("get_environment", environment(), {"Name": ENVIRONMENT})
    argv = ["--repo", str(fake_repo), "--bucket", bucket, "--environment", ENVIRONMENT, "--region", "us-east-1"]

    assert cli([*argv, "--dry-run"], s3_client, client) == 0

    out = capsys.readouterr().out
    assert f"upload  {SPARK_JOB}" in out
    assert SPARK_JOB in out.split("files uploaded:")[1]


def test_a_deploy_role_that_may_not_write_the_spark_job_yet_fails_with_what_to_do(fake_repo, s3_endpoint):
    """Until `make infra-up` updates the base stack, the deploy role of an older stack may not write spark_jobs/."""
    s3 = boto3.client("s3", region_name="us-east-1")
    artifact = Artifact(SPARK_JOB, SPARK_JOB_TEXT.encode())
    state = ArtifactState(artifact, changed=True, version_id=None)
    plan = Plan([], [], 0, [state], [])
    with Stubber(s3) as stubber:
        stubber.add_client_error("put_object", "AccessDenied", "Access Denied", 403)
        with pytest.raises(DeployError, match=r"access denied writing s3://b/spark_jobs/.*make infra-up"):
            apply_plan(s3, "b", plan, log=lambda _: None)
