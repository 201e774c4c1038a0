"""segment_engine spark trains each segment with the airflow engine's own functions, in local Spark here (EMR
Serverless on AWS): on the same data and seed both engines write the same manifest, snapshots and models' metrics,
and what Spark trained is registered and routed as the airflow engine's is."""

from __future__ import annotations

import pandas as pd
import pytest
import tables
from pipeline_runs import DAG_ID, alias, run_config

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import RunIds
from ml_pipeline.data.snapshot import snapshot_dataset
from ml_pipeline.errors import ConfigError
from ml_pipeline.registry.publish import persist
from ml_pipeline.scoring.spark import SparkJobError
from ml_pipeline.segments.persist import persist_group
from ml_pipeline.segments.plan import fallback_settings, read_manifest
from ml_pipeline.segments.router import publish_router
from ml_pipeline.segments.spark_engine import emr_training_job, plan_segments
from ml_pipeline.segments.train import read_results, train_group
from ml_pipeline.store.objects import Storage, join
from ml_pipeline.training.train import train_and_evaluate

SETTINGS = {"target_column": "bought", "segment_column": "store", "min_segment_rows": 100}


def stores_table():
    """Six stores with rules of their own, one too small for a model, and a few rows without a store."""
    tiny = tables.segmented(segments=1, rows=60, seed=3).assign(store="tiny")
    return pd.concat([tables.segmented(segments=6, rows=250), tiny], ignore_index=True)


def trained_by(engine: str, root, source):
    """plan_segments and every group's train_segments on that engine; the manifest and results by segment."""
    config = run_config(root, "unused", source_uri=str(source), segment_engine=engine, **SETTINGS)
    storage, prefix = Storage(), join(str(root), DAG_ID, "run")
    dataset = snapshot_dataset(config, prefix, storage)
    candidates = [spec.as_candidate() for spec in config.candidate_list()]
    groups = plan_segments(config, prefix, storage, dataset, candidates, max_map_length=1024, timeout_s=600)
    results = {}
    for group in groups:
        for trained in read_results(storage, train_group(config, prefix, storage, group, candidates)):
            results[trained["segment"]] = trained
    manifest = read_manifest(storage, join(prefix, "segments", "manifest.json"))
    return config, dataset, candidates, groups, manifest, results


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    source = tmp_path_factory.mktemp("table") / "stores.csv"
    stores_table().to_csv(source, index=False)
    return {engine: trained_by(engine, tmp_path_factory.mktemp(engine), source) for engine in ("airflow", "spark")}


def without_locations(manifest):
    """The manifest with each snapshot's file locations left out: each engine wrote under its own root."""
    return [entry | {"dataset": entry["dataset"] and {key: value for key, value in entry["dataset"].items()
                                                      if not key.endswith("_uri")}} for entry in manifest]  # fmt: skip


def metrics_of(results):
    by_candidate = {segment: {training["candidate"]: (training["metrics"], training["fingerprint"])
                              for training in trained["trainings"]}
                    for segment, trained in results.items()}  # fmt: skip
    return by_candidate, {segment: trained["failures"] for segment, trained in results.items()}


def test_both_engines_make_the_same_segments_snapshots_and_models(engines):
    *_, airflow_groups, airflow_manifest, airflow_results = engines["airflow"]
    *_, spark_groups, spark_manifest, spark_results = engines["spark"]
    assert without_locations(spark_manifest) == without_locations(airflow_manifest)
    reasons = {entry["segment"]: entry["reason"] for entry in spark_manifest}
    assert reasons == {**{f"store 0{number}": None for number in range(6)},
                       "tiny": "60 rows, fewer than min_segment_rows (100)"}  # fmt: skip
    assert [group["label"] for group in spark_groups] == [group["label"] for group in airflow_groups]
    assert metrics_of(spark_results) == metrics_of(airflow_results)
    assert set(spark_results) == {f"store 0{number}" for number in range(6)}
    assert all(len(trained["trainings"]) == 3 for trained in spark_results.values()), "every candidate trained"


def test_what_spark_trained_is_registered_per_segment_and_routed(engines, tracking_uri):
    config, dataset, candidates, groups, _, _ = engines["spark"]
    config = config.model_copy(update={"mlflow_tracking_uri": tracking_uri})
    storage, run, prefix = Storage(), RunIds(DAG_ID, "run"), join(config.artifact_root, DAG_ID, "run")
    trainings = [train_and_evaluate(dataset, prefix, storage, candidate) for candidate in candidates]
    persist(fallback_settings(config), run, storage, dataset, candidates, trainings, {})
    persisted = [persist_group(config, run, storage, group, train_group(config, prefix, storage, group, candidates),
                               candidates) for group in groups]  # fmt: skip
    assert sum(result["promoted"] for result in persisted) == 6
    router = publish_router(config, run, prefix, storage, dataset)
    assert (router["segments_routed"], router["promoted"]) == (6, True)
    assert alias("champion") == router["version"]


def test_spark_refuses_an_identifier_for_a_segment_column_with_one_line(tmp_path):
    source = tmp_path / "stores.csv"
    stores_table().to_csv(source, index=False)
    refused = r"^segment_column store has 7 distinct values, more than max_segments \(3\)"
    with pytest.raises(SparkJobError, match=refused):
        plan_on_spark(tmp_path, source, max_segments=3)


def plan_on_spark(root, source, **settings):
    config = run_config(root, "unused", source_uri=str(source), segment_engine="spark", **SETTINGS | settings)
    storage, prefix = Storage(), join(str(root), DAG_ID, "run")
    dataset = snapshot_dataset(config, prefix, storage)
    return plan_segments(config, prefix, storage, dataset, [], max_map_length=1024, timeout_s=600)


def test_on_emr_the_job_runs_the_uploaded_script_with_this_package():
    config = PipelineConfig(
        segment_engine="spark", emr_application_id="00abc", emr_execution_role_arn="arn:aws:iam::1:role/job",
        spark_job_script_uri="s3://source/spark_jobs/score_batch.py", artifact_root="s3://artifacts/ml",
        **SETTINGS,
    )  # fmt: skip
    job = emr_training_job(config, "s3://artifacts/ml/classification_pipeline/run", "s3://artifacts/ml/job.json")
    submit = job["job_driver"]["sparkSubmit"]
    assert submit["entryPoint"] == "s3://source/spark_jobs/train_segments.py"
    assert submit["entryPointArguments"] == ["--job", "s3://artifacts/ml/job.json"]
    assert submit["sparkSubmitParameters"] == "--py-files s3://source/spark_jobs/ml_pipeline.zip"
    assert (job["application_id"], job["execution_role_arn"]) == ("00abc", "arn:aws:iam::1:role/job")
    local = config.model_copy(update={"artifact_root": "/tmp/ml"})
    with pytest.raises(ConfigError, match="EMR Serverless reads S3 only"):
        emr_training_job(local, "/tmp/ml/classification_pipeline/run", "/tmp/ml/job.json")
