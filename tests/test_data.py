"""get_data: the bundled or configured source is validated, split deterministically and snapshotted."""

import pandas as pd
import pytest

from ml_pipeline.data import (
    FEATURES,
    TARGET,
    DataValidationError,
    content_hash,
    load_source,
    read_frame,
    snapshot_dataset,
    split,
    validate,
)
from ml_pipeline.storage import Storage


def snapshot(source_uri, prefix, storage=None, min_rows=100):
    return snapshot_dataset(source_uri, str(prefix), storage or Storage(), test_size=0.25, seed=42, min_rows=min_rows)


def test_bundled_wine_data_is_snapshotted_with_references_and_small_facts(tmp_path):
    facts = snapshot("", tmp_path / "run")
    assert facts["source"] == "sklearn:wine"
    assert (facts["rows"], facts["train_rows"], facts["holdout_rows"]) == (178, 133, 45)
    assert facts["classes"] == ["0", "1", "2"]
    assert len(facts["data_hash"]) == 64
    train = read_frame(facts["train_uri"], Storage())
    holdout = read_frame(facts["holdout_uri"], Storage())
    assert list(train.columns) == [*FEATURES, TARGET]
    assert len(train) + len(holdout) == 178


def test_split_is_deterministic_and_stratified(wine_frame):
    frame = validate(wine_frame, 100)
    train_a, holdout_a = split(frame, 0.25, 42)
    train_b, holdout_b = split(frame, 0.25, 42)
    pd.testing.assert_frame_equal(holdout_a, holdout_b)
    pd.testing.assert_frame_equal(train_a, train_b)
    overall = frame[TARGET].value_counts(normalize=True)
    assert (holdout_a[TARGET].value_counts(normalize=True) - overall).abs().max() < 0.05


def test_csv_and_parquet_sources_with_the_same_rows_have_the_same_hash(tmp_path, wine_frame):
    wine_frame.to_csv(tmp_path / "wine.csv", index=False)
    wine_frame.to_parquet(tmp_path / "wine.parquet", index=False)
    from_csv = snapshot(str(tmp_path / "wine.csv"), tmp_path / "a")
    from_parquet = snapshot(str(tmp_path / "wine.parquet"), tmp_path / "b")
    bundled = snapshot("", tmp_path / "c")
    assert from_csv["data_hash"] == from_parquet["data_hash"] == bundled["data_hash"]
    assert from_csv["source"] == str(tmp_path / "wine.csv")


def test_changed_data_changes_the_hash(wine_frame):
    changed = wine_frame.copy()
    changed.loc[0, "alcohol"] += 0.01
    assert content_hash(validate(wine_frame, 100)) != content_hash(validate(changed, 100))


def test_s3_source_is_read_and_snapshot_written_to_s3(s3_client, wine_frame):
    s3_client.create_bucket(Bucket="data")
    s3_client.put_object(Bucket="data", Key="in/wine.csv", Body=wine_frame.to_csv(index=False).encode())
    storage = Storage(lambda: s3_client)
    facts = snapshot("s3://data/in/wine.csv", "s3://data/runs/r1", storage)
    assert facts["train_uri"] == "s3://data/runs/r1/data/train.parquet"
    keys = {item["Key"] for item in s3_client.list_objects_v2(Bucket="data", Prefix="runs/r1/")["Contents"]}
    assert keys == {"runs/r1/data/train.parquet", "runs/r1/data/holdout.parquet"}


def _write_csv(tmp_path, frame):
    path = tmp_path / "source.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda f: f.drop(columns=["hue", "proline"]), "missing columns: hue, proline"),
        (lambda f: f.drop(columns=[TARGET]), "missing columns: target"),
        (lambda f: f.assign(ash=["high"] * len(f)), "non-numeric feature columns: ash"),
        (lambda f: f.assign(magnesium=f["magnesium"].where(f.index % 10 != 0)), r"missing values in: magnesium \(18\)"),
        (lambda f: f.head(60), "only 60 rows; at least 100 are required"),
        (lambda f: f.assign(target=1), "only one class in 'target'"),
        (lambda f: pd.concat([f[f[TARGET] != 2], f[f[TARGET] == 2].head(1)]), "classes with a single row"),
    ],
)
def test_invalid_sources_fail_with_a_message_naming_the_problem(tmp_path, wine_frame, corrupt, message):
    source = _write_csv(tmp_path, corrupt(wine_frame))
    with pytest.raises(DataValidationError, match=message):
        snapshot(source, tmp_path / "run")
    assert not (tmp_path / "run").exists(), "nothing is written for invalid data"


def test_unreadable_sources_fail_clearly(tmp_path):
    with pytest.raises(DataValidationError, match="cannot read source: .* does not exist"):
        load_source(str(tmp_path / "missing.csv"), Storage())
    with pytest.raises(DataValidationError, match="unsupported format, expected a .csv or .parquet file"):
        load_source(str(tmp_path / "wine.xlsx"), Storage())
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataValidationError, match="could not be parsed as PARQUET"):
        load_source(str(tmp_path / "broken.parquet"), Storage())


def test_extra_columns_are_ignored_and_integer_features_become_doubles(wine_frame):
    frame = wine_frame.assign(note="x", magnesium=wine_frame["magnesium"].astype(int))
    validated = validate(frame, 100)
    assert list(validated.columns) == [*FEATURES, TARGET]
    assert all(validated[column].dtype == "float64" for column in FEATURES)
