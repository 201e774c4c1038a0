"""get_data: read the source (sampled beyond max_training_rows), infer its schema, validate it, split it, and
snapshot the split and the schema in the run's folder."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import BUNDLED_SOURCE, DatasetSnapshot
from ml_pipeline.data import validation as check
from ml_pipeline.data.inference import infer_schema
from ml_pipeline.data.profile import reference
from ml_pipeline.data.sampling import StratifiedSample
from ml_pipeline.data.schema import DatasetSchema, labels_of, model_input
from ml_pipeline.data.sources import Source, open_source
from ml_pipeline.data.splits import release_arrow_memory, split, write_rows
from ml_pipeline.store.objects import Storage, join

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    """The labelled rows get_data keeps (all of them, or the sample), and what reading the source came to."""

    frame: pd.DataFrame
    source: Source
    rows_read: int
    unlabeled: int


def load_source(config: PipelineConfig, storage: Storage) -> Loaded:
    """The source's labelled rows, read in batches; rows without a label are dropped and counted, and beyond
    max_training_rows a stratified sample is kept as the batches stream past."""
    target = config.target_column
    source = open_source(config.source_uri, storage, encoding=config.csv_encoding)
    segment = [config.segment_column] if config.segment_column else []
    columns = [*config.feature_columns, *segment, target] if config.feature_columns else None
    sample = StratifiedSample(config.max_training_rows, config.random_seed, target)
    unlabeled = 0
    for batch in source.batches(storage, columns=columns):
        check.check_target_column(batch, target)
        labelled = batch[target].notna()
        if not labelled.all():
            unlabeled += int((~labelled).sum())
            batch = batch[labelled]
        sample.add(batch)
    release_arrow_memory()  # before the batches are joined, which is get_data's peak
    rows_read = sample.rows_seen + unlabeled
    check.check_unlabeled(unlabeled, rows_read, target, config.max_unlabeled_fraction)
    frame = sample.result().reset_index(drop=True)
    frame[target] = labels_of(frame[target])
    return Loaded(frame, source, rows_read, unlabeled)


def prepare(frame: pd.DataFrame, config: PipelineConfig) -> tuple[DatasetSchema, pd.DataFrame]:
    """The schema and the rows as the model reads them (features in model_input's form, then the label)."""
    check.check_target(frame[config.target_column], len(frame))
    schema = infer_schema(frame, config)
    check.check_finite(frame[schema.of_kind("numeric")])
    check.check_missing(frame, schema.feature_names, config.max_missing_fraction)
    return schema, model_input(frame, schema).assign(**{schema.target: frame[schema.target]})


def check_dataset(data: pd.DataFrame, schema: DatasetSchema, config: PipelineConfig) -> tuple[np.ndarray, np.ndarray]:
    """The whole data set's checks (size, distinct rows, labels, a possible split) then the split's; returns it."""
    labels = data[schema.target]
    hashes = check.row_hashes(data[schema.feature_names])
    repeated = check.copies(hashes, labels)
    check.check_size(hashes, repeated, config.min_rows)
    check.check_classes(labels)
    check.check_split_possible(labels, config.test_size)
    positions = split(data, schema.target, config.test_size, config.random_seed)
    check.check_holdout(labels.to_numpy(), hashes, repeated, positions, config.max_holdout_overlap)
    return positions


def content_hash(data: pd.DataFrame) -> str:
    """A hash of the values themselves, so the same data gives the same hash whatever file it came from."""
    return hashlib.sha256(check.row_hashes(data).tobytes()).hexdigest()


@dataclass(frozen=True)
class Split:
    """The validated rows in model_input's form (then the label), their schema and split, and how they were read."""

    data: pd.DataFrame
    schema: DatasetSchema
    train: np.ndarray  # positions in `data`
    holdout: np.ndarray
    rows_read: int
    unlabeled: int
    skipped_files: list[str]


def split_dataset(config: PipelineConfig, storage: Storage) -> Split:
    """Load, validate and split the source's rows."""
    loaded = load_source(config, storage)
    read, unlabeled, skipped = loaded.rows_read, loaded.unlabeled, loaded.source.skipped
    schema, data = prepare(loaded.frame, config)
    del loaded  # one copy of the rows in memory from here on
    train, holdout = check_dataset(data, schema, config)
    log.info("Schema: %s", schema.describe())
    return Split(data, schema, train, holdout, read, unlabeled, skipped)


def write_snapshot(
    rows: Split, train: np.ndarray, holdout: np.ndarray, folder: str, schema_uri: str, config: PipelineConfig,
    storage: Storage, source: str,
) -> DatasetSnapshot:  # fmt: skip
    """Write those train and holdout rows of the split (all, or one segment's), and their drift reference, under
    `folder`."""
    data, schema, kept = rows.data, rows.schema, len(train) + len(holdout)
    whole = kept == len(data)
    return DatasetSnapshot(
        source=source,
        data_hash=content_hash(data if whole else data.iloc[np.sort(np.concatenate([train, holdout]))]),
        rows=kept,
        rows_read=rows.rows_read if whole else kept,
        unlabeled_rows=rows.unlabeled if whole else 0,
        skipped_files=rows.skipped_files,
        classes=[str(label) for label in schema.labels],
        features=len(schema.features),
        ignored_columns=schema.ignored,
        train_rows=len(train),
        holdout_rows=len(holdout),
        test_size=config.test_size,
        random_seed=config.random_seed,
        schema_uri=schema_uri,
        train_uri=write_rows(data, train, join(folder, "train.parquet"), storage),
        holdout_uri=write_rows(data, holdout, join(folder, "holdout.parquet"), storage),
        reference_uri=storage.write_bytes(
            join(folder, "reference.json"), reference(data, train, schema).model_dump_json().encode()
        ),
    )


def snapshot_dataset(config: PipelineConfig, run_prefix: str, storage: Storage) -> DatasetSnapshot:
    """Load, validate, split and write the data and its schema under `run_prefix`; return references and facts."""
    rows = split_dataset(config, storage)
    folder = join(run_prefix, "data")
    schema_uri = storage.write_bytes(join(folder, "schema.json"), rows.schema.model_dump_json(indent=1).encode())
    source = config.source_uri or BUNDLED_SOURCE
    return write_snapshot(rows, rows.train, rows.holdout, folder, schema_uri, config, storage, source)
