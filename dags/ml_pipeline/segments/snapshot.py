"""plan_segments: each segment's share of get_data's split (the fallback trains on all of it),
written apart so that a segment's training reads only its own rows, and the manifest that lists them all."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import BUNDLED_SOURCE, DatasetSnapshot
from ml_pipeline.data.snapshot import Split, write_snapshot
from ml_pipeline.data.splits import read_schema
from ml_pipeline.errors import DataValidationError
from ml_pipeline.segments.contract import SegmentGroup
from ml_pipeline.segments.plan import SegmentEntry, balanced_groups, group_count, slug, why_untrainable
from ml_pipeline.store.objects import Storage, join

log = logging.getLogger(__name__)


def plan_segments(
    config: PipelineConfig, run_prefix: str, storage: Storage, dataset: DatasetSnapshot, max_map_length: int
) -> list[SegmentGroup]:
    """Each trainable segment's share of get_data's snapshot, the manifest, and the groups to train."""
    schema = read_schema(dataset["schema_uri"], storage)
    train, holdout = (_rows(dataset[key], storage) for key in ("train_uri", "holdout_uri"))
    data = pd.concat([train, holdout], ignore_index=True)
    split = Split(data, schema, np.arange(len(train)), np.arange(len(train), len(data)), len(data), 0, [])
    del train, holdout
    return write_segments(split, dataset, config, run_prefix, storage, max_map_length)


def _rows(uri: str, storage: Storage) -> pd.DataFrame:
    """A split file as get_data wrote it: the rows in model_input's form, then the label."""
    with storage.local_copy(uri) as path:
        return pd.read_parquet(path)


def segment_positions(rows: Split, max_segments: int) -> tuple[list[str], list[np.ndarray]]:
    """The segment values (as text) and each one's row positions; rows without a value belong to no segment."""
    column = rows.schema.segment_column or ""
    codes, values = pd.factorize(rows.data[column], use_na_sentinel=True)
    check_values([str(value) for value in values], column, max_segments)
    if missing := int((codes < 0).sum()):
        log.info("%d rows have no %s: the fallback serves them", missing, column)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(values) + 1))
    return [str(value) for value in values], [order[bounds[code] : bounds[code + 1]] for code in range(len(values))]


def check_values(values: list[str], column: str, max_segments: int) -> None:
    """Refuse a column that is no segmentation: too many values, or two whose registered names would clash."""
    if len(values) > max_segments:
        raise DataValidationError(
            f"segment_column {column} has {len(values):,} distinct values, more than max_segments ({max_segments:,}); "
            "is it an identifier? Choose a coarser column, or raise max_segments"
        )
    if len({slug(value) for value in values}) < len(values):
        raise DataValidationError(f"two values of {column} share a name; rename one of them")


def snapshot_segment(
    rows: Split, value: str, train: np.ndarray, holdout: np.ndarray, schema_uri: str, config: PipelineConfig,
    run_prefix: str, storage: Storage,
) -> SegmentEntry:  # fmt: skip
    """One segment's manifest entry; a trainable segment's train and holdout rows are written under
    segments/<slug>/data/. Both engines call this, the Spark engine once per segment in applyInPandas."""
    labels = rows.data[rows.schema.target]
    reason = why_untrainable(labels.iloc[train], labels.iloc[holdout], config.min_segment_rows)
    entry = SegmentEntry(segment=value, slug=slug(value), rows=len(train) + len(holdout), group=None, reason=reason,
                         dataset=None)  # fmt: skip
    if reason is None:
        source = f"{config.source_uri or BUNDLED_SOURCE} where {rows.schema.segment_column} = {value}"
        folder = join(run_prefix, "segments", entry["slug"], "data")
        entry["dataset"] = write_snapshot(rows, train, holdout, folder, schema_uri, config, storage, source)
    return entry


def write_segments(
    rows: Split, dataset: DatasetSnapshot, config: PipelineConfig, run_prefix: str, storage: Storage,
    max_map_length: int,
) -> list[SegmentGroup]:  # fmt: skip
    """Each segment's entry (and a trainable one's snapshot), the manifest, and the groups."""
    values, positions = segment_positions(rows, config.max_segments)
    in_train = np.zeros(len(rows.data), dtype=bool)
    in_train[rows.train] = True
    schema_uri, entries = dataset["schema_uri"], []
    for value, where in zip(values, positions, strict=True):
        train, holdout = where[in_train[where]], where[~in_train[where]]
        entries.append(snapshot_segment(rows, value, train, holdout, schema_uri, config, run_prefix, storage))
    return write_manifest(entries, config, run_prefix, storage, max_map_length)


def write_manifest(
    entries: list[SegmentEntry], config: PipelineConfig, run_prefix: str, storage: Storage, max_map_length: int
) -> list[SegmentGroup]:
    """Share the trainable segments out in groups of similar row counts, and write the manifest that lists them all,
    by value (the same groups whichever engine made the entries)."""
    entries.sort(key=lambda entry: entry["segment"])
    trainable = [index for index, entry in enumerate(entries) if entry["reason"] is None]
    count = group_count(len(trainable), config.segment_worker_slots, max_map_length)
    for index, group in zip(trainable, balanced_groups([entries[i]["rows"] for i in trainable], count), strict=True):
        entries[index]["group"] = group
    manifest_uri = storage.write_bytes(join(run_prefix, "segments", "manifest.json"), json.dumps(entries).encode())
    log.info("%d segments: %d to train in %d groups, %d served by the fallback", len(entries), len(trainable),
             count if trainable else 0, len(entries) - len(trainable))  # fmt: skip
    return groups_of(entries, manifest_uri)


def groups_of(entries: list[SegmentEntry], manifest_uri: str) -> list[SegmentGroup]:
    count = max((entry["group"] for entry in entries if entry["group"] is not None), default=-1) + 1
    return [group_of(entries, number, count, manifest_uri) for number in range(count)]


def group_of(entries: list[SegmentEntry], number: int, count: int, manifest_uri: str) -> SegmentGroup:
    members = [entry for entry in entries if entry["group"] == number]
    rows = sum(entry["rows"] for entry in members)
    label = f"group {number + 1}/{count}: {len(members)} segment{'s' if len(members) > 1 else ''}, {rows:,} rows"
    return SegmentGroup(group=number, label=label, manifest_uri=manifest_uri, segments=len(members), rows=rows)
