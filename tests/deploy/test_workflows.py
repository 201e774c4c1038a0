"""The GitHub Actions workflows: zizmor and schema clean, and the triggers, permissions and order the deploy needs."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from deploy_fakes import REPO_ROOT, run_tool

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
FULL_SHA = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def load(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job["steps"]


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, name, job)
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for name, job in load(path.name)["jobs"].items()
    ]


def test_zizmor_finds_nothing():
    result = run_tool("zizmor", "--offline", str(WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout


def test_workflows_validate_against_the_github_workflow_schema():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 2
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_lint_and_the_whole_suite_on_pull_requests_and_pushes():
    ci = load("ci.yml")
    assert set(ci["on"]) == {"pull_request", "push"}
    assert ci["on"]["push"] is None, "every branch"
    assert ci["permissions"] == {"contents": "read"}
    assert [s.get("run") for s in steps(ci["jobs"]["test"]) if "run" in s] == ["make test"]
    assert [s.get("run") for s in steps(ci["jobs"]["compose"]) if "run" in s] == ["make compose-test"]


def test_deploy_runs_only_for_pushes_to_main():
    deploy = load("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}, "no pull_request, pull_request_target or dispatch"
    job = deploy["jobs"]["deploy"]
    assert "github.ref == 'refs/heads/main'" in job["if"]
    assert "github.event_name == 'push'" in job["if"]


def test_deploy_needs_the_tests_and_gets_aws_access_only_through_oidc():
    deploy = load("deploy.yml")
    assert deploy["permissions"] == {}
    test_job, job = deploy["jobs"]["test"], deploy["jobs"]["deploy"]
    assert job["needs"] == "test"
    assert [s.get("run") for s in steps(test_job) if "run" in s] == ["make test"]
    assert test_job["permissions"] == {"contents": "read"}
    assert job["permissions"] == {"contents": "read", "id-token": "write"}

    uses = [s.get("uses", "").split("@")[0] for s in steps(job)]
    runs = [s.get("run") for s in steps(job)]
    order = [u or r for u, r in zip(uses, runs, strict=True)]
    assert order == [
        "actions/checkout",
        "actions/setup-python",
        "aws-actions/configure-aws-credentials",
        'make deploy DEPLOY_ARGS="--wait --timeout 2700"',
    ]
    credentials = steps(job)[2]["with"]
    assert credentials["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert credentials["aws-region"] == "${{ vars.AWS_REGION }}"
    assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(credentials)
    assert job["env"] == {
        "AWS_REGION": "${{ vars.AWS_REGION }}",
        "MWAA_BUCKET": "${{ vars.MWAA_BUCKET }}",
        "MWAA_ENVIRONMENT": "${{ vars.MWAA_ENVIRONMENT }}",
    }


def test_two_deploys_never_race():
    deploy = load("deploy.yml")
    assert deploy["jobs"]["deploy"]["concurrency"] == {
        "group": "mwaa-${{ vars.MWAA_ENVIRONMENT }}",
        "cancel-in-progress": False,
    }
    assert deploy["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize(("workflow", "job_name", "job"), all_jobs(), ids=lambda v: v if isinstance(v, str) else "")
def test_actions_are_pinned_and_checkouts_keep_no_credentials(workflow, job_name, job):
    for step in steps(job):
        if "uses" in step:
            assert FULL_SHA.match(step["uses"]), f"{workflow}:{job_name} {step['uses']} is not pinned to a commit"
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_no_secrets_or_static_keys_in_workflows():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "secrets." not in text, path.name
        assert not re.search(r"AKIA[0-9A-Z]{16}", text), path.name
        assert "pull_request_target" not in text, path.name


def test_the_model_server_image_is_pushed_from_main_through_oidc_only_when_serving_is_turned_on():
    deploy = load("deploy.yml")
    job = deploy["jobs"]["model-server"]
    assert job["needs"] == "test"
    assert job["if"] == (
        "github.event_name == 'push' && github.ref == 'refs/heads/main' && vars.MODEL_SERVER_REPOSITORY != ''"
    )
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert job["concurrency"]["cancel-in-progress"] is False
    order = [step.get("uses", "").split("@")[0] or "run" for step in steps(job)]
    assert order == ["actions/checkout", "aws-actions/configure-aws-credentials", "run"]
    credentials = steps(job)[1]["with"]
    assert credentials["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(credentials)
    assert job["env"] == {
        "AWS_REGION": "${{ vars.AWS_REGION }}",
        "REPOSITORY": "${{ vars.MODEL_SERVER_REPOSITORY }}",
        "IMAGE_TAG": "${{ github.sha }}",  # one immutable tag per commit
    }
    script = steps(job)[2]["run"]
    assert "${{" not in script, "values reach the script through env, never by template expansion"
    assert "docker build --platform linux/amd64 --file docker/model-server/Dockerfile" in script
    assert 'docker push "$REPOSITORY:$IMAGE_TAG"' in script
    # The tag is looked up first: pushing an immutable tag again fails, so a rerun for the same commit skips.
    assert script.index("aws ecr describe-images") < script.index("docker push")
