"""How the Spark job (score_batch.py) scores a router of one model per segment: rows grouped by the model that scores
them (`groupBy(...).applyInPandas`), so each Python worker loads only the segment models of the groups it is given,
never every segment's in every partition. The router version's own loader module (router_model.py, shipped inside
the version) routes and predicts, as it does for the local engine, the lookup and the model server.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark import SparkFiles
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

# As dags/ml_pipeline/contract.py has them (test_spark_engine holds them equal).
SEGMENT_MODEL_COLUMN = "segment_model"
SEGMENT_VERSION_COLUMN = "segment_version"
ROUTE = "_route"  # the routing table's segment value, or "" for the fallback: one group per model
ROUTED = "_routed_segment"
LABEL_TYPES = {"boolean": T.BooleanType(), "long": T.LongType(), "string": T.StringType()}
_routers: dict[str, Any] = {}  # per Python worker: each router version loaded once


def routing_table(model_path: str, data: str) -> dict[str, Any]:
    """The version's routing table (its pyfunc `data` file): the segments it routes, and the fallback."""
    with open(os.path.join(model_path, data)) as table:
        return json.load(table)


def keyed(frame: DataFrame, segment: Column, segments: list[str]) -> DataFrame:
    """Each row with the key of the model that scores it: its segment's value when that segment has a champion,
    else "" (the fallback's), by a broadcast join with the table's few thousand values."""
    spark = frame.sparkSession
    routed = F.broadcast(spark.createDataFrame([(value,) for value in segments], f"{ROUTED} string"))
    joined = frame.join(routed, segment == F.col(ROUTED), "left")
    return joined.withColumn(ROUTE, F.coalesce(F.col(ROUTED), F.lit(""))).drop(ROUTED)


@dataclass(frozen=True)
class GroupScorer:
    """One group's rows -> the same rows with the class, one probability per class and the segment model's name and
    version. Pickled to the executors; the router loads each segment model it meets once per worker."""

    router_file: str  # the version's folder, by its SparkFiles name
    inputs: dict[str, str]  # the model's input name -> the hidden column holding it in model_input's form
    columns: list[str]  # the rows' own columns, kept in the output
    probability_columns: list[str]
    tracking_uri: str

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        router = self.router()
        inputs = pd.DataFrame({name: rows[hidden] for name, hidden in self.inputs.items()})
        probabilities = router.predict_proba(inputs)
        scored = rows[self.columns].copy()
        scored["prediction"] = router.classes_[probabilities.argmax(axis=1)]
        for position, column in enumerate(self.probability_columns):
            scored[column] = probabilities[:, position]
        scored[SEGMENT_MODEL_COLUMN], scored[SEGMENT_VERSION_COLUMN] = router.route(inputs)
        return scored

    def router(self) -> Any:
        if self.router_file not in _routers:
            import mlflow

            if self.tracking_uri:  # segment models stored behind the tracking server (mlflow-artifacts:/)
                mlflow.set_tracking_uri(self.tracking_uri)
            _routers[self.router_file] = mlflow.pyfunc.load_model(SparkFiles.get(self.router_file)).get_raw_model()
        return _routers[self.router_file]


def score_by_segment(
    frame: DataFrame, model_path: str, data: str, inputs: dict[str, Column], probability_columns: list[str],
    label_type: str, tracking_uri: str,
) -> DataFrame:  # fmt: skip
    """The rows scored by the router at `model_path` (its routing table in the file `data`), from its inputs in
    model_input's form: the class (of `label_type`), the probabilities, the segment model's name and version."""
    spark = frame.sparkSession
    spark.sparkContext.addFile(model_path, recursive=True)
    table = routing_table(model_path, data)
    hidden = {name: f"_input_{position}" for position, name in enumerate(inputs)}
    rows = keyed(frame, inputs[table["segment_column"]], list(table["segments"]))
    rows = rows.select(*frame.columns, ROUTE, *[inputs[name].alias(column) for name, column in hidden.items()])
    scorer = GroupScorer(os.path.basename(model_path), hidden, frame.columns, probability_columns, tracking_uri)
    added = [
        T.StructField("prediction", LABEL_TYPES[label_type]),
        *[T.StructField(column, T.DoubleType()) for column in probability_columns],
        *[T.StructField(column, T.StringType()) for column in (SEGMENT_MODEL_COLUMN, SEGMENT_VERSION_COLUMN)],
    ]
    schema = T.StructType([*frame.schema.fields, *added])
    return rows.groupBy(ROUTE).applyInPandas(lambda group: scorer(group), schema=schema)
