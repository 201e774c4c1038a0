"""Score a source with one registered model version on Spark: EMR Serverless on AWS, local mode on a laptop.

The batch_predictions DAG submits this file (`scoring_engine=spark`). It applies the local engine's rules
(dags/ml_pipeline/scoring/rows.py) as Spark expressions, and runs the model through MLflow's own Spark integration,
`mlflow.pyfunc.spark_udf`. It needs only pyspark, mlflow and scikit-learn, so it runs in the job's own Python
environment (docs/emr-serverless.md, "How the model's Python environment reaches EMR Serverless"). Under --output
it writes predictions/, rejected/ and _counts/; the DAG writes the `_SUCCESS` marker once it has checked the counts.

    spark-submit spark_jobs/score_batch.py --model-uri models:/wine-classifier/3 --model-name wine-classifier \\
        --model-version 3 --source s3://bucket/new-rows/ --output s3://bucket/batch_predictions/<run>/
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# The output's layout and columns: the same names as dags/ml_pipeline/contract.py (a test holds them equal).
PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability_"
MODEL_NAME_COLUMN = "model_name"
MODEL_VERSION_COLUMN = "model_version"
SCORED_AT = "scored_at"
REASON = "reason"
PREDICTIONS_DIR = "predictions"
REJECTED_DIR = "rejected"
COUNTS_DIR = "_counts"
BUNDLED_SOURCE = "sklearn:wine"
MISSING, NOT_A_NUMBER, NOT_FINITE = "{column} is missing", "{column} is not a number", "{column} is not finite"
RESULT_TYPES = {"i": "long", "u": "long", "f": "double", "b": "boolean"}  # numpy kind -> Spark type; else string


class JobError(Exception):
    """Input the job cannot score; its message is the one line the DAG reports."""


@dataclass(frozen=True)
class PinnedModel:
    path: str  # the version's files, downloaded once on the driver
    probability_view: str  # the same files, with the pyfunc flavor answering predict_proba
    features: list[str]
    classes: list[Any]
    class_type: str


def pinned_model(model_uri: str) -> PinnedModel:
    """Download the version once; spark_udf ships it to the executors.

    MLflow's pyfunc flavor of a scikit-learn model answers `predict`; its `predict_fn` setting can name
    `predict_proba` instead, so a copy with only that setting changed gives the probabilities of the same model.
    """
    import mlflow
    from mlflow.models import Model

    path = mlflow.artifacts.download_artifacts(model_uri)
    metadata = Model.load(path)
    schema = metadata.get_input_schema()
    if schema is None:
        raise JobError(f"{model_uri} has no input signature; register it with one")
    view = tempfile.mkdtemp(prefix="probability-view-")
    shutil.copytree(path, view, dirs_exist_ok=True)
    metadata.flavors["python_function"]["predict_fn"] = "predict_proba"
    metadata.signature = None  # its outputs describe classes, not probabilities
    metadata.save(os.path.join(view, "MLmodel"))
    classes = mlflow.sklearn.load_model(path).classes_
    return PinnedModel(
        path, view, schema.input_names(), classes.tolist(), RESULT_TYPES.get(classes.dtype.kind, "string")
    )


def read_source(spark: Any, source: str) -> Any:
    """A CSV file, or a Parquet file or folder (local or s3://), or the bundled Wine features."""
    if source == BUNDLED_SOURCE:
        from sklearn.datasets import load_wine

        return spark.createDataFrame(load_wine(as_frame=True).data)
    if source.lower().endswith(".csv"):
        return spark.read.csv(source, header=True, inferSchema=True)
    return spark.read.parquet(source)


def check_columns(frame: Any, model: PinnedModel, source: str) -> None:
    from pyspark.sql.types import BooleanType

    missing = [column for column in model.features if column not in frame.columns]
    if missing:
        raise JobError(f"{source} lacks columns the model needs: {', '.join(missing)}")
    added = [PREDICTION, *probability_columns(model), MODEL_NAME_COLUMN, MODEL_VERSION_COLUMN, SCORED_AT, REASON]
    clashes = [column for column in added if column in frame.columns]
    if clashes:
        raise JobError(f"{source} already has columns named {', '.join(clashes)}, which scoring adds; rename them")
    booleans = [column for column in model.features if isinstance(frame.schema[column].dataType, BooleanType)]
    if booleans:
        raise JobError(f"{source}: feature columns {', '.join(booleans)} hold booleans; features are numbers")


def probability_columns(model: PinnedModel) -> list[str]:
    return [f"{PROBABILITY_PREFIX}{label}" for label in model.classes]


def reject_reason(features: list[str]) -> Any:
    """Why a row cannot be scored (the first bad feature, in the model's order), or null."""
    from pyspark.sql import functions as F

    checks = []
    for column in features:
        raw = F.col(f"`{column}`")
        value = F.expr(f"try_cast(`{column}` AS DOUBLE)")  # SQL's try_cast: Spark 3.5 (EMR 7) has no Column method
        checks.append(
            F.when(raw.isNull() | F.isnan(value), MISSING.format(column=column))
            .when(value.isNull(), NOT_A_NUMBER.format(column=column))
            .when(value.isin(float("inf"), float("-inf")), NOT_FINITE.format(column=column))
        )
    return F.coalesce(*checks)


def scored(frame: Any, model: PinnedModel, name: str, version: str, scored_at: datetime) -> Any:
    """Valid rows with numeric features, the class, one probability per class, and the version that scored them."""
    import mlflow
    from pyspark.sql import functions as F

    spark = frame.sparkSession
    predict = mlflow.pyfunc.spark_udf(spark, model.path, result_type=model.class_type, env_manager="local")
    probabilities = mlflow.pyfunc.spark_udf(
        spark, model.probability_view, result_type="array<double>", env_manager="local"
    )
    for column in model.features:
        frame = frame.withColumn(column, F.col(f"`{column}`").cast("double"))
    inputs = F.struct(*[F.col(f"`{column}`") for column in model.features])
    frame = frame.withColumn(PREDICTION, predict(inputs)).withColumn("_probabilities", probabilities(inputs))
    for position, column in enumerate(probability_columns(model)):
        frame = frame.withColumn(column, F.col("_probabilities")[position])
    return (
        frame.drop("_probabilities")
        .withColumn(MODEL_NAME_COLUMN, F.lit(name))
        .withColumn(MODEL_VERSION_COLUMN, F.lit(version))
        .withColumn(SCORED_AT, F.lit(scored_at))
    )


def clear(spark: Any, output: str) -> None:
    """Remove an earlier attempt's output (its marker too) through Hadoop's file system: local, s3://, ..."""
    path = spark._jvm.org.apache.hadoop.fs.Path(output)
    path.getFileSystem(spark._jsc.hadoopConfiguration()).delete(path, True)


def score(spark: Any, args: argparse.Namespace) -> dict[str, Any]:
    from pyspark.sql import functions as F

    output = args.output.rstrip("/")
    clear(spark, output)
    model = pinned_model(args.model_uri)
    started, scored_at = time.monotonic(), datetime.now(UTC)
    frame = read_source(spark, args.source)
    check_columns(frame, model, args.source)
    marked = frame.withColumn(REASON, reject_reason(model.features))
    valid = marked.filter(F.col(REASON).isNull()).drop(REASON)
    scored(valid, model, args.model_name, args.model_version, scored_at).write.parquet(f"{output}/{PREDICTIONS_DIR}")
    as_text = [F.col(f"`{column}`").cast("string").alias(column) for column in frame.columns]
    marked.filter(F.col(REASON).isNotNull()).select(*as_text, REASON).write.parquet(f"{output}/{REJECTED_DIR}")
    rows_scored = spark.read.parquet(f"{output}/{PREDICTIONS_DIR}").count()
    rows_rejected = spark.read.parquet(f"{output}/{REJECTED_DIR}").count()
    counts = {
        "rows_in": rows_scored + rows_rejected,
        "rows_scored": rows_scored,
        "rows_rejected": rows_rejected,
        "seconds": round(time.monotonic() - started, 3),
    }
    spark.createDataFrame([counts]).coalesce(1).write.json(f"{output}/{COUNTS_DIR}")
    return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="score_batch", description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", required=True, help="models:/<name>/<version>, or the version's files")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--model-version", required=True)
    parser.add_argument("--source", required=True, help=f"a .csv/.parquet file, a Parquet folder, or {BUNDLED_SOURCE}")
    parser.add_argument("--output", required=True, help="this run's output prefix")
    parser.add_argument("--tracking-uri", default="", help="MLflow, when --model-uri is a models:/ URI")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tracking_uri:
        import mlflow

        mlflow.set_tracking_uri(args.tracking_uri)
    from pyspark.sql import SparkSession

    # No Hadoop _SUCCESS marker in predictions/, rejected/ or _counts/: Spark and Hive readers trust one, and the
    # output is complete only when the DAG has checked the counts and written the run's own _SUCCESS.
    spark = (
        SparkSession.builder.appName(f"score {args.model_name} v{args.model_version}")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .getOrCreate()
    )
    from pyspark.errors import AnalysisException

    try:
        counts = score(spark, args)
    except (JobError, AnalysisException) as error:
        line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"score_batch: error: {line}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    print(f"score_batch: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
