"""The optional SageMaker serving in infra/: off by default; the ECR repository, the endpoint's least-privilege role,
the rollback alarms and the grants of the deploy and MWAA execution roles, and the Variable keys deploy_champion
reads (cfn-lint and checkov run over these templates in test_infra_templates.py)."""

from __future__ import annotations

import json
import re

from deploy_fakes import run_tool
from test_infra_templates import ACCOUNT, INFRA, SOURCE_BUCKET, Evaluator, as_list, load, pipeline_variable

from ml_pipeline.config.layers import load_config
from ml_pipeline.deployment.sagemaker import VARIANT

SERVING = {"EnableSageMakerServing": "true"}
REPOSITORY_ARN = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/ml-pipeline-model-server"
RESOURCES = {
    "SourceBucket": SOURCE_BUCKET,
    "SourceBucket.Arn": f"arn:aws:s3:::{SOURCE_BUCKET}",
    "DeployRole": "ml-pipeline-mwaa-deploy",
    "ModelServerRepository.Arn": REPOSITORY_ARN,
}
SERVING_RESOURCES = {"ModelServerRepository", "ServingRole", "ModelServerPushPolicy", "ServingErrorsAlarm",
                     "ServingLatencyAlarm"}  # fmt: skip
ENVIRONMENT = {"SourceBucketName": "src-bucket", "SageMakerEndpointName": "ml-pipeline-serving"}


def base(parameters: dict[str, str] | None = None) -> tuple[dict, Evaluator]:
    template = load("base.yaml")
    return template, Evaluator(template, SERVING | (parameters or {}), RESOURCES)


def policy_statements(evaluate: Evaluator, logical_id: str) -> list[dict]:
    return evaluate(evaluate.template["Resources"][logical_id]["Properties"])["PolicyDocument"]["Statement"]


def test_cfn_lint_and_checkov_are_clean_with_serving_turned_on(tmp_path):
    """checkov leaves out resources whose condition is false under the defaults: check them turned on."""
    switched = {
        "base.yaml": ('  EnableSageMakerServing:\n    Type: String\n    Default: "false"', '"false"', '"true"'),
        "environment.yaml": (
            '  SageMakerEndpointName:\n    Type: String\n    Default: ""',
            '""',
            "ml-pipeline-serving",
        ),
    }
    for name, (parameter, off, on) in switched.items():
        text = (INFRA / name).read_text()
        assert parameter in text, name
        (tmp_path / name).write_text(text.replace(parameter, parameter.replace(off, on)))
    lint = run_tool("cfn-lint", *(str(tmp_path / name) for name in switched))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    scan = run_tool("checkov", "--compact", "--skip-download", "--framework", "cloudformation", "-d", str(tmp_path))
    assert scan.returncode == 0 and "Failed checks: 0" in scan.stdout, scan.stdout[-3000:]
    assert "AWS::IAM::Role.ServingRole" in scan.stdout and "AWS::ECR::Repository.ModelServerRepository" in scan.stdout


def test_serving_is_off_by_default_and_nothing_else_refers_to_it():
    template = load("base.yaml")
    assert template["Parameters"]["EnableSageMakerServing"]["Default"] == "false"
    assert template["Conditions"]["EnableServing"] == {"Fn::Equals": [{"Ref": "EnableSageMakerServing"}, "true"]}
    resources = template["Resources"]
    assert {name for name, resource in resources.items() if resource.get("Condition") == "EnableServing"} == (
        SERVING_RESOURCES
    )
    for name, resource in resources.items():
        if name not in SERVING_RESOURCES:
            assert not any(other in json.dumps(resource) for other in SERVING_RESOURCES), name
    outputs = {name for name, output in template["Outputs"].items() if output.get("Condition") == "EnableServing"}
    assert outputs == {"ServingEndpointName", "ModelServerRepositoryUri", "ServingRoleArn"}
    environment = load("environment.yaml")
    assert environment["Parameters"]["SageMakerEndpointName"]["Default"] == ""
    off = Evaluator(environment, {"SourceBucketName": "b"}).statements("ExecutionRole")
    assert not any(s["Sid"].startswith(("SageMaker", "PassServing")) for s in off)


def test_the_repository_scans_each_push_keeps_tags_immutable_and_the_newest_twenty_images():
    template, evaluate = base()
    repository = evaluate(template["Resources"]["ModelServerRepository"]["Properties"])
    assert repository["RepositoryName"] == "ml-pipeline-model-server"
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repository["ImageTagMutability"] == "IMMUTABLE"
    (rule,) = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20}
    assert rule["action"] == {"type": "expire"}


def test_the_endpoint_role_reads_only_the_packages_pulls_only_its_image_and_writes_only_its_logs():
    template, evaluate = base()
    role = evaluate(template["Resources"]["ServingRole"]["Properties"])
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    by_sid = {statement["Sid"]: statement for statement in evaluate.statements("ServingRole")}
    for statement in by_sid.values():
        assert statement["Effect"] == "Allow" and not any(a.endswith("*") for a in as_list(statement["Action"]))
        if statement["Resource"] == "*":
            assert statement["Action"] in ("ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"), statement
    packages = f"arn:aws:s3:::{SOURCE_BUCKET}/ml-pipeline/artifacts/sagemaker/*"
    assert by_sid["ReadModelPackages"] == {"Sid": "ReadModelPackages", "Effect": "Allow", "Action": "s3:GetObject",
                                           "Resource": packages}  # fmt: skip
    reads = [s for s in by_sid.values() if any(a.startswith("s3:Get") for a in as_list(s["Action"]))]
    assert reads == [by_sid["ReadModelPackages"]], "no other object is readable"
    assert by_sid["ListModelPackages"]["Condition"]["StringLike"]["s3:prefix"] == [
        "ml-pipeline/artifacts/sagemaker",
        "ml-pipeline/artifacts/sagemaker/*",
    ]
    assert by_sid["PullModelServerImage"]["Resource"] == REPOSITORY_ARN
    pulls = {a for s in by_sid.values() for a in as_list(s["Action"]) if a.startswith("ecr:")}
    assert pulls == {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                     "ecr:GetAuthorizationToken"}, "pull only, never push"  # fmt: skip
    logs = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/ml-pipeline-serving"
    assert by_sid["WriteOwnLogs"]["Resource"] == [logs, logs + ":*"]
    assert by_sid["WriteOwnMetrics"]["Condition"] == {
        "StringLike": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints*"}
    }
    assert by_sid["DescribeRollbackAlarms"]["Resource"].endswith(":alarm:ml-pipeline-serving-*")


def test_the_deploy_role_may_push_only_the_model_server_image():
    template, evaluate = base()
    policy = evaluate(template["Resources"]["ModelServerPushPolicy"]["Properties"])
    assert policy["RoleName"] == "ml-pipeline-mwaa-deploy"
    push, login = policy_statements(evaluate, "ModelServerPushPolicy")
    assert push["Resource"] == REPOSITORY_ARN and "ecr:PutImage" in push["Action"]
    assert not any(action.startswith("ecr:Delete") or action.endswith("*") for action in push["Action"])
    assert (login["Action"], login["Resource"]) == ("ecr:GetAuthorizationToken", "*")


def test_the_rollback_alarms_watch_the_variant_deploy_champion_deploys():
    template, evaluate = base()
    names = set()
    for logical_id in ("ServingErrorsAlarm", "ServingLatencyAlarm"):
        alarm = evaluate(template["Resources"][logical_id]["Properties"])
        assert alarm["Namespace"] == "AWS/SageMaker" and alarm["TreatMissingData"] == "notBreaching"
        assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": "ml-pipeline-serving"},
                                       {"Name": "VariantName", "Value": VARIANT}]  # fmt: skip
        names.add(alarm["AlarmName"])
    variable = pipeline_variable(ENVIRONMENT)
    assert variable is not None and set(variable["sagemaker_rollback_alarms"]) == names


def test_the_execution_role_deploys_only_its_endpoint_and_passes_the_serving_role_only_to_sagemaker():
    evaluate = Evaluator(load("environment.yaml"), ENVIRONMENT)
    by_sid = {statement["Sid"]: statement for statement in evaluate.statements("ExecutionRole")}
    sagemaker = [s for s in by_sid.values() if any(a.startswith("sagemaker:") for a in as_list(s["Action"]))]
    assert {a for s in sagemaker for a in s["Action"]} == {
        "sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:CreateEndpointConfig",
        "sagemaker:DescribeEndpointConfig", "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint",
        "sagemaker:DescribeEndpoint",
    }  # fmt: skip
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
    named = rf"{arn}:(model|endpoint-config)/ml-pipeline-serving-\*|{arn}:endpoint/ml-pipeline-serving"
    for statement in sagemaker:
        for resource in as_list(statement["Resource"]):
            assert re.fullmatch(named, resource), resource
    (passes,) = [s for s in by_sid.values() if "iam:PassRole" in as_list(s["Action"])]
    assert passes["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/ml-pipeline-serving"
    assert passes["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert by_sid["ReadModelServerImages"] == {"Sid": "ReadModelServerImages", "Effect": "Allow",
                                               "Action": "ecr:DescribeImages", "Resource": REPOSITORY_ARN}  # fmt: skip
    # The names the base stack gives the endpoint's role and repository.
    template, base_stack = base()
    assert base_stack(template["Resources"]["ServingRole"]["Properties"])["RoleName"] == "ml-pipeline-serving"
    assert base_stack(template["Outputs"]["ServingEndpointName"]["Value"]) == ENVIRONMENT["SageMakerEndpointName"]


def test_the_variable_carries_the_serving_keys_and_deploy_champion_accepts_them():
    variable = pipeline_variable(ENVIRONMENT | {"SageMakerInstanceType": "ml.c5.large"})
    assert variable == {
        "artifact_root": "s3://src-bucket/ml-pipeline/artifacts",
        "sagemaker_endpoint_name": "ml-pipeline-serving",
        "sagemaker_image_uri": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/ml-pipeline-model-server",
        "sagemaker_execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/ml-pipeline-serving",
        "sagemaker_instance_type": "ml.c5.large",
        "sagemaker_instance_count": 1,
        "sagemaker_rollback_alarms": ["ml-pipeline-serving-5xx", "ml-pipeline-serving-latency"],
    }
    assert load_config({}, variable=variable).sagemaker_endpoint_name == "ml-pipeline-serving"
    assert pipeline_variable({}) is None
