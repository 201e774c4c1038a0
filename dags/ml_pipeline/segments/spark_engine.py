"""segment_engine spark: spark_jobs/train_segments.py groups get_data's split by segment (`applyInPandas`) and runs,
once per segment, what the airflow engine runs (snapshot_segment, then train_segment), in local Spark on the worker
or on EMR Serverless. It writes the manifest and the groups' results as the airflow engine does, so persist_segments
and publish_router go on unchanged.

The job ships this package (ml_pipeline.zip beside the job script on EMR; PYTHONPATH in local mode).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pandas as pd

import ml_pipeline
from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import Candidate, DatasetSnapshot, EmrJob
from ml_pipeline.data.schema import DatasetSchema
from ml_pipeline.data.snapshot import Split
from ml_pipeline.data.splits import read_schema
from ml_pipeline.errors import ConfigError
from ml_pipeline.scoring.spark import emr_job, submit_locally
from ml_pipeline.segments.contract import SegmentGroup
from ml_pipeline.segments.plan import in_group, read_manifest
from ml_pipeline.segments.snapshot import groups_of, snapshot_segment, write_manifest
from ml_pipeline.segments.snapshot import plan_segments as split_segments
from ml_pipeline.segments.train import train_segment, write_results
from ml_pipeline.store.objects import Storage, join

log = logging.getLogger(__name__)
JOB_SCRIPT = "train_segments.py"  # beside spark_job_script_uri (score_batch.py), locally and in S3
PACKAGE_ZIP = "ml_pipeline.zip"  # this package, beside it in S3 (make deploy uploads both)
JOB_ERROR = "train_segments: error: "
IN_HOLDOUT, ROW_ORDER = "_in_holdout", "_row_order"  # the job's marks: which split a row is in, and where
RESULT_SCHEMA = "result string"  # one JSON document per segment: its manifest entry and trainings


class TrainingJob(TypedDict):
    """What the job reads from the store (`--job`): everything the airflow engine's tasks get."""

    config: dict[str, Any]
    dataset: DatasetSnapshot
    candidates: list[Candidate]
    run_prefix: str
    max_map_length: int


def job_uri(run_prefix: str) -> str:
    return join(run_prefix, "segments", "_spark", "job.json")


def write_job(
    config: PipelineConfig, run_prefix: str, storage: Storage, dataset: DatasetSnapshot, candidates: list[Candidate],
    max_map_length: int,
) -> str:  # fmt: skip
    job = TrainingJob(config=config.model_dump(mode="json", exclude_none=True), dataset=dataset, candidates=candidates,
                      run_prefix=run_prefix, max_map_length=max_map_length)  # fmt: skip
    return storage.write_bytes(job_uri(run_prefix), json.dumps(job).encode())


def plan_segments(
    config: PipelineConfig, run_prefix: str, storage: Storage, dataset: DatasetSnapshot, candidates: list[Candidate],
    max_map_length: int, timeout_s: float,
) -> list[SegmentGroup]:  # fmt: skip
    """The plan_segments task: the airflow engine's split and groups, or, with segment_engine spark, the groups Spark
    trained (here in local Spark, or before this task on EMR Serverless)."""
    if config.segment_engine == "airflow":
        return split_segments(config, run_prefix, storage, dataset, max_map_length)
    if not config.emr_application_id:
        job = write_job(config, run_prefix, storage, dataset, candidates, max_map_length)
        train_locally(config, job, timeout_s)
    return trained_groups(storage, run_prefix)


def train_locally(config: PipelineConfig, job: str, timeout_s: float) -> None:
    """Run the job in local Spark on this worker (both cores), with this package on the Python path."""
    if job.startswith("s3://"):
        raise ConfigError(f"local Spark reads and writes local paths only, not {job}; use EMR Serverless for S3")
    script = join(config.spark_job_script_uri.rsplit("/", 1)[0], JOB_SCRIPT)
    package_folder = str(Path(ml_pipeline.__file__).parents[1])
    submit_locally(script, "", ["--job", job], timeout_s, JOB_ERROR, python_path=package_folder)


def emr_training_job(config: PipelineConfig, run_prefix: str, job: str) -> EmrJob:
    """The job run for EMR Serverless: the script and this package as make deploy uploaded them."""
    folder = config.spark_job_script_uri.rsplit("/", 1)[0]
    if not folder.startswith("s3://") or not job.startswith("s3://"):
        raise ConfigError(
            "EMR Serverless reads S3 only: spark_job_script_uri and artifact_root must be s3:// URIs, not "
            f"{config.spark_job_script_uri} and {config.artifact_root} (make deploy sets them)"
        )
    name = f"train segments of {config.model_name} ({run_prefix.rsplit('/', 1)[-1]})"
    return emr_job(config, name[:256], join(folder, JOB_SCRIPT), join(folder, PACKAGE_ZIP), ["--job", job])


def trained_groups(storage: Storage, run_prefix: str) -> list[SegmentGroup]:
    """The groups persist_segments registers, from the manifest the job wrote."""
    manifest_uri = join(run_prefix, "segments", "manifest.json")
    return groups_of(read_manifest(storage, manifest_uri), manifest_uri)


@dataclass(frozen=True)
class SegmentTrainer:
    """What each Spark task runs on one segment's rows (pickled to the executors, called by applyInPandas)."""

    config: PipelineConfig
    schema: DatasetSchema
    dataset: DatasetSnapshot
    candidates: list[Candidate]
    run_prefix: str

    @classmethod
    def from_job(cls, job: TrainingJob, storage: Storage) -> SegmentTrainer:
        config = PipelineConfig.model_validate(job["config"])
        schema = read_schema(job["dataset"]["schema_uri"], storage)
        return cls(config, schema, job["dataset"], job["candidates"], job["run_prefix"])

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        """One segment's rows, both splits, in any order -> one JSON document: its entry and trainings. Rows
        without a value (one group too) belong to no segment: the fallback serves them."""
        value = rows[self.schema.segment_column].iloc[0]
        if value is None or pd.isna(value):
            return pd.DataFrame({"result": pd.Series([], dtype=object)})
        rows = rows.sort_values([IN_HOLDOUT, ROW_ORDER], kind="stable")  # as the files list them
        holdout_rows = int(rows[IN_HOLDOUT].sum())
        data = rows.drop(columns=[IN_HOLDOUT, ROW_ORDER]).reset_index(drop=True)
        train, holdout = np.arange(len(data) - holdout_rows), np.arange(len(data) - holdout_rows, len(data))
        storage = Storage()
        split = Split(data, self.schema, train, holdout, len(data), 0, [])
        entry = snapshot_segment(split, str(value), train, holdout, self.dataset["schema_uri"], self.config,
                                 self.run_prefix, storage)  # fmt: skip
        trained = None
        if entry["reason"] is None:
            trained = train_segment(entry, self.run_prefix, storage, self.candidates, self.config.budget())
        return pd.DataFrame({"result": [json.dumps({"entry": entry, "trained": trained})]})


def write_trained(job: TrainingJob, documents: list[str], storage: Storage) -> list[SegmentGroup]:
    """On the driver: the manifest and each group's results, as the airflow engine writes them."""
    results = [json.loads(document) for document in documents]
    entries = [result["entry"] for result in results]
    config = PipelineConfig.model_validate(job["config"])
    groups = write_manifest(entries, config, job["run_prefix"], storage, job["max_map_length"])
    trained = {result["entry"]["slug"]: result["trained"] for result in results}
    for group in groups:
        members = in_group(entries, group["group"])
        write_results(storage, job["run_prefix"], group["group"], [trained[entry["slug"]] for entry in members])
    return groups
