"""The CloudFormation templates: cfn-lint and checkov clean, and the security properties the deploy relies on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_fakes import REPO_ROOT, CfnLoader, run_tool

INFRA = REPO_ROOT / "infra"
TEMPLATES = sorted(INFRA.glob("*.yaml"))


def load(name: str) -> dict[str, Any]:
    return yaml.load((INFRA / name).read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_templates_exist():
    assert [t.name for t in TEMPLATES] == ["base.yaml", "environment.yaml"]


def test_cfn_lint_is_clean():
    result = run_tool("cfn-lint", *map(str, TEMPLATES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_is_clean_and_every_skip_is_justified():
    result = run_tool(
        "checkov", "--quiet", "--compact", "--skip-download", "--framework", "cloudformation", "-d", str(INFRA)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed checks: 0" in result.stdout
    for template in TEMPLATES:
        for logical_id, resource in load(template.name)["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (logical_id, skip)
                assert len(skip.get("comment", "")) > 40, f"{logical_id} skips {skip['id']} without a justification"


def test_bucket_is_versioned_private_encrypted_and_tls_only():
    resources = load("base.yaml")["Resources"]
    bucket = resources["SourceBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    (deny,) = resources["SourceBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_deploy_role_trusts_only_this_repositorys_main_branch():
    role = load("base.yaml")["Resources"]["DeployRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(trust["Condition"]) == {"StringEquals"}, "no StringLike: wildcards would admit other refs"
    assert trust["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": {"Fn::Sub": "repo:${GitHubRepository}:ref:refs/heads/main"},
    }
    provider = load("base.yaml")["Resources"]["GitHubOidcProvider"]["Properties"]
    assert provider["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["ClientIdList"] == ["sts.amazonaws.com"]


def test_deploy_role_writes_only_dags_root_files_and_the_spark_job_and_updates_only_this_environment():
    role = load("base.yaml")["Resources"]["DeployRole"]["Properties"]
    writes, deletes, airflow = set(), set(), []
    for statement in statements(role):
        assert statement["Effect"] == "Allow"
        assert statement.get("Resource") != "*", statement
        actions = as_list(statement["Action"])
        assert not any(a.endswith("*") for a in actions), statement
        resources = [
            r["Fn::Sub"] if isinstance(r, dict) and "Fn::Sub" in r else r for r in as_list(statement["Resource"])
        ]
        if "s3:PutObject" in actions:
            writes.update(resources)
        if "s3:DeleteObject" in actions:
            deletes.update(resources)
        if any(a.startswith("airflow:") for a in actions):
            airflow.append((set(actions), resources))
    root = "${SourceBucket.Arn}/"
    assert writes == {
        root + "dags/*",
        root + "requirements.txt",
        root + "plugins.zip",
        root + "startup.sh",
        root + "spark_jobs/score_batch.py",  # the EMR Serverless job and its modules, one key each: not spark_jobs/*
        root + "spark_jobs/source_reading.py",
        root + "spark_jobs/drift_counts.py",
        root + "spark_jobs/segment_routing.py",
        root + "spark_jobs/train_segments.py",  # the segment training job and the package zipped for it
        root + "spark_jobs/ml_pipeline.zip",
    }
    assert deletes == {root + "dags/*"}
    assert airflow == [
        (
            {"airflow:GetEnvironment", "airflow:UpdateEnvironment"},
            ["arn:${AWS::Partition}:airflow:${AWS::Region}:${AWS::AccountId}:environment/${ProjectName}"],
        )
    ]


def test_environment_runs_airflow_3_3_1_with_logging_secrets_backend_and_versioned_sources():
    template = load("environment.yaml")
    assert template["Parameters"]["EnvironmentClass"]["Default"] == "mw1.small"
    env = template["Resources"]["Environment"]["Properties"]
    assert env["AirflowVersion"] == "3.3.1"
    assert env["DagS3Path"] == "dags"
    assert env["RequirementsS3ObjectVersion"]["Fn::If"][1] == {"Ref": "RequirementsS3ObjectVersion"}
    assert env["PluginsS3ObjectVersion"]["Fn::If"][1] == {"Ref": "PluginsS3ObjectVersion"}
    assert env["StartupScriptS3ObjectVersion"]["Fn::If"][1] == {"Ref": "StartupScriptS3ObjectVersion"}
    for kind in ("DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs"):
        assert env["LoggingConfiguration"][kind]["Enabled"] is True, kind
    options = env["AirflowConfigurationOptions"]
    assert options["secrets.backend"] == ("airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend")
    assert json.loads(options["secrets.backend_kwargs"]) == {
        "connections_prefix": "airflow/connections",
        "variables_prefix": "airflow/variables",
    }
    assert len(env["NetworkConfiguration"]["SubnetIds"]) == 2


def test_execution_role_is_least_privilege():
    role = load("environment.yaml")["Resources"]["ExecutionRole"]["Properties"]
    by_sid = {}
    for statement in statements(role):
        if "Fn::If" in statement:  # the optional SageMaker MLflow grant
            statement = statement["Fn::If"][1]
        by_sid[statement["Sid"]] = statement
        actions = as_list(statement["Action"])
        assert "*" not in actions and "s3:*" not in actions, statement
        if statement.get("Resource") == "*":
            # Only the actions AWS documents as account-wide for MWAA.
            assert set(actions) <= {
                "s3:GetAccountPublicAccessBlock",
                "logs:DescribeLogGroups",
                "cloudwatch:PutMetricData",
            }
    secrets = [r["Fn::Sub"] for r in by_sid["AirflowSecretsUnderProjectPrefixes"]["Resource"]]
    assert [s.split(":secret:")[1] for s in secrets] == ["airflow/connections/*", "airflow/variables/*"]
    assert set(by_sid["AirflowSecretsUnderProjectPrefixes"]["Action"]) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    assert by_sid["WriteOwnLogs"]["Resource"]["Fn::Sub"].endswith(":log-group:airflow-${ProjectName}-*")
    assert by_sid["CeleryQueue"]["Resource"]["Fn::Sub"].endswith(":airflow-celery-*")
    artifact = by_sid["ArtifactStoreReadWrite"]["Resource"]["Fn::Sub"][0]
    assert artifact.endswith("/${ArtifactPrefix}/*")
    assert by_sid["SageMakerMlflowTrackingServer"]["Resource"] == {"Ref": "MlflowTrackingServerArn"}
    assert by_sid["SageMakerMlflowTrackingServer"]["Action"] == "sagemaker-mlflow:*"
    # The source bucket is read-only for the environment: only the deploy role writes it.
    assert not any(a.startswith(("s3:Put", "s3:Delete")) for a in as_list(by_sid["ReadSourceBucket"]["Action"]))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_no_static_credentials_in_templates(template: Path):
    text = template.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert "AccessKey" not in text and "aws_secret_access_key" not in text.lower()


def test_environment_network_is_private_subnets_behind_nat_with_a_self_referencing_group():
    resources = load("environment.yaml")["Resources"]
    env = resources["Environment"]["Properties"]["NetworkConfiguration"]
    assert env["SubnetIds"] == [{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}]
    assert env["SecurityGroupIds"] == [{"Ref": "SecurityGroup"}]
    azs = [
        resources[s]["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in ("PrivateSubnet1", "PrivateSubnet2")
    ]
    assert azs == [0, 1], "MWAA needs two availability zones"
    assert all(
        r["Properties"].get("MapPublicIpOnLaunch") is False
        for r in resources.values()
        if r["Type"] == "AWS::EC2::Subnet"
    )
    assert resources["PrivateDefaultRoute"]["Properties"]["NatGatewayId"] == {"Ref": "NatGateway"}
    for association in ("PrivateSubnet1RouteTableAssociation", "PrivateSubnet2RouteTableAssociation"):
        assert resources[association]["Properties"]["RouteTableId"] == {"Ref": "PrivateRouteTable"}
    ingress = resources["SecurityGroupSelfIngress"]["Properties"]
    assert ingress["GroupId"] == ingress["SourceSecurityGroupId"] == {"Ref": "SecurityGroup"}
    assert not resources["SecurityGroup"]["Properties"].get("SecurityGroupIngress"), "nothing from outside"


# ---- optional EMR Serverless for batch_predictions (scoring_engine=spark) ----

NO_VALUE = object()
ACCOUNT = "123456789012"
SOURCE_BUCKET = f"ml-pipeline-mwaa-{ACCOUNT}-us-east-1"
APPLICATION_ARN = f"arn:aws:emr-serverless:us-east-1:{ACCOUNT}:/applications/00fabc123def4567"
BASE_RESOURCES = {
    "SourceBucket": SOURCE_BUCKET,
    "SourceBucket.Arn": f"arn:aws:s3:::{SOURCE_BUCKET}",
    "EmrServerlessApplication.Arn": APPLICATION_ARN,
}


class Evaluator:
    """Resolves a template's intrinsics for given parameter values, the way CloudFormation would (enough of them)."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str], resources: dict[str, str] | None = None):
        self.template = template
        defaults = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
        self.values = {
            **defaults,
            **parameters,
            "AWS::Partition": "aws",
            "AWS::Region": "us-east-1",
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.resources = resources or {}

    def condition(self, name: str) -> bool:
        return bool(self(self.template["Conditions"][name]))

    def _name(self, name: str, variables: dict[str, Any]) -> str:
        for source in (variables, self.values, self.resources):
            if name in source:
                return source[name]
        raise KeyError(name)

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [value for value in map(self, node) if value is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return NO_VALUE if value == "AWS::NoValue" else self._name(value, {})
            if key == "Fn::GetAtt":
                return self.resources[".".join(value)]
            if key == "Fn::If":
                return self(value[1] if self.condition(value[0]) else value[2])
            if key == "Fn::Equals":
                return self(value[0]) == self(value[1])
            if key == "Fn::Not":
                return not self(value[0])
            if key == "Fn::Or":
                return any(self(v) for v in value)
            if key == "Fn::And":
                return all(self(v) for v in value)
            if key in {"Condition", "Fn::Condition"}:  # the loader reads !Condition as Fn::Condition
                return self.condition(value)
            if key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], self(value[1]))
                return re.sub(r"\$\{([^}!]+)\}", lambda m: self._name(m.group(1), variables), text)
        resolved = {key: self(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def statements(self, logical_id: str) -> list[dict[str, Any]]:
        role = self(self.template["Resources"][logical_id]["Properties"])
        return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def test_emr_resources_exist_only_when_enabled():
    base = load("base.yaml")
    assert base["Parameters"]["EnableEmrServerless"]["Default"] == "false"
    assert base["Parameters"]["EnableEmrServerless"]["AllowedValues"] == ["true", "false"]
    assert base["Conditions"]["EnableEmr"] == {"Fn::Equals": [{"Ref": "EnableEmrServerless"}, "true"]}
    emr = {
        name
        for name, resource in base["Resources"].items()
        if resource["Type"].startswith("AWS::EMRServerless::") or "Emr" in name
    }
    assert emr == {"EmrServerlessApplication", "EmrJobRole"}
    for name in emr:
        assert base["Resources"][name]["Condition"] == "EnableEmr", name
    # Nothing unconditional refers to them (CloudFormation would refuse the template when disabled).
    for name, resource in base["Resources"].items():
        if name not in emr:
            assert "EmrServerlessApplication" not in json.dumps(resource) and "EmrJobRole" not in json.dumps(resource)
    emr_outputs = {name for name in base["Outputs"] if "Emr" in name or "Spark" in name}
    assert emr_outputs == {"EmrApplicationId", "EmrApplicationArn", "EmrJobRoleArn", "SparkJobScriptUri"}
    for name in emr_outputs:
        assert base["Outputs"][name]["Condition"] == "EnableEmr", name

    # The environment grants EMR access only when it is given the base stack's application id.
    environment = load("environment.yaml")
    assert environment["Parameters"]["EmrApplicationId"]["Default"] == ""
    sids = {s.get("Sid") for s in Evaluator(environment, {"SourceBucketName": "b"}).statements("ExecutionRole")}
    assert not sids & {"EmrServerlessRunBatchPredictions", "PassEmrJobRoleToEmrServerlessOnly"}
    enabled = Evaluator(environment, {"SourceBucketName": "b", "EmrApplicationId": "00fabc123def4567"})
    sids = {s.get("Sid") for s in enabled.statements("ExecutionRole")}
    assert {"EmrServerlessRunBatchPredictions", "PassEmrJobRoleToEmrServerlessOnly"} <= sids


def test_emr_application_auto_starts_auto_stops_and_is_capped():
    base = load("base.yaml")
    assert re.fullmatch(r"emr-7\.\d+\.\d+", base["Parameters"]["EmrReleaseLabel"]["Default"])
    assert base["Parameters"]["EmrIdleTimeoutMinutes"]["Default"] == 15
    app = Evaluator(base, {"EnableEmrServerless": "true"}, BASE_RESOURCES)(
        base["Resources"]["EmrServerlessApplication"]["Properties"]
    )
    assert app["Type"] == "SPARK"
    assert app["AutoStartConfiguration"] == {"Enabled": True}
    assert app["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": "15"}
    assert "InitialCapacity" not in app, "pre-initialized capacity would bill while idle"
    assert app["MaximumCapacity"] == {"Cpu": "16 vCPU", "Memory": "64 GB", "Disk": "400 GB"}
    assert "ImageConfiguration" not in app  # EMR's own image unless EmrImageUri is given
    logs = app["MonitoringConfiguration"]["S3MonitoringConfiguration"]["LogUri"]
    assert logs == f"s3://{SOURCE_BUCKET}/ml-pipeline/artifacts/emr-logs/"

    image = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/batch-scoring:emr-7.12.0"
    app = Evaluator(base, {"EnableEmrServerless": "true", "EmrImageUri": image}, BASE_RESOURCES)(
        base["Resources"]["EmrServerlessApplication"]["Properties"]
    )
    assert app["ImageConfiguration"] == {"ImageUri": image}
    assert re.fullmatch(base["Parameters"]["EmrImageUri"]["AllowedPattern"], image)


def test_emr_job_role_trusts_only_emr_serverless_for_this_application():
    base = load("base.yaml")
    role = Evaluator(base, {"EnableEmrServerless": "true"}, BASE_RESOURCES)(
        base["Resources"]["EmrJobRole"]["Properties"]
    )
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": [APPLICATION_ARN, APPLICATION_ARN + "/jobruns/*"]},
    }


@pytest.mark.parametrize(
    ("parameters", "artifacts", "scoring", "model"),
    [
        ({}, f"{SOURCE_BUCKET}/ml-pipeline/artifacts", None, None),
        (
            {
                "ArtifactBucketName": "team-artifacts",
                "ArtifactPrefix": "ml/store",
                "ScoringSourceBucketName": "warehouse",
                "ScoringSourcePrefix": "exports/wine",
                "ModelArtifactBucketName": "sagemaker-mlflow-artifacts",
                "ModelArtifactPrefix": "wine-server",
            },
            "team-artifacts/ml/store",
            "warehouse/exports/wine",
            "sagemaker-mlflow-artifacts/wine-server",
        ),
    ],
    ids=["defaults", "own-buckets"],
)
def test_emr_job_role_reads_and_writes_only_its_prefixes(parameters, artifacts, scoring, model):
    scoring, model = scoring or artifacts, model or artifacts
    base = load("base.yaml")
    evaluate = Evaluator(base, {"EnableEmrServerless": "true", **parameters}, BASE_RESOURCES)
    reads, writes, listed = set(), set(), {}
    for statement in evaluate.statements("EmrJobRole"):
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        assert all(a.startswith("s3:") and "*" not in a for a in actions), statement  # no s3:*, nothing but S3
        resources = as_list(statement["Resource"])
        assert all(r.startswith("arn:aws:s3:::") and r != "arn:aws:s3:::*" for r in resources), statement
        if "s3:ListBucket" in actions:
            assert actions == ["s3:ListBucket"], "listing is granted alone, always with a prefix condition"
            prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
            assert all(p and not p.startswith("*") for p in prefixes), statement
            for resource in resources:
                listed.setdefault(resource.removeprefix("arn:aws:s3:::"), set()).update(prefixes)
            continue
        objects = {r.removeprefix("arn:aws:s3:::") for r in resources}
        assert all(re.fullmatch(r"[a-z0-9.-]+/[^*]+/\*", o) for o in objects), (
            objects
        )  # bucket/prefix/*, never bucket/*
        if "s3:GetObject" in actions:
            reads |= objects
        if {"s3:PutObject", "s3:DeleteObject"} & set(actions):
            writes |= objects
    runs = f"{artifacts}/classification_pipeline/*"  # the segment training job's
    assert writes == {f"{artifacts}/batch_predictions/*", f"{artifacts}/emr-logs/*", runs}
    assert reads == {
        f"{SOURCE_BUCKET}/spark_jobs/*",  # the job scripts, ml_pipeline.zip and the packaged virtualenv
        f"{scoring}/*",
        f"{model}/*",
        f"{artifacts}/batch_predictions/*",  # Spark reads back its temporary files
        runs,
    }
    assert listed[SOURCE_BUCKET] >= {"spark_jobs", "spark_jobs/*"}
    for store in {artifacts, scoring, model}:
        bucket, prefix = store.split("/", 1)
        assert {prefix, f"{prefix}/*"} <= listed[bucket], store


@pytest.mark.parametrize(
    ("parameters", "bucket", "prefix"),
    [
        ({}, SOURCE_BUCKET, "ml-pipeline/artifacts"),
        ({"ArtifactBucketName": "team-artifacts", "ArtifactPrefix": "ml/store"}, "team-artifacts", "ml/store"),
    ],
    ids=["defaults", "own-bucket"],
)
def test_emr_job_role_trains_segments_only_in_classification_pipelines_runs(parameters, bucket, prefix):
    """train_segments.py reads its job.json and get_data's split and writes each segment's files, all under the run's
    prefix, <artifact_root>/classification_pipeline/<run_id>/; Spark lists the split files it reads."""
    assert 'dag_id="classification_pipeline"' in (REPO_ROOT / "dags" / "classification_pipeline.py").read_text()
    base = load("base.yaml")
    evaluate = Evaluator(base, {"EnableEmrServerless": "true", **parameters}, BASE_RESOURCES)
    by_sid = {s["Sid"]: s for s in evaluate.statements("EmrJobRole")}
    assert by_sid["ReadWriteTrainingRuns"] == {
        "Sid": "ReadWriteTrainingRuns",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}/classification_pipeline/*",
    }
    assert by_sid["ListArtifactStore"] == {
        "Sid": "ListArtifactStore",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{bucket}",
        "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
    }
    assert by_sid["ReadJobScriptAndPythonEnv"]["Resource"] == f"arn:aws:s3:::{SOURCE_BUCKET}/spark_jobs/*"


def test_execution_role_submits_emr_jobs_only_to_its_application_and_passes_only_the_job_role():
    environment = load("environment.yaml")
    evaluate = Evaluator(environment, {"SourceBucketName": "b", "EmrApplicationId": "00fabc123def4567"})
    by_sid = {s["Sid"]: s for s in evaluate.statements("ExecutionRole")}
    run = by_sid["EmrServerlessRunBatchPredictions"]
    # What EmrServerlessStartJobOperator calls: get_application, start_application (a STOPPED application),
    # start_job_run, get_job_run (waiting), cancel_job_run (on kill).
    assert set(run["Action"]) == {
        "emr-serverless:GetApplication",
        "emr-serverless:StartApplication",
        "emr-serverless:StartJobRun",
        "emr-serverless:GetJobRun",
        "emr-serverless:CancelJobRun",
    }
    assert run["Resource"] == [APPLICATION_ARN, APPLICATION_ARN + "/jobruns/*"]
    passes = [s for s in by_sid.values() if "iam:PassRole" in as_list(s["Action"])]
    assert passes == [by_sid["PassEmrJobRoleToEmrServerlessOnly"]]
    (pass_role,) = passes
    assert pass_role["Action"] == "iam:PassRole"
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}}
    # Exactly the base stack's job role (the two stacks share ProjectName).
    base = load("base.yaml")
    job_role_name = Evaluator(base, {"EnableEmrServerless": "true"}, BASE_RESOURCES)(
        base["Resources"]["EmrJobRole"]["Properties"]
    )["RoleName"]
    assert pass_role["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/{job_role_name}"


def pipeline_variable(parameters: dict[str, str]) -> dict[str, Any] | None:
    environment = load("environment.yaml")
    evaluate = Evaluator(environment, {"SourceBucketName": "src-bucket", **parameters})
    resource = environment["Resources"]["PipelineVariable"]
    if not evaluate.condition(resource["Condition"]):
        return None
    return json.loads(evaluate(resource["Properties"]["SecretString"]))


TRACKING_SERVER = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:mlflow-tracking-server/wine"


def test_pipeline_variable_carries_the_emr_keys():
    assert pipeline_variable(
        {
            "MlflowTrackingServerArn": TRACKING_SERVER,
            "EmrApplicationId": "00fabc123def4567",
            "EmrPythonEnvKey": "spark_jobs/pyspark_env.tar.gz",
        }
    ) == {
        "mlflow_tracking_uri": TRACKING_SERVER,
        "artifact_root": "s3://src-bucket/ml-pipeline/artifacts",
        "emr_application_id": "00fabc123def4567",
        "emr_execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/ml-pipeline-emr-job",
        "spark_job_script_uri": "s3://src-bucket/spark_jobs/score_batch.py",
        "emr_python_env_uri": "s3://src-bucket/spark_jobs/pyspark_env.tar.gz",
    }


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        # Without EMR the Variable is exactly what it was before EMR existed.
        (
            {"MlflowTrackingUri": "https://mlflow.example.com"},
            {
                "mlflow_tracking_uri": "https://mlflow.example.com",
                "artifact_root": "s3://src-bucket/ml-pipeline/artifacts",
            },
        ),
        # EMR alone creates it too; no tracking URI key then (the pipeline's default applies).
        (
            {"EmrApplicationId": "00fabc123def4567"},
            {
                "artifact_root": "s3://src-bucket/ml-pipeline/artifacts",
                "emr_application_id": "00fabc123def4567",
                "emr_execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/ml-pipeline-emr-job",
                "spark_job_script_uri": "s3://src-bucket/spark_jobs/score_batch.py",
                "emr_python_env_uri": "",  # the application's image has the libraries
            },
        ),
        ({}, None),
    ],
    ids=["tracking-only", "emr-only", "neither"],
)
def test_pipeline_variable_keys_follow_what_is_configured(parameters, expected):
    assert pipeline_variable(parameters) == expected


def test_the_alert_topic_outlives_the_environment_is_named_in_the_variable_and_is_all_the_role_publishes_to():
    topic = load("base.yaml")["Resources"]["AlertTopic"]
    assert "Condition" not in topic and topic["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    arn = f"arn:aws:sns:us-east-1:{ACCOUNT}:ml-pipeline-alerts"
    assert pipeline_variable({"AlertTopicArn": arn}) == {
        "artifact_root": "s3://src-bucket/ml-pipeline/artifacts",
        "alert_sns_topic_arn": arn,
    }
    role = load("environment.yaml")["Resources"]["ExecutionRole"]["Properties"]
    publishing = [s for s in statements(role) if "sns:" in json.dumps(s)]
    publish = {"Sid": "PublishAlerts", "Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "AlertTopicArn"}}
    assert publishing == [{"Fn::If": ["HasAlerts", publish, {"Ref": "AWS::NoValue"}]}]


def test_python_env_key_and_prefixes_cannot_widen_the_job_role():
    environment, base = load("environment.yaml"), load("base.yaml")
    env_key = environment["Parameters"]["EmrPythonEnvKey"]["AllowedPattern"]
    assert re.fullmatch(env_key, "spark_jobs/pyspark_env.tar.gz")
    for bad in ("dags/env.tar.gz", "pyspark_env.tar.gz", "spark_jobs/*"):
        assert not re.fullmatch(env_key, bad), bad
    for name in ("ArtifactPrefix", "ScoringSourcePrefix", "ModelArtifactPrefix"):
        pattern = base["Parameters"][name]["AllowedPattern"]
        assert re.fullmatch(pattern, "ml-pipeline/artifacts"), name
        for bad in ("*", "a/*", "/a", "a/"):
            assert not re.fullmatch(pattern, bad), (name, bad)
    # The base stack scopes the job role to the same artifact store the environment uses by default.
    assert base["Parameters"]["ArtifactPrefix"]["Default"] == environment["Parameters"]["ArtifactPrefix"]["Default"]
