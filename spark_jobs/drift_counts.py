"""How the Spark job (score_batch.py) counts its scored rows into the bins of the version's drift reference: as the
local engine does (dags/ml_pipeline/data/profile.py's `count_rows`), in the same JSON under _drift/, so that
publish_predictions measures a Spark run's drift as it does a local one's. A module of its own beside the job, shipped
with it (`--py-files`, locally and on EMR Serverless); it needs only pyspark.

One aggregation over the written predictions: each row gives a (histogram, bin) pair per feature, per class
probability and for its predicted label (and one per unseen category); the pairs are counted, and only those counts
reach the driver.
"""

from __future__ import annotations

import copy
import json
import math
import os
from typing import Any

from pyspark.ml.feature import Bucketizer
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from source_reading import as_text, col, hadoop, type_of

# As data/profile.py and contract.py have them, and scoring/output.py names the files (tests/test_spark_engine.py
# holds them equal).
METADATA_KEY = "drift_reference"  # versions registered before VERSION_FILE: in their MLmodel's metadata
VERSION_FILE = "drift_reference.json"  # in the version's folder, beside MLmodel
DRIFT_COUNTS_DIR = "_drift"
REFERENCE_FILE, COUNTS_FILE = "reference.json", "part-00000.json"
MISSING, UNSEEN = -1, -2  # where a pair counts a missing value or an unseen category instead of a bin


def number_bins(frame: DataFrame, edges: list[list[float]]) -> tuple[DataFrame, list[Column]]:
    """The bins profile.py's `place` gives `frame`'s columns number_0, number_1, ... by `edges` (one list each):
    `np.searchsorted(edges, value, side="right")`, and MISSING for null or NaN. ML's Bucketizer finds them in
    compiled code (nested comparisons for 99 edges are too big for Spark to compile): its buckets between -inf, the
    edges and inf are searchsorted's, the last taking inf too, once -0.0 is 0.0 (it orders -0.0 below an edge at
    0.0, numpy does not); its bucket for NaN gives way to MISSING. Returns `frame` with the bins' columns."""
    names = [f"number_{at}" for at in range(len(edges))]
    with_edges = [at for at, bounds in enumerate(edges) if bounds]  # Bucketizer needs one: without, all in bin 0
    if with_edges:
        zeros = frame.withColumns({name: F.when(F.col(name) == 0, 0.0).otherwise(F.col(name)) for name in names})
        frame = Bucketizer(
            splitsArray=[[-math.inf, *map(float, edges[at]), math.inf] for at in with_edges],
            inputCols=[names[at] for at in with_edges],
            outputCols=[f"bin_{at}" for at in with_edges],
            handleInvalid="keep",
        ).transform(zeros)
    return frame, [
        F.when(F.col(name).isNull() | F.isnan(F.col(name)), MISSING).otherwise(
            F.col(f"bin_{at}").cast("int") if edges[at] else F.lit(0)
        )
        for at, name in enumerate(names)
    ]


def category_bin(text: Column, bins: list[str]) -> Column:
    """The bin of a category, as profile.py's `count` gives it: its place among the reference's categories, or the
    last ("any other"). Null is missing."""
    position = F.array_position(F.array(*[F.lit(category) for category in bins]).cast("array<string>"), text)
    return F.when(text.isNull(), MISSING).when(position > 0, position - 1).otherwise(len(bins))


def label_text(scored: DataFrame, prediction: str) -> Column:
    """The predicted label as Python's str writes it, as the reference's bins of labels hold it: True, not true."""
    if type_of(scored, prediction) == "boolean":
        return F.when(col(prediction), "True").when(~col(prediction), "False")
    return col(prediction).cast("string")


def category_bins(scored: DataFrame, counts: dict[str, Any], features: list[dict[str, Any]], prediction: str
                  ) -> list[tuple[dict[str, Any], Column]]:  # fmt: skip
    """Each categorical histogram of `counts` with the bin it counts a row in; a feature's histogram comes twice, the
    second time for a category training never saw (null for the others), as profile.py's `count` counts them."""
    known = {feature["name"]: feature["categories"] for feature in features}
    found = [(counts["predictions"], category_bin(label_text(scored, prediction), counts["predictions"]["bins"]))]
    for name, histogram in counts["features"].items():
        if histogram["kind"] == "categorical":
            text = as_text(scored, name)
            found.append((histogram, category_bin(text, histogram["bins"])))
            if known[name]:  # no unseen categories where training knew none
                found.append((histogram, F.when(text.isNotNull() & ~text.isin(*known[name]), UNSEEN)))
    return found


def counted(scored: DataFrame, reference: dict[str, Any], features: list[dict[str, Any]], prediction: str
            ) -> dict[str, Any]:  # fmt: skip
    """The reference (data/profile.py's Profile as JSON) with the scored rows' counts in its bins instead of its own.
    `features` are data/schema.py's Feature as JSON (the categories training saw); `prediction` the labels' column."""
    counts = copy.deepcopy(reference)
    for histogram in [*counts["features"].values(), counts["predictions"], *counts["probabilities"].values()]:
        histogram.update(counts=[0] * len(histogram["counts"]), missing=0, unseen=0)  # as profile.py's Profile.empty
    numeric = [(histogram, name) for name, histogram in counts["features"].items() if histogram["kind"] == "numeric"]
    numeric += [(histogram, name) for name, histogram in counts["probabilities"].items()]
    categorical = category_bins(scored, counts, features, prediction)
    values = scored.select(
        *[col(name).cast("double").alias(f"number_{at}") for at, (_, name) in enumerate(numeric)],
        *[placed.alias(f"category_{at}") for at, (_, placed) in enumerate(categorical)],
    )
    frame, placed_numbers = number_bins(values, [histogram["edges"] for histogram, _ in numeric])
    found = [(histogram, placed) for (histogram, _), placed in zip(numeric, placed_numbers, strict=True)]
    found += [(histogram, F.col(f"category_{at}")) for at, (histogram, _) in enumerate(categorical)]
    add_counts(frame, found)
    return counts


def add_counts(frame: DataFrame, found: list[tuple[dict[str, Any], Column]]) -> None:
    """Count each row once in each of `found`'s histograms, in the bin its column gives: one aggregation over the
    rows, whose (histogram, bin) pairs travel as one number each, the only rows that reach the driver."""
    stride = max(len(histogram["counts"]) for histogram, _ in found) - UNSEEN  # a histogram's bins, MISSING, UNSEEN
    slots = F.array(*[F.lit(variable * stride - UNSEEN) + placed for variable, (_, placed) in enumerate(found)])
    totals = frame.select(F.explode(slots).alias("slot")).where(F.col("slot").isNotNull()).groupBy("slot").count()
    for slot, rows in totals.collect():
        variable, shifted = divmod(slot, stride)
        histogram, placed = found[variable][0], shifted + UNSEEN
        if placed == MISSING:
            histogram["missing"] += rows
        elif placed == UNSEEN:
            histogram["unseen"] += rows
        else:
            histogram["counts"][placed] += rows


def drift_reference(model_folder: str, metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The version's reference profile, as data/profile.py's `carried` reads it: its file, else its metadata's."""
    path = os.path.join(model_folder, VERSION_FILE)
    if os.path.isfile(path):
        with open(path) as file:
            return json.load(file)
    return metadata.get(METADATA_KEY)


def write_drift_counts(scored: DataFrame, reference: dict[str, Any], features: list[dict[str, Any]], prediction: str,
                       output: str) -> None:  # fmt: skip
    """The reference and the scored rows' counts in its bins, as scoring/output.py's `write_drift_counts` writes them
    for publish_predictions."""
    counts = counted(scored, reference, features, prediction)
    for name, content in ((REFERENCE_FILE, reference), (COUNTS_FILE, counts)):
        fs, path = hadoop(scored.sparkSession, f"{output}/{DRIFT_COUNTS_DIR}/{name}")
        stream = fs.create(path, True)
        try:
            stream.write(json.dumps(content).encode())
        finally:
            stream.close()
