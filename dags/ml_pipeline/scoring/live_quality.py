"""measure_quality: the true labels that have arrived (`label_source_uri`), joined by `id_column` to every complete
batch_predictions output of the last `quality_window_days`, counted per model version and day (monitoring/quality.py)
and compared, for the pinned version, with the holdout score the gate gave it.

Labels may come late: each run joins the whole window again, so a day's figures fill in as its labels arrive. A
prediction without a label yet is counted as awaiting; a label whose id was never scored is ignored. When an id has
several labels, the last one read counts (a correction replaces the first).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import (
    COMPLETE_MARKER,
    PREDICTION,
    QUALITY_DIR,
    SCORED_AT,
    TAG_HOLDOUT,
    DailyQuality,
    LiveQuality,
    ScoringPlan,
    ScoringSummary,
)
from ml_pipeline.data.schema import DatasetSchema
from ml_pipeline.data.sources import open_source, parquet_batches
from ml_pipeline.errors import DataValidationError
from ml_pipeline.monitoring.quality import Tally, decayed
from ml_pipeline.monitoring.quality_report import quality_chart, quality_metrics
from ml_pipeline.registry.connection import explained_tracking_errors, use_tracking_server
from ml_pipeline.registry.lookup import version_schema
from ml_pipeline.scoring.batch import log_metrics
from ml_pipeline.store.objects import Storage, join

log = logging.getLogger(__name__)

BATCH_ROWS = 200_000


def as_keys(values: pd.Series) -> pd.Series:
    """Ids and labels as text that agree whichever file they came from: 7, 7.0 (a CSV column with gaps) and "7"."""
    if pd.api.types.is_float_dtype(values) and values.dropna().mod(1).eq(0).all():
        values = values.astype("Int64")
    return values.astype("string")


def read_labels(config: PipelineConfig, storage: Storage) -> pd.Series:
    """The true label of each id (text), the last one read where an id has several."""
    source = open_source(config.label_source_uri, storage, "label_source_uri", config.csv_encoding)
    wanted = [config.id_column, config.target_column]
    frames = [frame[wanted].dropna() for frame in source.batches(storage, columns=wanted)]
    labels = pd.concat(frames) if frames else pd.DataFrame(columns=wanted)
    truth = pd.Series(as_keys(labels[config.target_column]).to_numpy(), index=as_keys(labels[config.id_column]))
    return truth[~truth.index.duplicated(keep="last")]


def outputs_of_window(storage: Storage, output_uri: str, model_name: str, since: datetime) -> list[Any]:
    """The summaries of the complete outputs that scored with this model since `since`: this run's output and its
    siblings, the other runs' outputs beside it (each run writes under `<artifact_root>/<dag_id>/<run_id>`)."""
    markers = storage.list_files(output_uri.rsplit("/", 1)[0], (COMPLETE_MARKER.lower(),))
    summaries = [json.loads(storage.read_bytes(uri)) for uri in markers if uri.endswith("/" + COMPLETE_MARKER)]
    return [
        summary for summary in summaries
        if summary.get("model_name") == model_name
        and datetime.fromisoformat(summary.get("published_at", "9999-12-31T00:00:00+00:00")) >= since
    ]  # fmt: skip


def tally_output(
    summary: ScoringSummary, schema: DatasetSchema, truth: pd.Series, id_column: str, since: datetime,
    storage: Storage, tallies: dict[tuple[str, str], Tally],
) -> int | None:  # fmt: skip
    """Count one output's labeled predictions into `tallies` by (version, day); returns those still awaiting, or None
    when its rows have no `id_column`."""
    import pyarrow.parquet as pq

    labels = [str(label) for label in schema.labels]
    position = {label: index for index, label in enumerate(labels)}
    columns = [id_column, PREDICTION, SCORED_AT, *schema.probability_columns]
    awaiting = 0
    for uri in storage.list_files(summary["predictions_uri"], (".parquet",)):
        with storage.local_copy(uri) as path:
            if id_column not in pq.read_schema(path).names:
                return None
            for frame in parquet_batches(path, uri, BATCH_ROWS, columns):
                frame = frame[pd.to_datetime(frame[SCORED_AT], utc=True) >= since]
                known = truth.reindex(as_keys(frame[id_column]).to_numpy())
                awaiting += int(known.isna().sum())
                labeled = frame[known.notna().to_numpy()]
                truth_index = known.dropna().map(position).fillna(len(labels)).to_numpy(dtype=np.int64)
                predicted = as_keys(labeled[PREDICTION]).map(position).to_numpy(dtype=np.int64)
                days = pd.to_datetime(labeled[SCORED_AT], utc=True).dt.strftime("%Y-%m-%d").to_numpy()
                probabilities = labeled[schema.probability_columns].to_numpy(dtype=float)
                for day in np.unique(days):
                    on_day = days == day
                    tally = tallies.setdefault((summary["model_version"], str(day)), Tally.empty(labels))
                    tally.count(truth_index[on_day], predicted[on_day], probabilities[on_day])
    return awaiting


def measure_quality(
    plan: ScoringPlan, summary: ScoringSummary, config: PipelineConfig, storage: Storage
) -> LiveQuality | None:
    """The window's live quality per version and day, written under this output's quality/ (JSON and a chart) and
    logged to the scoring's MLflow run; None when no `label_source_uri` is set."""
    if not config.label_source_uri:
        return None
    since = datetime.now(UTC) - timedelta(days=config.quality_window_days)
    truth = read_labels(config, storage)
    use_tracking_server(plan["tracking_uri"])
    tallies: dict[tuple[str, str], Tally] = {}
    awaiting, schemas = 0, {}
    for output in outputs_of_window(storage, plan["output_uri"], plan["model_name"], since):
        version = output["model_version"]
        if version not in schemas:
            with explained_tracking_errors(plan["tracking_uri"]):
                schemas[version] = version_schema(plan["model_name"], version)
        schema = schemas[version]
        if schema is None:
            continue  # registered before versions carried their labels: its probability columns are unknown
        waiting = tally_output(output, schema, truth, config.id_column, since, storage, tallies)
        if waiting is None and output["output_uri"] == plan["output_uri"]:
            raise DataValidationError(
                f"id_column {config.id_column!r} is not a column of the scored rows; scoring_source_uri's rows must "
                "carry it for their labels to be joined"
            )
        if waiting is None:
            log.warning("%s has no column %r; its predictions are left out", output["output_uri"], config.id_column)
        awaiting += waiting or 0
    quality = _summary(plan, config, tallies, awaiting)
    chart = quality_chart(
        quality["days"], quality["metric"], plan["model_version"], quality["holdout_score"], since.date()
    )
    figures = json.dumps(quality, indent=2)
    storage.write_bytes(join(plan["output_uri"], QUALITY_DIR, "quality.json"), figures.encode())
    storage.write_bytes(quality["report_uri"], chart)
    if summary["mlflow_run_id"]:
        log_quality(plan, summary["mlflow_run_id"], quality, figures, chart)
    return quality


def _summary(
    plan: ScoringPlan, config: PipelineConfig, tallies: dict[tuple[str, str], Tally], awaiting: int
) -> LiveQuality:
    metric, version = config.gate_metric, plan["model_version"]
    days = [
        DailyQuality(model_version=v, day=day, rows=tally.rows, metrics=tally.metrics())
        for (v, day), tally in sorted(tallies.items(), key=lambda item: (int(item[0][0]), item[0][1]))
    ]
    pooled = None  # the pinned version's days together
    for (each, _), tally in tallies.items():
        if each == version:
            pooled = pooled or Tally.empty(tally.labels)
            pooled.add(tally)
    holdout = _holdout_score(plan, metric)
    return LiveQuality(
        metric=metric,
        labeled_rows=sum(tally.rows for tally in tallies.values()),
        awaiting_labels=awaiting,
        days=days,
        live_score=pooled.metrics()[metric] if pooled else None,
        live_rows=pooled.rows if pooled else 0,
        holdout_score=holdout,
        decayed=_decay(config, pooled, holdout),
        report_uri=join(plan["output_uri"], QUALITY_DIR, "quality.png"),
    )


def _decay(config: PipelineConfig, pooled: Tally | None, holdout: float | None) -> str | None:
    """Why the pinned version decayed, in one line; None when it did not or too few labels arrived to say."""
    if pooled is None or pooled.rows < config.min_labeled_rows or holdout is None:
        return None
    metric, live = config.gate_metric, pooled.metrics()[config.gate_metric]
    if not decayed(metric, live, holdout, config.decay_margin):
        return None
    margin = config.decay_margin
    return f"live {metric} {live:.3f} on {pooled.rows} labeled rows, holdout {holdout:.3f} (decay_margin {margin})"


def _holdout_score(plan: ScoringPlan, metric: str) -> float | None:
    from mlflow import MlflowClient

    with explained_tracking_errors(plan["tracking_uri"]):
        tags = MlflowClient().get_model_version(plan["model_name"], plan["model_version"]).tags
    value = tags.get(TAG_HOLDOUT + metric)
    return float(value) if value is not None else None


def log_quality(plan: ScoringPlan, run_id: str, quality: LiveQuality, figures: str, chart: bytes) -> None:
    """The scoring run gets the window's figures per version and day as metrics, `figures` as quality.json and `chart`
    as quality.png."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    entries = [Metric(*entry) for entry in quality_metrics(quality["days"], quality["metric"])]
    entries.append(Metric("live.awaiting_labels", float(quality["awaiting_labels"]), int(time.time() * 1000), 0))
    with explained_tracking_errors(plan["tracking_uri"]):
        client = MlflowClient()
        log_metrics(client, run_id, entries)
        client.log_text(run_id, figures, f"{QUALITY_DIR}/quality.json")
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "quality.png").write_bytes(chart)
            client.log_artifact(run_id, str(Path(folder) / "quality.png"), QUALITY_DIR)
