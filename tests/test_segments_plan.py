"""plan_segments: which segments get a model of their own (and why not), their names, and how they are grouped."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import tables
from pipeline_runs import MODEL, snapshot

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.errors import DataValidationError
from ml_pipeline.segments.plan import balanced_groups, group_count, read_manifest, slug
from ml_pipeline.segments.snapshot import plan_segments
from ml_pipeline.store.objects import Storage, join

SETTINGS = {"target_column": "bought", "segment_column": "store", "min_segment_rows": 100}


def test_slugs_are_safe_names_and_never_shared():
    values = ["store 01", "store/01", "store_01", "Ünïcödé ✓", "", "x" * 300, "a'b"]
    slugs = [slug(value) for value in values]
    assert len(set(slugs)) == len(values)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,24}-[0-9a-f]{10}", name) for name in slugs), slugs
    assert slug("store 01") == slug("store 01"), "the same value keeps its name from run to run"


def test_groups_are_a_few_per_worker_slot_within_the_map_limit_and_balanced_by_rows():
    assert group_count(trainable=1000, worker_slots=10, max_map_length=1024) == 30
    assert group_count(trainable=1000, worker_slots=500, max_map_length=1024) == 1000
    assert group_count(trainable=5000, worker_slots=500, max_map_length=1024) == 1024
    assert group_count(trainable=4, worker_slots=10, max_map_length=1024) == 4
    sizes = [5000, *[100] * 60, 2500, 2500]
    groups = balanced_groups(sizes, 3)
    loads = [sum(size for size, group in zip(sizes, groups, strict=True) if group == number) for number in range(3)]
    assert max(loads) - min(loads) <= 100, loads


def plan(tmp_path, frame: pd.DataFrame, **settings):
    source = tmp_path / "stores.csv"
    frame.to_csv(source, index=False)
    dataset = snapshot(tmp_path, "r1", source=str(source), **SETTINGS | settings)
    config = PipelineConfig(source_uri=str(source), model_name=MODEL, **SETTINGS | settings)
    prefix = join(str(tmp_path), "r1")
    groups = plan_segments(config, prefix, Storage(), dataset, max_map_length=1024)
    return dataset, groups, read_manifest(Storage(), join(prefix, "segments", "manifest.json"))


def test_each_trainable_segment_gets_its_own_split_and_the_others_their_reason(tmp_path):
    frame = tables.segmented(segments=4, rows=200)
    others = tables.segmented(segments=2, rows=400, seed=1)  # rows of their own: copies would be duplicates
    tiny = others.head(30).assign(store="tiny")
    one_label = others[others["bought"] == "yes"].tail(150).assign(store="all yes")
    dataset, groups, manifest = plan(tmp_path, pd.concat([frame, tiny, one_label]), segment_worker_slots=1)
    reasons = {entry["segment"]: entry["reason"] for entry in manifest}
    assert reasons["tiny"] == "30 rows, fewer than min_segment_rows (100)"
    assert reasons["all yes"] == "one label (yes) in its training rows: nothing to learn"
    assert [reasons[f"store 0{number}"] for number in range(4)] == [None] * 4
    assert len(groups) == 3 and sum(group["segments"] for group in groups) == 4
    assert re.fullmatch(r"group 1/3: \d segments?, [\d,]+ rows", groups[0]["label"])
    # Each segment's split is its share of the whole table's, so the fallback and the router are scored on the same
    # holdout rows as the segment's own model.
    holdout = pd.read_parquet(dataset["holdout_uri"])
    for entry in (entry for entry in manifest if entry["reason"] is None):
        own = pd.read_parquet(entry["dataset"]["holdout_uri"])
        assert set(own["store"]) == {entry["segment"]}
        assert len(own) == (holdout["store"] == entry["segment"]).sum()
        assert entry["dataset"]["data_hash"] != dataset["data_hash"]


def test_a_column_with_more_values_than_max_segments_fails_with_one_line(tmp_path):
    frame = tables.segmented(segments=4, rows=100)
    with pytest.raises(DataValidationError, match=r"^segment_column store has 4 distinct values, more than "
                       r"max_segments \(3\); is it an identifier\?"):  # fmt: skip
        plan(tmp_path, frame, max_segments=3)


def test_the_segment_column_is_not_a_feature_and_must_exist(tmp_path):
    frame = tables.segmented(segments=2, rows=150)
    dataset, _, _ = plan(tmp_path, frame)
    schema = json.loads(Storage().read_bytes(dataset["schema_uri"]))
    assert "store" not in [feature["name"] for feature in schema["features"]] and schema["segment_column"] == "store"
    with pytest.raises(DataValidationError, match="^segment_column names shop, which the source lacks"):
        plan(tmp_path, frame, segment_column="shop")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"segment_column": "bought"}, "segment_column 'bought' cannot also be the target or a feature"),
        ({"segment_column": "store", "feature_columns": ["store", "x1"]}, "cannot also be the target or a feature"),
        ({"segment_column": "store", "require_approval": True}, "require_approval works with one model"),
    ],
)
def test_settings_that_contradict_the_segment_column_are_refused(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        PipelineConfig(target_column="bought", **settings)
