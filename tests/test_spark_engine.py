"""The Spark engine: the job script in local Spark gives the local engine's output; on AWS the DAG submits the
same script to EMR Serverless (checked against a stubbed client)."""

import copy
import json
import runpy

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.stub import ANY, Stubber
from pipeline_runs import MODEL
from scoring_rows_fixture import BAD_ROWS

from ml_pipeline import contract
from ml_pipeline.config.model import SPARK_JOB_SCRIPT, PipelineConfig
from ml_pipeline.scoring.batch import pin_version, score_on_worker
from ml_pipeline.scoring.spark import SparkJobError, emr_job_run, run_locally
from ml_pipeline.store.objects import Storage


def plan_for(registry, source, output):
    config = PipelineConfig(mlflow_tracking_uri=registry, model_name=MODEL, scoring_source_uri=str(source),
                            scoring_engine="spark", max_rejected_fraction=0.1)  # fmt: skip
    return pin_version(config, str(output))


@pytest.fixture(scope="module")
def both_engines(registry, rows, tmp_path_factory):
    """The same rows scored by the local engine and by the job script in local Spark."""
    root = tmp_path_factory.mktemp("engines")
    score_on_worker(plan_for(registry, rows, root / "local"), Storage())
    run_locally(plan_for(registry, rows, root / "spark"), str(SPARK_JOB_SCRIPT), timeout_seconds=600)
    return root


def read(folder):
    return pd.read_parquet(folder).astype({"id": int}).sort_values("id").reset_index(drop=True)


def test_spark_scores_every_row_as_the_local_engine_does(both_engines):
    local, spark = read(both_engines / "local" / "predictions"), read(both_engines / "spark" / "predictions")
    assert list(spark.columns) == list(local.columns)
    assert spark["prediction"].tolist() == local["prediction"].tolist()
    probabilities = [column for column in local.columns if column.startswith(contract.PROBABILITY_PREFIX)]
    np.testing.assert_allclose(spark[probabilities].to_numpy(), local[probabilities].to_numpy())
    np.testing.assert_allclose(spark[probabilities].sum(axis=1), 1.0)
    assert set(spark["model_version"]) == {"1"} and set(spark["model_name"]) == {MODEL}


def test_spark_rejects_the_same_rows_for_the_same_reasons(both_engines):
    rejected = read(both_engines / "spark" / "rejected")
    assert dict(zip(rejected["id"], rejected["reason"], strict=True)) == {
        row_id: reason for row_id, (_, _, reason) in BAD_ROWS.items()
    }


def test_spark_writes_the_counts_the_dag_checks(both_engines):
    (counts_file,) = (both_engines / "spark" / contract.COUNTS_DIR).glob("*.json")
    counts = json.loads(counts_file.read_text())
    assert (counts["rows_in"], counts["rows_scored"], counts["rows_rejected"]) == (43, 40, 3)


def test_the_job_marks_nothing_complete_the_dag_has_not_checked(both_engines):
    assert [str(path) for path in (both_engines / "spark").rglob(contract.COMPLETE_MARKER)] == [], (
        "only publish_predictions writes _SUCCESS, once the counts pass"
    )


def test_a_source_without_the_models_columns_fails_with_the_jobs_one_line(registry, tmp_path):
    pd.DataFrame({"alcohol": [13.0]}).to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(SparkJobError, match=r"rows.csv lacks columns the model needs: malic_acid, ash"):
        run_locally(plan_for(registry, tmp_path / "rows.csv", tmp_path / "out"), str(SPARK_JOB_SCRIPT), 600)


def test_the_job_script_names_its_columns_as_the_contract_does():
    job = runpy.run_path(str(SPARK_JOB_SCRIPT))  # as a module, not as __main__: nothing runs
    for name in ("PREDICTION", "PROBABILITY_PREFIX", "MODEL_NAME_COLUMN", "MODEL_VERSION_COLUMN", "SCORED_AT",
                 "REASON", "PREDICTIONS_DIR", "REJECTED_DIR", "COUNTS_DIR", "BUNDLED_SOURCE"):  # fmt: skip
        assert job[name] == getattr(contract, name), name


# ---- EMR Serverless ----
APPLICATION = "00fexample1234"
ROLE = "arn:aws:iam::123456789012:role/ml-pipeline-emr-job"
SCRIPT = "s3://bucket/spark_jobs/score_batch.py"
APPLICATION_ARN = f"arn:aws:emr-serverless:us-east-1:123456789012:/applications/{APPLICATION}"
ENVIRONMENT = "s3://bucket/spark_jobs/pyspark_env.tar.gz"


def s3_plan() -> contract.ScoringPlan:
    return contract.ScoringPlan(
        model_name=MODEL,
        model_version="4",
        model_uri=f"models:/{MODEL}/4",
        artifact_uri="s3://mlflow-artifacts/models/m-1/artifacts",
        tracking_uri="arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/ml",
        source="s3://bucket/new-rows/",
        output_uri="s3://bucket/ml/batch_predictions/scheduled__2026-11-23",
        engine="emr-serverless",
        max_rejected_fraction=0.01,
    )


def emr_settings(**settings):
    """An operator's settings for EMR Serverless, as the Variable would hold them."""
    defaults = {"emr_application_id": APPLICATION, "emr_execution_role_arn": ROLE, "spark_job_script_uri": SCRIPT,
                "artifact_root": "s3://bucket/ml"}  # fmt: skip
    return PipelineConfig(**defaults | settings)


def test_the_dag_submits_the_job_script_to_emr_serverless_with_the_pinned_version(dagbag):
    job = emr_job_run(s3_plan(), emr_settings(emr_python_env_uri=ENVIRONMENT))
    task = dagbag.dags["batch_predictions"].get_task("score_on_emr")
    wired = {"application_id", "execution_role_arn", "job_driver", "configuration_overrides", "name", "aws_conn_id"}
    assert {field for field in wired if getattr(task, field).operator.task_id == "emr_job"} == wired
    operator = copy.copy(task)
    for field in wired:
        setattr(operator, field, job[field])
    client = boto3.client("emr-serverless", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    expected_driver = {
        "entryPoint": SCRIPT,
        "entryPointArguments": [
            *("--model-uri", "s3://mlflow-artifacts/models/m-1/artifacts", "--model-name", MODEL),
            *("--model-version", "4", "--source", "s3://bucket/new-rows/"),
            *("--output", "s3://bucket/ml/batch_predictions/scheduled__2026-11-23"),
        ],
        "sparkSubmitParameters": f"--conf spark.archives={ENVIRONMENT}#environment "
        "--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON=./environment/bin/python "
        "--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python "
        "--conf spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python",
    }
    with Stubber(client) as stub:
        stub.add_response("get_application", {"application": application("STARTED")}, {"applicationId": APPLICATION})
        stub.add_response(
            "start_job_run",
            {
                "applicationId": APPLICATION,
                "jobRunId": "run-1",
                "arn": f"{APPLICATION_ARN}/jobruns/run-1",
                "ResponseMetadata": {"HTTPStatusCode": 200},
            },
            {
                "clientToken": ANY,
                "applicationId": APPLICATION,
                "executionRoleArn": ROLE,
                "jobDriver": {"sparkSubmit": expected_driver},
                "configurationOverrides": {
                    "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://bucket/ml/emr-logs/"}}
                },
                "name": f"score {MODEL} v4",
                "executionTimeoutMinutes": 120,
            },
        )
        stub.add_response(
            "get_job_run", {"jobRun": job_run("SUCCESS")}, {"applicationId": APPLICATION, "jobRunId": "run-1"}
        )
        operator.hook.__dict__["conn"] = client
        assert operator.execute({"ti": FakeTaskInstance()}) == "run-1"
        stub.assert_no_pending_responses()


def test_emr_needs_s3_for_the_script_the_source_and_the_output():
    plan = s3_plan() | {"source": "/home/me/rows.csv"}
    with pytest.raises(Exception, match="EMR Serverless reads and writes S3 only, not /home/me/rows.csv"):
        emr_job_run(plan, emr_settings())
    with pytest.raises(Exception, match="must be an s3:// URI for EMR"):
        emr_job_run(s3_plan(), emr_settings(spark_job_script_uri=str(SPARK_JOB_SCRIPT)))


def application(state):
    return {"applicationId": APPLICATION, "name": "scoring", "arn": APPLICATION_ARN, "releaseLabel": "emr-7.12.0",
            "type": "Spark", "state": state, "createdAt": 0, "updatedAt": 0}  # fmt: skip


def job_run(state):
    return {"applicationId": APPLICATION, "jobRunId": "run-1", "arn": f"{APPLICATION_ARN}/jobruns/run-1",
            "createdBy": "arn:aws:iam::123456789012:role/mwaa",
            "createdAt": 0, "updatedAt": 0, "executionRole": ROLE, "state": state, "stateDetails": "done",
            "releaseLabel": "emr-7.12.0", "jobDriver": {"sparkSubmit": {"entryPoint": SCRIPT}}}  # fmt: skip


class FakeTaskInstance:
    """persist_links pushes the job's console links through XCom; nothing here reads them."""

    def xcom_push(self, key, value):
        pass
