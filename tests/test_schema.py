"""get_data on data that is not Wine: the schema it infers, the settings that steer it, and what it refuses."""

import numpy as np
import pandas as pd
import pytest
import tables
from pipeline_runs import read_frame

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.data.schema import model_input
from ml_pipeline.data.snapshot import load_source, snapshot_dataset
from ml_pipeline.data.splits import read_schema, read_split
from ml_pipeline.errors import DataValidationError
from ml_pipeline.store.objects import Storage


def snapshot(tmp_path, frame, name="source.csv", **settings):
    path = tmp_path / name
    frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_parquet(path, index=False)
    config = PipelineConfig(source_uri=str(path), **settings)
    return snapshot_dataset(config, str(tmp_path / "run"), Storage())


def census(rows=3_000, seed=1):
    """A few low-cardinality categorical features: thousands of rows share a handful of combinations, and the labels
    of rows with the same values disagree (the label is noisy, as in a census)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"sex": rng.choice(["f", "m"], rows), "education": rng.choice(["school", "college"], rows),
                          "sector": rng.choice(["public", "private", "self"], rows)})  # fmt: skip
    odds = 0.2 + 0.4 * (frame["education"] == "college") + 0.2 * (frame["sector"] == "self")
    frame["income"] = np.where(rng.random(rows) < odds, ">50K", "<=50K")
    return frame


def test_the_schema_records_each_features_kind_gaps_categories_and_the_labels(tmp_path):
    facts = snapshot(tmp_path, tables.mixed(), target_column="churn", categorical_columns=["store_code"])
    schema = read_schema(facts["schema_uri"], Storage())
    kinds = {feature.name: (feature.kind, feature.had_missing) for feature in schema.features}
    assert kinds == {"age": ("numeric", True), "visits": ("numeric", False), "city": ("categorical", True),
                     "member": ("categorical", False), "store_code": ("categorical", False)}  # fmt: skip
    categories = {feature.name: set(feature.categories) for feature in schema.features}
    assert categories["member"] == {"true", "false"} and categories["store_code"] == {"101", "102", "205"}
    assert schema.labels == ["leaves", "stays"] and facts["classes"] == ["leaves", "stays"]
    holdout = read_frame(facts["holdout_uri"], Storage())
    assert holdout["churn"].isin(["leaves", "stays"]).all(), "text labels stay text"


def test_feature_and_exclude_columns_decide_which_columns_the_model_reads(tmp_path):
    frame = tables.mixed()
    chosen = snapshot(tmp_path, frame, target_column="churn", feature_columns=["age", "city"])
    assert chosen["features"] == 2 and chosen["ignored_columns"] == {}, "the other columns are not even read"
    excluded = snapshot(tmp_path, frame, target_column="churn", exclude_columns=["member"])
    assert excluded["features"] == 4 and excluded["ignored_columns"] == {"member": "exclude_columns"}
    with pytest.raises(DataValidationError, match="exclude_columns names customer_id, which the source lacks"):
        snapshot(tmp_path, frame, target_column="churn", exclude_columns=["customer_id"])


def test_a_census_like_table_of_few_distinct_combinations_trains(tmp_path):
    facts = snapshot(tmp_path, census(), target_column="income")
    assert facts["rows"] == 3_000 and facts["features"] == 3


def test_a_few_distinct_rows_repeated_to_fill_the_holdout_are_still_refused(tmp_path):
    few = census(rows=12, seed=3).drop_duplicates(["sex", "education", "sector"])
    few["income"] = np.where(few["education"] == "college", ">50K", "<=50K")
    with pytest.raises(DataValidationError, match=r"only 8 distinct rows among 2400 \(the source repeats rows\)"):
        snapshot(tmp_path, pd.concat([few] * 300, ignore_index=True), target_column="income")


def test_rows_without_a_label_are_dropped_and_counted(tmp_path):
    frame = tables.mixed()
    frame.loc[[3, 7, 11], "churn"] = None
    facts = snapshot(tmp_path, frame, target_column="churn")
    assert (facts["rows_read"], facts["unlabeled_rows"], facts["rows"]) == (400, 3, 397)


def test_a_large_source_is_sampled_stratified_by_label_and_reproducibly(tmp_path):
    frame = tables.mixed(rows=5_000)
    settings = {"target_column": "churn", "max_training_rows": 1_000, "random_seed": 7}
    first = snapshot(tmp_path, frame, name="big.parquet", **settings)
    again = load_source(PipelineConfig(source_uri=str(tmp_path / "big.parquet"), **settings), Storage())
    assert (first["rows_read"], first["rows"]) == (5_000, 1_000)
    share = frame["churn"].value_counts(normalize=True)
    sample = again.frame["churn"].value_counts(normalize=True)
    assert (sample - share).abs().max() < 0.002, "each label keeps its share"
    assert first["data_hash"] == snapshot(tmp_path, frame, name="big.parquet", **settings)["data_hash"]


def test_model_input_writes_categories_as_spark_casts_them():
    frame = pd.DataFrame({"flag": [True, False, None], "code": [3.0, 4.5, np.nan], "city": ["x", None, "y"]})
    schema = read_schema_of(frame)
    rows = model_input(frame, schema)
    assert rows["flag"].tolist()[:2] == ["true", "false"] and pd.isna(rows["flag"][2])
    assert rows["code"].tolist()[:2] == ["3", "4.5"] and rows["city"].tolist()[::2] == ["x", "y"]


def read_schema_of(frame):
    from ml_pipeline.data.inference import infer_schema

    labelled = frame.assign(label=[0, 1, 0])
    return infer_schema(labelled, PipelineConfig(target_column="label", feature_columns=["flag", "code", "city"],
                                                 categorical_columns=["code"]))  # fmt: skip


def test_a_split_read_in_batches_is_the_whole_file_in_model_input_form(tmp_path, monkeypatch):
    import ml_pipeline.data.splits

    frame = tables.mixed(rows=600)
    frame.loc[:299, "city"] = frame.loc[:299, "city"].replace("brest", None)  # the first batches never see brest
    facts = snapshot(tmp_path, frame, target_column="churn")
    schema, storage = read_schema(facts["schema_uri"], Storage()), Storage()
    monkeypatch.setattr(ml_pipeline.data.splits, "READ_ROWS", 70)  # several batches, whose categories differ
    features, labels = read_split(facts["train_uri"], schema, storage)
    whole = read_frame(facts["train_uri"], storage)
    expected = model_input(whole, schema)
    pd.testing.assert_frame_equal(features, expected, check_categorical=False, check_index_type=False)
    assert features["city"].isna().sum() == whole["city"].isna().sum() and labels.tolist() == whole["churn"].tolist()
