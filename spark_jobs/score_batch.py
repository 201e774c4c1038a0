"""Score a source with one registered model version on Spark: EMR Serverless on AWS, local mode on a laptop.

The batch_predictions DAG submits this file (`scoring_engine=spark`). It applies the local engine's rules
(dags/ml_pipeline/scoring/rows.py) as Spark expressions, by the data set's schema the model carries (data/schema.py),
and runs the model through `mlflow.pyfunc.spark_udf`. It needs only pyspark, mlflow and scikit-learn, never
ml_pipeline, so it runs in the job's own Python environment (docs/emr-serverless.md). Under --output it writes
predictions/, rejected/, _counts/ and, when the version carries a drift reference, _drift/ (drift_counts.py); the DAG
writes the `_SUCCESS` marker once it has checked the counts.

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
from functools import reduce
from typing import Any

import mlflow
from mlflow.models import Model
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from drift_counts import drift_reference, write_drift_counts
from segment_routing import SEGMENT_MODEL_COLUMN, SEGMENT_VERSION_COLUMN, score_by_segment
from source_reading import BUNDLED_SOURCE, FLOATS, NUMBERS, JobError, as_text, col, hadoop, read_source, type_of

# The output's layout and columns: the same names as dags/ml_pipeline/contract.py (a test holds them equal).
PREDICTION = "prediction"
MODEL_NAME_COLUMN = "model_name"
MODEL_VERSION_COLUMN = "model_version"
SCORED_AT = "scored_at"
REASON = "reason"
PREDICTIONS_DIR = "predictions"
REJECTED_DIR = "rejected"
COUNTS_DIR = "_counts"
# As data/schema.py and scoring/rows.py have them (the same test holds them equal).
METADATA_KEY = "dataset_schema"
MISSING, NOT_A_NUMBER, NOT_FINITE = "{column} is missing", "{column} is not a number", "{column} is not finite"
# Text pandas' to_numeric takes for a number (Spark's cast also takes "1d" or "0x1p3"); blank or "nan" is missing.
NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$|^\s*[+-]?(?i:inf|infinity)\s*$"
BLANK_OR_NAN = r"^\s*(?i:nan)?\s*$"
RESULT_TYPES = {bool: "boolean", int: "long", str: "string"}  # the labels' Python type -> Spark type
SEGMENT_COLUMNS = (SEGMENT_MODEL_COLUMN, SEGMENT_VERSION_COLUMN)


@dataclass(frozen=True)
class PinnedModel:
    path: str  # the version's files, downloaded once on the driver
    probability_view: str  # the same files, with the pyfunc flavor answering predict_proba
    features: list[dict[str, Any]]  # data/schema.py's Feature as JSON, in the model's order
    probability_columns: list[str]  # one per label, in the model's order of classes
    label_type: str  # the labels' Spark type: text labels stay text
    drift_reference: dict[str, Any] | None  # data/profile.py's Profile as JSON; None for versions made before it
    segment_column: str | None  # a router's: each row's model is its segment's (segment_routing.py)
    routing_data: str  # a router's routing table, within `path`


def pinned_model(model_uri: str, work: str) -> PinnedModel:
    """Download the version once into `work` (spark_udf ships it to the executors) and read the schema and the drift
    reference its MLmodel file carries.

    MLflow's pyfunc flavor of a scikit-learn model answers `predict`; its `predict_fn` setting can name
    `predict_proba` instead, so a copy with only that setting changed gives the probabilities of the same model.
    """
    path = mlflow.artifacts.download_artifacts(model_uri, dst_path=os.path.join(work, "model"))
    metadata = Model.load(path)
    carried = metadata.metadata or {}
    schema = carried.get(METADATA_KEY)
    if schema is None:
        raise JobError(
            f"{model_uri} carries no data set schema (it was registered by an older version of this project); "
            "run classification_pipeline to register one that does"
        )
    view = os.path.join(work, "probability-view")
    shutil.copytree(path, view)
    metadata.flavors["python_function"]["predict_fn"] = "predict_proba"
    metadata.signature = None  # its outputs describe classes, not probabilities
    metadata.save(os.path.join(view, "MLmodel"))
    kinds = {type(label) for label in schema["labels"]}
    label_type = RESULT_TYPES.get(kinds.pop(), "string") if len(kinds) == 1 else "string"
    reference, segment_column = drift_reference(path, carried), schema.get("segment_column")
    routing = metadata.flavors["python_function"].get("data", "") if segment_column else ""
    return PinnedModel(path, view, schema["features"], schema["probability_columns"], label_type, reference,
                       segment_column, routing)  # fmt: skip


def check_columns(frame: DataFrame, model: PinnedModel, source: str) -> None:
    """As scoring/rows.py: the model's input columns are there, numeric ones not booleans, none scoring adds."""
    features = [feature["name"] for feature in model.features]
    features += [model.segment_column] if model.segment_column else []
    if missing := [name for name in features if name not in frame.columns]:
        raise JobError(f"{source} lacks columns the model needs: {', '.join(missing)}; give all {len(features)}")
    added = [PREDICTION, *model.probability_columns, MODEL_NAME_COLUMN, MODEL_VERSION_COLUMN, SCORED_AT, REASON]
    added += [SEGMENT_MODEL_COLUMN, SEGMENT_VERSION_COLUMN] if model.segment_column else []
    if clashes := [name for name in added if name in frame.columns]:
        raise JobError(f"{source} already has columns named {', '.join(clashes)}, which scoring adds; rename them")
    numeric = [feature["name"] for feature in model.features if feature["kind"] == "numeric"]
    if booleans := [name for name in numeric if type_of(frame, name) == "boolean"]:
        raise JobError(f"{source}: columns {', '.join(booleans)} hold booleans, but the model learned them as numbers")


def number(frame: DataFrame, name: str) -> Column:
    """A numeric feature as a double; null where it is text that pandas does not take for a number (try_cast in
    SQL: Spark 3.5, EMR 7's, has no Column method for it, and a plain cast fails the job on a word in ANSI mode)."""
    if type_of(frame, name) in NUMBERS:
        return col(name).cast("double")
    return F.when(col(name).cast("string").rlike(NUMBER), F.expr(f"try_cast(CAST(`{name}` AS STRING) AS DOUBLE)"))


def problems(frame: DataFrame, feature: dict[str, Any]) -> list[tuple[Column, str]]:
    """(condition, reason) for one feature, in the order scoring/rows.py reports them. Missing is null or NaN, and
    for a numeric feature read as text also blank or "nan"; it is a reason only where training had none."""
    name = feature["name"]
    missing = col(name).isNull()
    if type_of(frame, name) in FLOATS:
        missing |= F.isnan(col(name))
    elif feature["kind"] == "numeric" and type_of(frame, name) not in NUMBERS:
        missing |= F.lower(col(name).cast("string")).rlike(BLANK_OR_NAN)
    found = [] if feature["had_missing"] else [(missing, MISSING.format(column=name))]
    if feature["kind"] == "numeric":
        value = number(frame, name)
        found += [(~missing & value.isNull(), NOT_A_NUMBER.format(column=name)),
                  (value.isin(float("inf"), float("-inf")), NOT_FINITE.format(column=name))]  # fmt: skip
    return found


def reject_reason(frame: DataFrame, model: PinnedModel) -> Column:
    """Why a row cannot be scored (the first problem, in the model's feature order), or null. A category training
    never saw is no reason: the model scores it as infrequent or unknown."""
    found = [problem for feature in model.features for problem in problems(frame, feature)]
    if not found:  # every feature categorical, and training had gaps in each
        return F.lit(None).cast("string")
    return reduce(lambda reason, problem: reason.when(*problem), found[1:], F.when(*found[0]))  # one flat CASE


def unseen(frame: DataFrame, model: PinnedModel) -> Column:
    """Whether a row holds a category training never saw (a missing value is not one): counted, scored all the same."""
    flags = [F.lit(False)]
    for feature in (feature for feature in model.features if feature["kind"] == "categorical"):
        text = as_text(frame, feature["name"])
        flags.append(text.isNotNull() & ~text.isin(*feature["categories"]))
    return reduce(lambda one, other: one | other, flags)


def scored(
    frame: DataFrame, model: PinnedModel, name: str, version: str, scored_at: datetime, tracking_uri: str
) -> DataFrame:
    """Valid rows with the class, one probability per class, and the version that scored them (a router's rows also
    the segment model that did). The model reads the features as data/schema.py's `model_input` makes them, in the
    schema's order."""
    for numeric in (feature["name"] for feature in model.features if feature["kind"] == "numeric"):
        frame = frame.withColumn(numeric, number(frame, numeric))  # numbers in the output, as pandas reads most
    inputs = {
        feature["name"]: (number if feature["kind"] == "numeric" else as_text)(frame, feature["name"])
        for feature in model.features
    }
    if model.segment_column:
        inputs[model.segment_column] = as_text(frame, model.segment_column)
        frame = score_by_segment(frame, model.path, model.routing_data, inputs, model.probability_columns,
                                 model.label_type, tracking_uri)  # fmt: skip
    else:
        frame = with_predictions(frame, model, F.struct(*[column.alias(name) for name, column in inputs.items()]))
    frame = frame.withColumn(MODEL_NAME_COLUMN, F.lit(name)).withColumn(MODEL_VERSION_COLUMN, F.lit(version))
    if model.segment_column:  # after the version, as the local engine orders them
        frame = frame.select(*[column for column in frame.columns if column not in SEGMENT_COLUMNS], *SEGMENT_COLUMNS)
    return frame.withColumn(SCORED_AT, F.lit(scored_at))


def with_predictions(frame: DataFrame, model: PinnedModel, inputs: Column) -> DataFrame:
    """The class and the probabilities through `mlflow.pyfunc.spark_udf`: one model for every row."""
    spark = frame.sparkSession
    predict = mlflow.pyfunc.spark_udf(spark, model.path, result_type=model.label_type, env_manager="local")
    probabilities = mlflow.pyfunc.spark_udf(
        spark, model.probability_view, result_type="array<double>", env_manager="local"
    )
    frame = frame.withColumn(PREDICTION, predict(inputs)).withColumn("_probabilities", probabilities(inputs))
    for position, column in enumerate(model.probability_columns):
        frame = frame.withColumn(column, F.col("_probabilities")[position])
    return frame.drop("_probabilities")


def clear(spark: SparkSession, output: str) -> None:
    """Remove an earlier attempt's output (its marker too)."""
    fs, path = hadoop(spark, output)
    fs.delete(path, True)


def score(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Write the scored and rejected rows, then count them from what was written: the model runs once per row."""
    output = args.output.rstrip("/")
    clear(spark, output)
    with tempfile.TemporaryDirectory(prefix="score-batch-") as work:  # the model's files, gone at the end
        model = pinned_model(args.model_uri, work)
        started, scored_at = time.monotonic(), datetime.now(UTC)
        frame = read_source(spark, args.source, args.csv_encoding)
        check_columns(frame, model, args.source)
        marked = frame.withColumn(REASON, reject_reason(frame, model))
        valid = marked.filter(F.col(REASON).isNull()).drop(REASON)
        scored(valid, model, args.model_name, args.model_version, scored_at, args.tracking_uri).write.parquet(
            f"{output}/{PREDICTIONS_DIR}"
        )
        text = [col(column).cast("string").alias(column) for column in frame.columns]
        marked.filter(F.col(REASON).isNotNull()).select(*text, REASON).write.parquet(f"{output}/{REJECTED_DIR}")
        predictions = spark.read.parquet(f"{output}/{PREDICTIONS_DIR}")
        if model.drift_reference:  # older versions carry none: their runs say "drift: not measured", as locally
            write_drift_counts(predictions, model.drift_reference, model.features, PREDICTION, output)
        rows_scored, rows_rejected = predictions.count(), spark.read.parquet(f"{output}/{REJECTED_DIR}").count()
        counts = {
            "rows_in": rows_scored + rows_rejected,
            "rows_scored": rows_scored,
            "rows_rejected": rows_rejected,
            "rows_with_unseen_categories": predictions.filter(unseen(predictions, model)).count(),
            "seconds": round(time.monotonic() - started, 3),
        }
        spark.createDataFrame([counts]).coalesce(1).write.json(f"{output}/{COUNTS_DIR}")
        return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="score_batch", description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", required=True, help="models:/<name>/<version>, or the version's files")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--model-version", required=True)
    parser.add_argument("--source", required=True, help=f"a .csv/.parquet file, a folder of them, or {BUNDLED_SOURCE}")
    parser.add_argument("--csv-encoding", default="utf-8", help="of the source's CSV files, as Python names it")
    parser.add_argument("--output", required=True, help="this run's output prefix")
    parser.add_argument("--tracking-uri", default="", help="MLflow: for models:/ URIs, and segment models behind it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tracking_uri:
        mlflow.set_tracking_uri(args.tracking_uri)
    # No Hadoop _SUCCESS marker in predictions/, rejected/ or _counts/: Spark and Hive readers trust one, and the
    # output is complete only when the DAG has checked the counts and written the run's own _SUCCESS. Spark 4 reads
    # CSV in a few charsets only, unless told to take any Java knows (as Spark 3.5, EMR 7's, always does).
    spark = (
        SparkSession.builder.appName(f"score {args.model_name} v{args.model_version}")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .config("spark.sql.legacy.javaCharsets", "true")
        .getOrCreate()
    )
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
