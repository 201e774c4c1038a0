"""get_data: the source is validated so that the holdout gives an honest score, split and snapshotted."""

import numpy as np
import pandas as pd
import pytest
from pipeline_runs import read_frame
from wine import FEATURES, TARGET

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.data.snapshot import load_source, prepare, snapshot_dataset
from ml_pipeline.data.splits import read_schema, split
from ml_pipeline.errors import DataValidationError
from ml_pipeline.store.objects import Storage


def snapshot(source_uri, prefix, storage=None, **settings):
    config = PipelineConfig(source_uri=source_uri, random_seed=42, **settings)
    return snapshot_dataset(config, str(prefix), storage or Storage())


def prepared(frame, **settings):
    """get_data's checks of one frame: the schema and the rows as the model reads them."""
    return prepare(frame, PipelineConfig(**settings))


def loaded(source_uri, **settings):
    return load_source(PipelineConfig(source_uri=source_uri, **settings), Storage())


def test_bundled_wine_data_is_snapshotted_with_references_and_small_facts(tmp_path):
    facts = snapshot("", tmp_path / "run")
    assert facts["source"] == "sklearn:wine"
    assert (facts["rows"], facts["train_rows"], facts["holdout_rows"]) == (178, 133, 45)
    assert facts["classes"] == ["0", "1", "2"]
    assert (facts["features"], facts["rows_read"], facts["unlabeled_rows"], facts["ignored_columns"]) == (
        13,
        178,
        0,
        {},
    )
    assert (facts["test_size"], facts["random_seed"]) == (0.25, 42)
    assert len(facts["data_hash"]) == 64
    schema = read_schema(facts["schema_uri"], Storage())
    assert schema.feature_names == list(FEATURES) and {f.kind for f in schema.features} == {"numeric"}
    assert schema.labels == [0, 1, 2] and schema.probability_columns == [
        "probability_0",
        "probability_1",
        "probability_2",
    ]
    train = read_frame(facts["train_uri"], Storage())
    holdout = read_frame(facts["holdout_uri"], Storage())
    assert list(train.columns) == [*FEATURES, TARGET]
    assert len(train) + len(holdout) == 178


def test_split_is_deterministic_and_stratified(wine_frame):
    _, frame = prepared(wine_frame)
    train_a, holdout_a = split(frame, TARGET, 0.25, 42)
    train_b, holdout_b = split(frame, TARGET, 0.25, 42)
    assert (train_a == train_b).all() and (holdout_a == holdout_b).all()
    assert sorted([*train_a, *holdout_a]) == list(range(len(frame))), "every row on exactly one side"
    overall = frame[TARGET].value_counts(normalize=True)
    assert (frame[TARGET].iloc[holdout_a].value_counts(normalize=True) - overall).abs().max() < 0.05


def test_the_snapshot_holds_the_split_rows_in_source_order(tmp_path, monkeypatch):
    import ml_pipeline.data.splits

    monkeypatch.setattr(ml_pipeline.data.splits, "WRITE_ROWS", 40)  # several slices per file
    facts = snapshot("", tmp_path / "run")
    _, frame = prepared(loaded("").frame)
    train_positions, holdout_positions = split(frame, TARGET, 0.25, 42)
    written = read_frame(facts["holdout_uri"], Storage())
    pd.testing.assert_frame_equal(written, frame.iloc[holdout_positions].reset_index(drop=True))
    assert len(read_frame(facts["train_uri"], Storage())) == len(train_positions) == facts["train_rows"]


def test_csv_and_parquet_sources_with_the_same_rows_have_the_same_hash(tmp_path, wine_frame):
    wine_frame.to_csv(tmp_path / "wine.csv", index=False)
    wine_frame.to_parquet(tmp_path / "wine.parquet", index=False)
    from_csv = snapshot(str(tmp_path / "wine.csv"), tmp_path / "a")
    from_parquet = snapshot(str(tmp_path / "wine.parquet"), tmp_path / "b")
    bundled = snapshot("", tmp_path / "c")
    assert from_csv["data_hash"] == from_parquet["data_hash"] == bundled["data_hash"]
    assert from_csv["source"] == str(tmp_path / "wine.csv")


def test_changed_data_changes_the_hash(tmp_path, wine_frame):
    changed = wine_frame.copy()
    changed.loc[0, "alcohol"] += 0.01
    changed.to_csv(tmp_path / "changed.csv", index=False)
    assert (
        snapshot(str(tmp_path / "changed.csv"), tmp_path / "a")["data_hash"]
        != snapshot("", tmp_path / "b")["data_hash"]
    )


def test_s3_source_is_read_and_snapshot_written_to_s3(s3_client, wine_frame):
    s3_client.create_bucket(Bucket="data")
    s3_client.put_object(Bucket="data", Key="in/wine.csv", Body=wine_frame.to_csv(index=False).encode())
    storage = Storage(lambda: s3_client)
    facts = snapshot("s3://data/in/wine.csv", "s3://data/runs/r1", storage)
    assert facts["train_uri"] == "s3://data/runs/r1/data/train.parquet"
    keys = {item["Key"] for item in s3_client.list_objects_v2(Bucket="data", Prefix="runs/r1/")["Contents"]}
    written = {f"runs/r1/data/{name}" for name in ("train.parquet", "holdout.parquet", "schema.json", "reference.json")}
    assert keys == written


def _repeated(frame, distinct, times):
    """A source made of a few distinct rows, repeated: every model scores perfectly on it."""
    return pd.concat([frame.groupby(TARGET).head(distinct // 3)] * times, ignore_index=True)


def _huge(frame):
    frame = frame.copy()
    frame.loc[3, "proline"] = 1e200
    return frame


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (
            lambda f: f.drop(columns=[TARGET]),
            "no column 'target' (target_column) in the source; its columns are alcohol",
        ),
        (
            lambda f: f.assign(ash=f["ash"].astype(str).where(f.index != 4, "unknown")),
            "column ash holds numbers and text (e.g. 'unknown' in row 5); leave missing values empty",
        ),
        (
            lambda f: f.assign(magnesium=f["magnesium"].where(f.index % 10 < 4)),
            "too many missing values in: magnesium (60%), more than max_missing_fraction 0.5",
        ),
        (
            lambda f: f.assign(target=f[TARGET].where(f.index % 5 != 0)),
            "36 of 178 rows (20%) have no 'target', more than max_unlabeled_fraction 0.1",
        ),
        (lambda f: f.assign(**dict.fromkeys(FEATURES, 1.0)), "no column can be a feature (alcohol: constant"),
        (lambda f: f.head(60), "only 60 rows; at least 100 are required (min_rows)"),
        (lambda f: _repeated(f, 12, 20), "only 12 distinct rows among 240 (the source repeats rows)"),
        (lambda f: f.assign(target=1), "only one class in 'target' (1); need at least two"),
        (lambda f: pd.concat([f[f[TARGET] != 2], f[f[TARGET] == 2].head(1)]), "classes with a single row"),
        (lambda f: f.assign(alcohol=f["alcohol"].where(f.index > 2, np.inf)), "infinite values in: alcohol (3)"),
        (_huge, "too large (|x| >= 1e+154, overflows when squared) values in: proline (1)"),
        (
            lambda f: f.assign(target=f["proline"] / 7),
            "'target' looks continuous (e.g. 152.143, 150, 169.286); this pipeline trains classifiers",
        ),
        (lambda f: f.assign(target=range(len(f))), "'target' has 178 distinct values in 178 rows: it looks continuous"),
    ],
)
def test_invalid_sources_fail_with_one_line_naming_the_problem(tmp_path, wine_frame, corrupt, message):
    source = tmp_path / "source.csv"
    corrupt(wine_frame).to_csv(source, index=False)
    with pytest.raises(DataValidationError) as raised:
        snapshot(str(source), tmp_path / "run")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value) and "np." not in str(raised.value)
    assert not (tmp_path / "run").exists(), "nothing is written for invalid data"


def test_a_holdout_that_repeats_training_rows_is_refused_as_leakage(tmp_path, wine_frame):
    leaky = pd.concat([wine_frame, wine_frame.sample(60, random_state=1)], ignore_index=True)
    leaky.to_csv(tmp_path / "leaky.csv", index=False)
    with pytest.raises(DataValidationError, match=r"holdout rows \(\d+%\) also appear in the training split"):
        snapshot(str(tmp_path / "leaky.csv"), tmp_path / "run")
    # A user who knows the repeats are genuine can allow them explicitly.
    assert snapshot(str(tmp_path / "leaky.csv"), tmp_path / "run", max_holdout_overlap=0.9)["rows"] == 238


@pytest.mark.parametrize(
    ("test_size", "message"),
    [
        (0.01, "test_size 0.01 gives 2 holdout and 176 training rows for 3 classes"),
        (0.99, "test_size 0.99 gives 177 holdout and 1 training rows for 3 classes"),
    ],
)
def test_a_split_that_cannot_hold_every_class_says_which_test_size_would(tmp_path, test_size, message):
    with pytest.raises(DataValidationError) as raised:
        snapshot("", tmp_path / "run", test_size=test_size)
    assert message in str(raised.value) and "use a test_size between 0.017 and 0.983" in str(raised.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty; it needs a header and rows"),
        (b"alcohol,malic_acid,target\n", r"has no data rows \(at most a header\)"),
        (b"alcohol;malic_acid;ash;target\n1;2;3;0\n", "looks separated by semicolons, not commas"),
        (b"alcohol\tmalic_acid\tash\ttarget\n1\t2\t3\t0\n", "looks separated by tabs, not commas"),
    ],
)
def test_malformed_csv_files_say_what_is_wrong_with_them(tmp_path, content, message):
    (tmp_path / "source.csv").write_bytes(content)
    with pytest.raises(DataValidationError, match=message):
        loaded(str(tmp_path / "source.csv"))


def test_unreadable_sources_fail_clearly(tmp_path):
    with pytest.raises(DataValidationError, match="missing.csv does not exist; check source_uri"):
        loaded(str(tmp_path / "missing.csv"))
    with pytest.raises(DataValidationError, match="no-such-folder does not exist; check source_uri"):
        loaded(str(tmp_path / "no-such-folder"))
    (tmp_path / "wine.xlsx").write_bytes(b"x")
    with pytest.raises(DataValidationError, match="unsupported format; use a .csv or .parquet file"):
        loaded(str(tmp_path / "wine.xlsx"))
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataValidationError, match="could not be parsed as PARQUET"):
        loaded(str(tmp_path / "broken.parquet"))


def test_identifier_and_constant_columns_are_set_aside_by_name_and_integer_features_become_doubles(wine_frame):
    frame = wine_frame.assign(note="x", row=range(len(wine_frame)), magnesium=wine_frame["magnesium"].astype(int))
    schema, rows = prepared(frame)
    assert schema.ignored == {"note": "constant", "row": "unique per row: an identifier"}
    assert list(rows.columns) == [*FEATURES, TARGET]
    assert all(rows[column].dtype == "float64" for column in FEATURES)


def test_labels_mixing_text_and_numbers_are_refused(wine_frame):
    mixed = wine_frame.assign(target=wine_frame[TARGET].astype(object).where(wine_frame.index % 2 == 0, "one"))
    with pytest.raises(DataValidationError, match="'target' mixes text and numbers"):
        prepared(mixed)


def test_text_class_labels_are_accepted(tmp_path, wine_frame):
    named = wine_frame.assign(target=wine_frame[TARGET].map({0: "barolo", 1: "grignolino", 2: "barbera"}))
    named.to_csv(tmp_path / "named.csv", index=False)
    assert snapshot(str(tmp_path / "named.csv"), tmp_path / "run")["classes"] == ["barbera", "barolo", "grignolino"]
