"""Which segments get a model of their own, under which registered names, and how they are shared out among the
mapped task instances."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TypedDict

import numpy as np
import pandas as pd

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import DatasetSnapshot
from ml_pipeline.segments.contract import FALLBACK_SUFFIX, SEGMENT_INFIX
from ml_pipeline.store.objects import Storage

SLUG_TEXT = 24  # characters of the value kept in its slug, before the hash that makes it unique
WAVES_PER_SLOT = 3  # groups per worker slot: a skewed segment or a retry costs a third of a slot's share, not all


class SegmentEntry(TypedDict):
    """One segment of the run, as the manifest lists it."""

    segment: str  # the value, as text (data/schema.as_text): what the router matches rows on
    slug: str
    rows: int
    group: int | None  # the train_segments instance that trains it; None: it gets no model of its own
    reason: str | None  # why it gets no model of its own
    dataset: DatasetSnapshot | None  # its own train and holdout rows


def segment_model_name(model_name: str, slug: str) -> str:
    return f"{model_name}{SEGMENT_INFIX}{slug}"


def fallback_model_name(model_name: str) -> str:
    return f"{model_name}{FALLBACK_SUFFIX}"


def fallback_settings(config: PipelineConfig) -> PipelineConfig:
    """persist_model's settings: with segments, its model (trained on every row) is the fallback, not the champion."""
    if not config.segment_column:
        return config
    return config.model_copy(update={"model_name": fallback_model_name(config.model_name)})


def slug(value: str) -> str:
    """A name for the value that MLflow, S3 and file systems accept; the hash keeps two values that clean alike
    ("a b", "a/b") apart."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", value)[:SLUG_TEXT].strip("_") or "segment"
    return f"{cleaned}-{hashlib.sha256(value.encode()).hexdigest()[:10]}"


def why_untrainable(train_labels: pd.Series, holdout_labels: pd.Series, min_rows: int) -> str | None:
    """Why a segment cannot have a model of its own that the gate can judge, or None."""
    rows = len(train_labels) + len(holdout_labels)
    if rows < min_rows:
        return f"{rows} rows, fewer than min_segment_rows ({min_rows})"
    if train_labels.nunique() < 2:
        return f"one label ({train_labels.iloc[0]}) in its training rows: nothing to learn"
    if holdout_labels.nunique() < 2:
        return "one label in its holdout rows: the gate could not compare models on it"
    return None


def group_count(trainable: int, worker_slots: int, max_map_length: int) -> int:
    """How many mapped instances train the segments: a few per worker slot, within Airflow's map limit."""
    return max(1, min(trainable, WAVES_PER_SLOT * worker_slots, max_map_length))


def balanced_groups(sizes: list[int], count: int) -> list[int]:
    """Each size's group, largest first into the least loaded group (LPT): groups end with similar row counts."""
    loads = np.zeros(count, dtype=np.int64)
    groups = [0] * len(sizes)
    for position in sorted(range(len(sizes)), key=lambda index: -sizes[index]):
        groups[position] = int(loads.argmin())
        loads[groups[position]] += sizes[position]
    return groups


def read_manifest(storage: Storage, uri: str) -> list[SegmentEntry]:
    return json.loads(storage.read_bytes(uri))


def in_group(manifest: list[SegmentEntry], group: int) -> list[SegmentEntry]:
    return [entry for entry in manifest if entry["group"] == group]
