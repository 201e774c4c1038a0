"""plan_segments: each segment's share of get_data's split (the fallback trains on all of it),
written apart so that a segment's training reads only its own rows, and the manifest that lists them all."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import BUNDLED_SOURCE, DatasetSnapshot, SegmentGroup
from ml_pipeline.data.snapshot import Split, write_snapshot
from ml_pipeline.data.splits import read_schema
from ml_pipeline.errors import DataValidationError
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


def segment_positions(rows: Split, max_segments: int) -> tuple[pd.Index, list[np.ndarray]]:
    """The segment values and each one's row positions; rows without a value belong to no segment."""
    column = rows.schema.segment_column or ""
    codes, values = pd.factorize(rows.data[column], use_na_sentinel=True)
    if len(values) > max_segments:
        raise DataValidationError(
            f"segment_column {column} has {len(values):,} distinct values, more than max_segments ({max_segments:,}); "
            "is it an identifier? Choose a coarser column, or raise max_segments"
        )
    if missing := int((codes < 0).sum()):
        log.info("%d rows have no %s: the fallback serves them", missing, column)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(values) + 1))
    return values, [order[bounds[code] : bounds[code + 1]] for code in range(len(values))]


def write_segments(
    rows: Split, dataset: DatasetSnapshot, config: PipelineConfig, run_prefix: str, storage: Storage,
    max_map_length: int,
) -> list[SegmentGroup]:  # fmt: skip
    """Each trainable segment's snapshot under segments/<slug>/data/, the manifest, and the groups."""
    values, positions = segment_positions(rows, config.max_segments)
    in_train = np.zeros(len(rows.data), dtype=bool)
    in_train[rows.train] = True
    labels = rows.data[rows.schema.target]
    entries: list[SegmentEntry] = []
    splits = []
    for value, where in zip(values, positions, strict=True):
        train, holdout = where[in_train[where]], where[~in_train[where]]
        reason = why_untrainable(labels.iloc[train], labels.iloc[holdout], config.min_segment_rows)
        entries.append(SegmentEntry(segment=str(value), slug=slug(str(value)), rows=len(where), group=None,
                                    reason=reason, dataset=None))  # fmt: skip
        splits.append((train, holdout))
    if len({entry["slug"] for entry in entries}) < len(entries):
        raise DataValidationError(f"two values of {rows.schema.segment_column} share a name; rename one of them")
    trainable = [index for index, entry in enumerate(entries) if entry["reason"] is None]
    count = group_count(len(trainable), config.segment_worker_slots, max_map_length)
    for index, group in zip(trainable, balanced_groups([entries[i]["rows"] for i in trainable], count), strict=True):
        entry, (train, holdout) = entries[index], splits[index]
        source = f"{config.source_uri or BUNDLED_SOURCE} where {rows.schema.segment_column} = {entry['segment']}"
        folder = join(run_prefix, "segments", entry["slug"], "data")
        entry["dataset"] = write_snapshot(rows, train, holdout, folder, dataset["schema_uri"], config, storage, source)
        entry["group"] = group
    manifest_uri = storage.write_bytes(join(run_prefix, "segments", "manifest.json"), json.dumps(entries).encode())
    log.info("%d segments: %d to train in %d groups, %d served by the fallback", len(entries), len(trainable),
             count if trainable else 0, len(entries) - len(trainable))  # fmt: skip
    return [group_of(entries, number, count, manifest_uri) for number in range(count)] if trainable else []


def group_of(entries: list[SegmentEntry], number: int, count: int, manifest_uri: str) -> SegmentGroup:
    members = [entry for entry in entries if entry["group"] == number]
    rows = sum(entry["rows"] for entry in members)
    label = f"group {number + 1}/{count}: {len(members)} segment{'s' if len(members) > 1 else ''}, {rows:,} rows"
    return SegmentGroup(group=number, label=label, manifest_uri=manifest_uri, segments=len(members), rows=rows)
