"""batch_predictions' steps: pin one registered version, score a source with it, publish the output as complete.

The local engine below streams the source through the model in record batches on the Airflow worker, so its memory
does not grow with the rows; the Spark engine (spark.py) applies the same rules to the same pinned version.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import (
    DRIFT_DIR,
    PREDICTION,
    PREDICTIONS_DIR,
    REJECTED_DIR,
    TAG_DAG_ID,
    TAG_RUN_ID,
    RunIds,
    ScoringCounts,
    ScoringPlan,
    ScoringSummary,
)
from ml_pipeline.data.profile import Profile, carried, count_rows
from ml_pipeline.data.schema import DatasetSchema, model_input
from ml_pipeline.data.sources import is_bundled, open_source
from ml_pipeline.errors import DataValidationError, ModelLoadError
from ml_pipeline.monitoring.drift import Thresholds, drift
from ml_pipeline.monitoring.report import DriftReport, report
from ml_pipeline.registry.connection import connect, explained_tracking_errors, use_tracking_server
from ml_pipeline.registry.lookup import carried_schema, pin
from ml_pipeline.scoring import output as batch_output
from ml_pipeline.scoring.output import PartWriter
from ml_pipeline.scoring.rows import check_columns, reject_reasons, rejected_rows, scored_rows, unseen_categories
from ml_pipeline.store.objects import Storage, join

BATCH_ROWS = 100_000  # rows per record batch: the local engine's memory is a few of these, whatever the source
EXPERIMENT = "batch_predictions"
METRICS_PER_CALL = 1000  # MLflow's limit per log_batch


def pin_version(config: PipelineConfig, output_uri: str) -> ScoringPlan:
    """The pinned version (registry/lookup.py's `pin`) with this run's source, output and engine."""
    on_emr = config.scoring_engine == "spark" and bool(config.emr_application_id)
    return ScoringPlan(
        **pin(config),
        source=config.scoring_source_uri,
        csv_encoding=config.csv_encoding,
        output_uri=output_uri,
        engine="emr-serverless" if on_emr else config.scoring_engine,
        max_rejected_fraction=config.max_rejected_fraction,
        drift_thresholds={
            "psi": config.drift_psi_threshold,
            "missing": config.drift_missing_threshold,
            "unseen": config.drift_unseen_threshold,
        },
    )


def load_pinned(plan: ScoringPlan) -> tuple[Any, DatasetSchema, Profile | None]:
    """The pinned version's scikit-learn estimator, the data set's schema it carries and its drift reference."""
    use_tracking_server(plan["tracking_uri"])
    with explained_tracking_errors(plan["tracking_uri"]), tempfile.TemporaryDirectory() as folder:
        try:
            path = mlflow.artifacts.download_artifacts(plan["model_uri"], dst_path=folder)
            model = mlflow.pyfunc.load_model(path)
        except (MlflowException, OSError) as error:
            raise ModelLoadError(f"{plan['model_uri']} cannot be loaded: {error}") from error
        reference = carried(path, model.metadata.metadata)
    schema = carried_schema(model)
    if schema is None:
        raise ModelLoadError(
            f"{plan['model_uri']} carries no data set schema (it was registered by an older version of this project); "
            "run classification_pipeline to register one that does"
        )
    return model.get_raw_model(), schema, reference


def score_on_worker(
    plan: ScoringPlan, storage: Storage, batch_rows: int = BATCH_ROWS, *, count_drift: bool = True
) -> ScoringCounts:
    """Score the source batch by batch, writing scored and rejected rows as they come, and counting them into the
    drift reference's bins (unless `count_drift` is off: `make bench-score` measures what counting costs); returns
    the counts."""
    estimator, schema, reference = load_pinned(plan)
    drift_counts = reference.empty() if reference and count_drift else None
    source, output = plan["source"], plan["output_uri"]
    batch_output.clear(storage, output)
    started, scored_at = time.monotonic(), datetime.now(UTC)
    predictions = PartWriter(storage, join(output, PREDICTIONS_DIR))
    rejected = PartWriter(storage, join(output, REJECTED_DIR))
    rows_in = unseen = 0
    reading = open_source(source, storage, setting="scoring_source_uri", encoding=plan["csv_encoding"])
    for frame in reading.batches(storage, batch_rows):
        if is_bundled(source):
            frame = frame.drop(columns="target")  # the Wine features, as new rows would come
        dtypes = {column: str(dtype) for column, dtype in frame.dtypes.items()}
        check_columns(list(frame.columns), dtypes, schema, source or "the bundled Wine data")
        reasons = reject_reasons(frame, schema)
        valid = reasons.isna()
        if valid.any():
            rows = frame[valid]
            inputs = model_input(rows, schema)  # once per batch, for the count and the model
            unseen += int(unseen_categories(inputs, schema).sum())
            scored = scored_rows(rows, inputs, schema, estimator, plan["model_name"], plan["model_version"], scored_at)
            predictions.write(scored)
            if drift_counts is not None:
                labels, probabilities = scored[PREDICTION].to_numpy(), scored[schema.probability_columns].to_numpy()
                drift_counts.add(count_rows(drift_counts, inputs, labels, probabilities, schema))
        if not valid.all():
            rejected.write(rejected_rows(frame, reasons))
        rows_in += len(frame)
    counts = ScoringCounts(
        rows_in=rows_in,
        rows_scored=predictions.close(),
        rows_rejected=rejected.close(),
        rows_with_unseen_categories=unseen,
        seconds=round(time.monotonic() - started, 3),
    )
    if reference is not None and drift_counts is not None:
        batch_output.write_drift_counts(storage, output, reference, drift_counts)
    batch_output.write_counts(storage, output, counts)
    return counts


def publish_output(plan: ScoringPlan, storage: Storage, run: RunIds, *, log_to_mlflow: bool) -> ScoringSummary:
    """Check the engine's counts, log them to MLflow if asked, and only then mark the output complete."""
    output = plan["output_uri"]
    counts = batch_output.read_counts(storage, output)
    rejected_uri = join(output, REJECTED_DIR)
    if counts["rows_in"] == 0:
        raise DataValidationError(f"{plan['source'] or 'the source'} has no rows to score; check scoring_source_uri")
    share = counts["rows_rejected"] / counts["rows_in"]
    if share > plan["max_rejected_fraction"]:
        raise DataValidationError(
            f"{counts['rows_rejected']} of {counts['rows_in']} rows ({share:.1%}) cannot be scored, more than "
            f"max_rejected_fraction {plan['max_rejected_fraction']}; the reasons are in {rejected_uri}: fix the source "
            "or raise max_rejected_fraction"
        )
    rate = round(counts["rows_in"] / counts["seconds"], 1) if counts["seconds"] else 0.0
    metrics = {
        "rows_in": counts["rows_in"],
        "rows_scored": counts["rows_scored"],
        "rows_rejected": counts["rows_rejected"],
        "rows_with_unseen_categories": counts["rows_with_unseen_categories"],
        "seconds": counts["seconds"],
        "rows_per_second": rate,
    }
    drift = measure_drift(plan, storage)
    if drift is not None:
        metrics |= drift.metrics()
    summary = ScoringSummary(
        **counts,
        engine=plan["engine"],
        rows_per_second=rate,
        model_name=plan["model_name"],
        model_version=plan["model_version"],
        output_uri=output,
        predictions_uri=join(output, PREDICTIONS_DIR),
        rejected_uri=rejected_uri,
        mlflow_run_id=log_run(plan, metrics, run, drift.files if drift else {}) if log_to_mlflow else None,
        drifted=drift.result.drifted if drift else None,
        drift_report_uri=join(output, DRIFT_DIR, "report.html") if drift else None,
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    batch_output.mark_complete(storage, output, summary)
    return summary


def measure_drift(plan: ScoringPlan, storage: Storage) -> DriftReport | None:
    """The engine's counts against the version's reference, by the configured thresholds; drift.json and
    report.html are written under the output's drift/. None when the version carries no reference."""
    found = batch_output.read_drift_counts(storage, plan["output_uri"])
    if found is None:
        return None
    reference, counts = found
    result = drift(reference, counts, Thresholds(**plan["drift_thresholds"]))
    title = f"Drift: {plan['model_name']} v{plan['model_version']} on {plan['source'] or 'the Wine features'}"
    made = report(result, reference, counts, title)
    for name, content in made.files.items():
        storage.write_bytes(join(plan["output_uri"], DRIFT_DIR, name), content)
    return made


def log_run(plan: ScoringPlan, metrics: dict[str, float], run: RunIds, files: dict[str, bytes]) -> str:
    """One MLflow run per DAG run (a retry logs into the same one), tagged with the model version it used; `files`
    go under its artifacts' drift/."""
    tracking_uri = plan["tracking_uri"]
    with explained_tracking_errors(tracking_uri):
        experiment_id = connect(tracking_uri, EXPERIMENT)
        client = MlflowClient()
        same_run = f"tags.{TAG_DAG_ID} = '{run.dag_id}' and tags.{TAG_RUN_ID} = '{run.run_id}'"
        found = client.search_runs([experiment_id], same_run, max_results=1)
        tags = {
            TAG_DAG_ID: run.dag_id,
            TAG_RUN_ID: run.run_id,
            "model_name": plan["model_name"],
            "model_version": plan["model_version"],
            "model_uri": plan["model_uri"],
            "engine": plan["engine"],
            "output_uri": plan["output_uri"],
            "mlflow.note.content": f"Scored {plan['source'] or 'the bundled Wine features'} with {plan['model_uri']}.",
        }
        scoring = found[0] if found else client.create_run(experiment_id, run_name=f"score {run.run_id}", tags=tags)
        stamp = int(time.time() * 1000)
        log_metrics(
            client, scoring.info.run_id, [Metric(key, float(value), stamp, 0) for key, value in metrics.items()]
        )
        for name, content in files.items():
            client.log_text(scoring.info.run_id, content.decode(), f"{DRIFT_DIR}/{name}")
        client.set_terminated(scoring.info.run_id)
        return scoring.info.run_id


def log_metrics(client: MlflowClient, run_id: str, entries: list[Metric]) -> None:
    """Log MLflow Metric entries in as few calls as MLflow allows, whatever the number of features or days."""
    for start in range(0, len(entries), METRICS_PER_CALL):
        client.log_batch(run_id, metrics=entries[start : start + METRICS_PER_CALL])
