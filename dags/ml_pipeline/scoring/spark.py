"""The Spark engine: the same job script (spark_jobs/score_batch.py, with its modules source_reading.py and
drift_counts.py beside it) run by spark-submit in local mode on this machine, or submitted to EMR Serverless on AWS,
where MWAA's workers have no Java or pyspark.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import BUNDLED_SOURCE, EmrJob, ScoringPlan
from ml_pipeline.errors import ConfigError, PipelineError
from ml_pipeline.store.objects import join

LOCAL_MASTER = "local[*]"
ENVIRONMENT = "./environment/bin/python"  # the venv-pack archive, unpacked by EMR as `environment`
JOB_ERROR = "score_batch: error: "  # how the job script starts the one line that says why it refused its input
# The job's modules, beside the script wherever it is.
JOB_MODULES = ("source_reading.py", "drift_counts.py", "segment_routing.py")


class SparkJobError(PipelineError):
    """The Spark job refused its input or failed; the message is the job's own last line."""

    label = "Spark job failed"


def job_arguments(plan: ScoringPlan, model_uri: str) -> list[str]:
    arguments = ["--model-uri", model_uri, "--model-name", plan["model_name"], "--model-version"]
    arguments += [plan["model_version"], "--source", plan["source"] or BUNDLED_SOURCE, "--output", plan["output_uri"]]
    arguments += ["--csv-encoding", plan["csv_encoding"]]
    if model_uri.startswith("models:/"):  # resolved through the registry, not read from storage
        arguments += ["--tracking-uri", plan["tracking_uri"]]
    return arguments


def job_modules(script: str) -> str:
    """Where the job's modules are, from where its script is (a path or an s3:// URI), as `--py-files` ships them."""
    folder = script.rsplit("/", 1)[0]
    return ",".join(f"{folder}/{module}" for module in JOB_MODULES)


def run_locally(plan: ScoringPlan, script: str, timeout_seconds: float) -> None:
    """score_batch.py in local Spark with this interpreter's packages; Spark's output goes to the task log."""
    for uri in (plan["source"], plan["output_uri"]):
        if uri.startswith("s3://"):
            raise ConfigError(f"local Spark reads and writes local paths only, not {uri}; use EMR Serverless for S3")
    submit_locally(script, job_modules(script), job_arguments(plan, plan["model_uri"]), timeout_seconds, JOB_ERROR)


def submit_locally(
    script: str, py_files: str, arguments: list[str], timeout_seconds: float, job_error: str,
    python_path: str | None = None,
) -> None:  # fmt: skip
    """spark-submit in local mode; a refusal is the job's own last line that starts with `job_error`."""
    spark_submit = Path(sys.executable).with_name("spark-submit")
    if not spark_submit.exists():
        raise ConfigError(
            "the spark engine needs pyspark (a development dependency) on this machine, or EMR Serverless: "
            "set emr_application_id and emr_execution_role_arn"
        )
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        raise ConfigError("local Spark needs Java 17 or newer: run scripts/ensure_java.sh (or set JAVA_HOME)")
    environment = os.environ | {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    if python_path:  # the driver's and the Python workers' imports, in local mode
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [python_path, os.environ.get("PYTHONPATH")]))
    command = [str(spark_submit), "--master", LOCAL_MASTER, "--conf", "spark.ui.enabled=false"]
    command += ["--conf", "spark.log.level=WARN", *(["--py-files", py_files] if py_files else []), script, *arguments]
    try:
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        raise SparkJobError(f"the local Spark job did not finish within {timeout_seconds:.0f} s") from None
    logging.getLogger(__name__).info("spark-submit output:\n%s%s", done.stdout, done.stderr)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).splitlines()  # spark-submit may relay the job's stderr on stdout
        lines = [line for line in output if line.startswith(job_error)]
        reason = lines[-1].removeprefix(job_error) if lines else f"exit code {done.returncode}"
        raise SparkJobError(f"{reason} (spark-submit's output is in this task's log)")


def emr_job_run(plan: ScoringPlan, config: PipelineConfig) -> EmrJob:
    """The job run for EMR Serverless: the pinned version's files straight from S3, the output under the run."""
    script_uri = config.spark_job_script_uri
    if not script_uri.startswith("s3://"):
        raise ConfigError(f"spark_job_script_uri {script_uri!r} must be an s3:// URI for EMR (make deploy uploads it)")
    for uri in (plan["source"], plan["output_uri"]):
        if not uri.startswith("s3://"):
            raise ConfigError(f"EMR Serverless reads and writes S3 only, not {uri or 'the bundled Wine data'}")
    model_uri = plan["artifact_uri"] if plan["artifact_uri"].startswith("s3://") else plan["model_uri"]
    name = f"score {plan['model_name']} v{plan['model_version']}"
    return emr_job(config, name, script_uri, job_modules(script_uri), job_arguments(plan, model_uri))


def emr_job(config: PipelineConfig, name: str, script_uri: str, py_files: str, arguments: list[str]) -> EmrJob:
    """A job run of the script on the EMR Serverless application, in the packaged environment when there is one."""
    parameters = f"--py-files {py_files}"
    if config.emr_python_env_uri:
        parameters += "".join(
            f" --conf {setting}"
            for setting in (
                f"spark.archives={config.emr_python_env_uri}#environment",
                f"spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON={ENVIRONMENT}",
                f"spark.emr-serverless.driverEnv.PYSPARK_PYTHON={ENVIRONMENT}",
                f"spark.executorEnv.PYSPARK_PYTHON={ENVIRONMENT}",
            )
        )
    driver = {"entryPoint": script_uri, "entryPointArguments": arguments}
    log_uri = join(config.artifact_root, "emr-logs") + "/"
    return EmrJob(
        application_id=config.emr_application_id,
        execution_role_arn=config.emr_execution_role_arn,
        aws_conn_id=config.aws_conn_id,
        name=name,
        job_driver={"sparkSubmit": driver | {"sparkSubmitParameters": parameters}},
        configuration_overrides={"monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": log_uri}}},
    )
