"""How the Spark job (score_batch.py) reads a source: as the local engine does (dags/ml_pipeline/data/sources.py),
CSV and Parquet files or a folder of them, with pandas' missing-value text, through Hadoop's file system, and its
categories as the model reads them. A module of its own beside the job, shipped with it (`--py-files`, locally and on
EMR Serverless); like the job it needs only pyspark and scikit-learn.
"""

from __future__ import annotations

import codecs
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

# As data/sources.py and contract.py have them (tests/test_spark_engine.py holds them equal).
BUNDLED_SOURCE = "sklearn:wine"
DATA_FILES = (".csv", ".parquet", ".pq")
# The local engine reads CSV with pandas, whose read_csv takes this text for a missing value; Spark keeps it.
PANDAS_MISSING = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
                  "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")  # fmt: skip
NUMBERS = ("byte", "short", "integer", "long", "decimal", "float", "double")
FLOATS = ("float", "double")


class JobError(Exception):
    """Input the job cannot score; its message is the one line the DAG reports."""


def col(name: str) -> Column:
    return F.col(f"`{name}`")


def type_of(frame: DataFrame, name: str) -> str:
    """Spark's name for the column's type: string, boolean, long, double, decimal, ..."""
    return str(frame.schema[name].dataType.typeName())


def as_text(frame: DataFrame, name: str) -> Column:
    """A categorical feature as data/schema.py's `as_text` writes it: booleans true/false, whole numbers without
    `.0`, other numbers as Spark writes them, text as it is, null (or NaN) as null."""
    if type_of(frame, name) not in FLOATS:
        return col(name).cast("string")
    value = col(name).cast("double")
    whole = (F.abs(value) < 2**53) & (value % 1 == 0)
    return F.when(F.isnan(value), None).when(whole, value.cast("long").cast("string")).otherwise(value.cast("string"))


def hadoop(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    """Hadoop's file system for a URI (local, s3://, ...), and its path there."""
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)  # type: ignore[union-attr]
    return path.getFileSystem(spark._jsc.hadoopConfiguration()), path


def data_files(spark: SparkSession, source: str) -> list[str]:
    """The source file, or the .csv and .parquet files under a folder or S3 prefix, through Hadoop's file system;
    hidden files (writers' temporary ones) and other kinds are skipped, as data/sources.py does."""
    fs, path = hadoop(spark, source)
    if not fs.exists(path):
        raise JobError(f"{source} does not exist; check scoring_source_uri")
    if not fs.getFileStatus(path).isDirectory():
        if not source.lower().endswith(DATA_FILES):
            raise JobError(f"{source}: unsupported format; use a .csv or .parquet file, or a folder")
        return [source]
    files, listing = [], fs.listFiles(path, True)
    while listing.hasNext():
        name = listing.next().getPath()
        if not name.getName().startswith(".") and name.getName().lower().endswith(DATA_FILES):
            files.append(str(name.toString()))
    if not files:
        raise JobError(f"{source} holds no .csv or .parquet files; point scoring_source_uri at a file or a folder")
    return sorted(files)


def java_charset(spark: SparkSession, encoding: str) -> str:
    """A name Java knows for a Python encoding (csv_encoding is checked by Python): not latin-1, but iso8859-1."""
    name = codecs.lookup(encoding).name
    if not spark._jvm.java.nio.charset.Charset.isSupported(name):  # type: ignore[union-attr]
        raise JobError(f"Spark cannot read CSV in {encoding}; convert the source to utf-8, or score it locally")
    return name


def read_source(spark: SparkSession, source: str, encoding: str) -> DataFrame:
    """The rows as the local engine reads them: CSV and Parquet files (a folder's unioned by name), or the bundled
    Wine features."""
    if source == BUNDLED_SOURCE:
        from sklearn.datasets import load_wine

        return spark.createDataFrame(load_wine(as_frame=True).data)
    files, frames = data_files(spark, source), []
    if csv := [file for file in files if file.lower().endswith(".csv")]:
        charset = java_charset(spark, encoding)
        frames.append(pandas_missing(spark.read.csv(csv, header=True, inferSchema=True, encoding=charset)))
    if parquet := [file for file in files if not file.lower().endswith(".csv")]:
        frames.append(spark.read.parquet(*parquet))
    return reduce(lambda first, second: union(first, second, source), frames)


def pandas_missing(frame: DataFrame) -> DataFrame:
    """CSV text that pandas' read_csv takes for a missing value (`NA`, `null`, ...) as null, as the local engine
    reads it."""
    text = [name for name in frame.columns if type_of(frame, name) == "string"]
    return frame.select(
        *[F.when(~col(c).isin(*PANDAS_MISSING), col(c)).alias(c) if c in text else col(c) for c in frame.columns]
    )


def union(first: DataFrame, second: DataFrame, source: str) -> DataFrame:
    """A folder's CSV and Parquet rows together, by name. A column of two types (other than two kinds of number)
    becomes text on both sides: Spark would cast the text to the other type, and fail the job on the first word."""
    if set(first.columns) != set(second.columns):
        differ = sorted(set(first.columns) ^ set(second.columns))
        raise JobError(f"the CSV and Parquet files of {source} have different columns ({', '.join(differ)})")
    for name in first.columns:
        types = {type_of(first, name), type_of(second, name)}
        if len(types) > 1 and not types <= set(NUMBERS):
            first, second = (frame.withColumn(name, col(name).cast("string")) for frame in (first, second))
    return first.unionByName(second, allowMissingColumns=False)
