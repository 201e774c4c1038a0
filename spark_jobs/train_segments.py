"""Train one model per segment on Spark: EMR Serverless on AWS, local mode on a laptop (segment_engine=spark).

classification_pipeline's plan_segments submits this file with a job description it wrote to the store. The job
reads get_data's split, groups its rows by segment (`groupBy(...).applyInPandas`: one segment's rows at a time in
one Python worker, so memory follows the largest segment, not the table) and runs, per segment, the airflow engine's
own functions (dags/ml_pipeline/segments/spark_engine.py). Models, evaluations and the manifest go to the artifact
store; persist_segments registers them. Unlike score_batch.py it needs ml_pipeline (ml_pipeline.zip, --py-files).

    spark-submit --py-files ml_pipeline.zip spark_jobs/train_segments.py --job s3://bucket/<run>/segments/_spark/job.json
"""

from __future__ import annotations

import argparse
import json
import sys

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ml_pipeline.errors import PipelineError
from ml_pipeline.segments.snapshot import check_values
from ml_pipeline.segments.spark_engine import (
    IN_HOLDOUT,
    JOB_ERROR,
    RESULT_SCHEMA,
    ROW_ORDER,
    SegmentTrainer,
    TrainingJob,
    write_trained,
)
from ml_pipeline.store.objects import Storage

# Tasks per core at start: a slow segment holds up a quarter of a core's share, not all of it; and at least
# MIN_TASKS, so that on EMR Serverless dynamic allocation has tasks to grow the executors for.
TASKS_PER_CORE, MIN_TASKS = 4, 64


def split_rows(spark: SparkSession, job: TrainingJob) -> DataFrame:
    """get_data's train and holdout rows, each marked with its split and its place in the file."""
    dataset = job["dataset"]
    parts = [
        spark.read.parquet(uri)
        .withColumn(IN_HOLDOUT, F.lit(holdout))
        .withColumn(ROW_ORDER, F.monotonically_increasing_id())  # increases along the file
        for uri, holdout in ((dataset["train_uri"], False), (dataset["holdout_uri"], True))
    ]
    return parts[0].unionByName(parts[1])


def spread_segments(spark: SparkSession, segments: int) -> None:
    """A task per few segments on every core. Spark sizes shuffle partitions by bytes, and adaptive execution merges
    small ones: a table of a thousand segments of a thousand rows would then train in one task on one core."""
    cores = spark.sparkContext.defaultParallelism
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    tasks = min(segments, max(TASKS_PER_CORE * cores, MIN_TASKS))
    spark.conf.set("spark.sql.shuffle.partitions", str(max(1, tasks)))


def train(spark: SparkSession, job: TrainingJob, storage: Storage) -> int:
    trainer = SegmentTrainer.from_job(job, storage)
    column = trainer.schema.segment_column or ""
    rows = split_rows(spark, job)
    values = [str(row[0]) for row in rows.select(column).distinct().collect() if row[0] is not None]
    check_values(sorted(values), column, trainer.config.max_segments)
    spread_segments(spark, len(values))
    segments = rows.groupBy(column).applyInPandas(lambda segment: trainer(segment), schema=RESULT_SCHEMA)
    documents = segments.collect()
    groups = write_trained(job, [row.result for row in documents], storage)
    return sum(group["segments"] for group in groups)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="train_segments", description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, help="the job description plan_segments wrote (a path or s3:// URI)")
    args = parser.parse_args(argv)
    storage = Storage()
    spark = SparkSession.builder.appName("train segments").getOrCreate()
    try:
        job: TrainingJob = json.loads(storage.read_bytes(args.job))
        trained = train(spark, job, storage)
    except (PipelineError, AnalysisException) as error:
        line = " ".join(str(error).split()) if isinstance(error, PipelineError) else str(error).strip().splitlines()[0]
        print(f"{JOB_ERROR}{line}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    print(f"train_segments: {trained} segments trained")
    return 0


if __name__ == "__main__":
    sys.exit(main())
