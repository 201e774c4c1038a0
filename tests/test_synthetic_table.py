"""The mixed-type synthetic table: its columns by kind, missing values where promised, an imbalanced text label that
models learn but not perfectly, rows that do not repeat and do not depend on batches or parts, files that read back."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import synthetic_table
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder
from synthetic_table import TARGET, batches, class_names, columns_of
from threadpoolctl import threadpool_limits

ROWS = 20_000
COLUMNS = columns_of(with_id=True, with_constant=True)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.concat(batches(ROWS, with_id=True, with_constant=True, batch_rows=6_000))


def test_the_default_table_has_forty_numeric_and_ten_categorical_features_of_every_kind():
    assert len(COLUMNS.numeric) == 40 and len(COLUMNS.categorical) == 10 and len(COLUMNS.features) == 50
    assert COLUMNS.integer in COLUMNS.numeric and COLUMNS.boolean in COLUMNS.categorical
    text_levels = [n for name, n in zip(COLUMNS.categorical, COLUMNS.levels, strict=True) if name != COLUMNS.boolean]
    assert min(text_levels) == 3 and max(text_levels) == 200 and len(set(text_levels)) == len(text_levels)
    missing_numeric = [name for name in COLUMNS.with_missing if name in COLUMNS.numeric]
    assert len(missing_numeric) == 13 and len(COLUMNS.with_missing) - len(missing_numeric) == 3  # about a third each
    assert COLUMNS.integer not in COLUMNS.with_missing and COLUMNS.boolean not in COLUMNS.with_missing
    assert COLUMNS.names == ("row_id", *COLUMNS.features, "source_system", TARGET)
    assert columns_of().names == (*COLUMNS.features, TARGET)


def test_each_kind_of_column_has_its_dtype(table):
    assert tuple(table.columns) == COLUMNS.names and len(table) == ROWS
    floats = [name for name in COLUMNS.numeric if name != COLUMNS.integer]
    assert (table[floats].dtypes == "float64").all()
    assert table[COLUMNS.integer].dtype == "int64" and table[COLUMNS.boolean].dtype == bool
    texts = [name for name in COLUMNS.categorical if name != COLUMNS.boolean]
    for name in [*texts, TARGET, "source_system"]:
        assert isinstance(table[name].dtype, pd.StringDtype) and table[name].dtype.storage == "pyarrow", name
    assert table["row_id"].dtype == "int64" and table["row_id"].tolist() == list(range(ROWS))
    assert set(table["source_system"]) == {synthetic_table.CONSTANT_VALUE}


def test_categories_have_the_promised_levels_with_skewed_frequencies(table):
    for name, levels in zip(COLUMNS.categorical, COLUMNS.levels, strict=True):
        counts = table[name].value_counts()
        assert len(counts) <= levels and (len(counts) == levels or levels > 100), name
    widest = table[COLUMNS.categorical[-1]].value_counts(normalize=True)
    assert widest.iloc[0] > 0.15 and widest.iloc[-1] < 0.001, "a few levels are common and some are rare"


@pytest.mark.parametrize("missing", [0.05, 0.2, 0.0])
def test_values_go_missing_at_the_asked_share_only_in_the_chosen_columns(table, missing):
    frame = table if missing == 0.05 else pd.concat(batches(5_000, missing=missing, with_id=True, with_constant=True))
    shares = frame.isna().mean()
    assert (shares[list(COLUMNS.with_missing)] - missing).abs().max() < 0.02
    assert (shares.drop(list(COLUMNS.with_missing)) == 0).all()


def test_missing_values_do_not_change_the_other_values_or_the_label(table):
    complete = pd.concat(batches(ROWS, missing=0.0, with_id=True, with_constant=True))
    pd.testing.assert_frame_equal(table.fillna(complete), complete)


@pytest.mark.parametrize(("classes", "imbalance"), [(3, 10.0), (2, 5.0), (5, 20.0), (4, 1.0)])
def test_labels_are_text_and_as_imbalanced_as_asked(table, classes, imbalance):
    frame = table if classes == 3 else pd.concat(batches(ROWS, classes=classes, imbalance=imbalance, seed=11))
    counts = frame[TARGET].value_counts()
    if imbalance > 1:
        assert tuple(counts.index) == class_names(classes), "the first class is the most frequent"
    assert set(counts.index) == set(class_names(classes)) and all(isinstance(label, str) for label in counts.index)
    assert counts.iloc[0] / counts.iloc[-1] == pytest.approx(imbalance, rel=0.15)
    assert class_names(2) == ("stay", "churn") and class_names(3) == ("class_a", "class_b", "class_c")


def test_rows_do_not_repeat(table):
    assert not table.drop(columns="row_id").duplicated().any()


def test_the_rows_depend_on_the_seed_only_not_on_batches_or_where_a_range_starts():
    whole = pd.concat(batches(23_000, seed=3))
    assert [len(frame) for frame in batches(23_000, seed=3, batch_rows=7_777)] == [7_777, 7_777, 7_446]
    pd.testing.assert_frame_equal(pd.concat(batches(23_000, seed=3, batch_rows=7_777)), whole)
    pieces = pd.concat([*batches(12_345, seed=3), *batches(23_000 - 12_345, seed=3, start=12_345, batch_rows=4_000)])
    pd.testing.assert_frame_equal(pieces, whole)
    assert not whole[COLUMNS.numeric[1]].equals(pd.concat(batches(23_000, seed=4))[COLUMNS.numeric[1]])


def test_a_model_learns_the_label_clearly_but_not_perfectly(table):
    categorical = list(COLUMNS.categorical)
    train, holdout = train_test_split(table, test_size=0.3, random_state=0, stratify=table[TARGET])
    encode = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), categorical),
        remainder="passthrough",
    )
    boosting = HistGradientBoostingClassifier(
        max_iter=60, learning_rate=0.2, early_stopping=False, categorical_features=list(range(len(categorical)))
    )
    model = make_pipeline(encode, boosting)
    with threadpool_limits(1):  # steady on a busy machine: OpenMP threads that wait for each other crawl there
        model.fit(train[list(COLUMNS.features)], train[TARGET])
    predicted = model.predict(holdout[list(COLUMNS.features)])
    majority = holdout[TARGET].value_counts(normalize=True).iloc[0]
    assert 0.55 < balanced_accuracy_score(holdout[TARGET], predicted) < 0.9  # a constant guess scores 1/3
    assert majority + 0.1 < np.mean(predicted == holdout[TARGET]) < 0.97


@pytest.mark.parametrize(("columns", "categorical"), [(1, 0), (2, 1), (5, 4), (12, 6)])
def test_small_tables_keep_their_shape(columns, categorical):
    frame = pd.concat(batches(3_000, columns=columns, categorical=categorical, classes=2))
    shape = columns_of(columns, categorical)
    assert tuple(frame.columns) == shape.names and len(shape.features) == columns
    assert len(shape.categorical) == categorical and not frame.drop(columns=TARGET).duplicated().any()


def test_csv_parquet_and_a_folder_of_parts_read_back_the_same_rows(tmp_path):
    options = {"seed": 5, "with_id": True, "with_constant": True, "batch_rows": 1_500}
    expected = pd.concat(batches(5_000, **options)).reset_index(drop=True)
    one = synthetic_table.write(5_000, tmp_path / "rows.parquet", **options)
    csv = synthetic_table.write(5_000, tmp_path / "csv" / "rows.csv", **options)
    folder = synthetic_table.write(5_000, tmp_path / "parts", parts=3, **options)
    assert sorted(path.name for path in folder.iterdir()) == [f"part-0000{n}.parquet" for n in range(3)]
    assert pq.ParquetFile(one).metadata.num_row_groups == 4, "one row group per batch"
    assert pq.ParquetFile(one).metadata.schema.to_arrow_schema().field(COLUMNS.with_missing[-1]).nullable
    assert pq.read_table(one).column(COLUMNS.with_missing[-1]).null_count > 0, "missing text is null on disk"
    pd.testing.assert_frame_equal(pd.read_parquet(one), expected)
    pd.testing.assert_frame_equal(pd.read_csv(csv, float_precision="round_trip"), expected)
    parts = pd.concat(pd.read_parquet(path) for path in sorted(folder.iterdir()))
    pd.testing.assert_frame_equal(parts.reset_index(drop=True), expected)


def test_the_command_line_prints_the_path_it_wrote(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["3000", str(out), "--parts", "2", "--columns", "8", "--categorical", "3", "--classes", "4", "--with-id"]
    assert synthetic_table.main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    frame = pd.read_parquet(out)
    assert tuple(frame.columns) == columns_of(8, 3, with_id=True).names and len(frame) == 3_000
    assert set(frame[TARGET]) == set(class_names(4))


@pytest.mark.parametrize(
    "argv",
    [
        ["100", "{tmp}/x", "--classes", "1"],
        ["100", "{tmp}/x", "--columns", "5", "--categorical", "5"],
        ["100", "{tmp}/x", "--missing", "1"],
        ["100", "{tmp}/x.csv", "--parts", "2"],
        ["2", "{tmp}/x", "--parts", "3"],
    ],
)
def test_the_command_line_refuses_bad_arguments_before_writing_anything(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as stopped:
        synthetic_table.main([arg.format(tmp=tmp_path) for arg in argv])
    assert stopped.value.code == 2 and "error:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
