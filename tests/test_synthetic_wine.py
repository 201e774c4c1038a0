"""The synthetic data generator: Wine's schema and classes, any size, rows that do not repeat, learnable."""

import pandas as pd
import pytest
import synthetic_wine
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from wine import FEATURES, TARGET


@pytest.mark.parametrize(("name", "parts"), [("rows.parquet", 1), ("rows.csv", 1), ("parts", 3)])
def test_it_writes_exactly_the_rows_asked_for_with_wines_schema(tmp_path, name, parts):
    out = synthetic_wine.write(1_001, tmp_path / name, parts=parts)
    files = sorted(out.iterdir()) if out.is_dir() else [out]
    assert len(files) == parts
    frame = pd.concat(pd.read_csv(f) if f.suffix == ".csv" else pd.read_parquet(f) for f in files)
    assert list(frame.columns) == [*FEATURES, TARGET] and len(frame) == 1_001
    assert (frame[list(FEATURES)] >= 0).all().all(), "measurements are never negative"


def test_classes_keep_wines_proportions_and_rows_do_not_repeat():
    frame = pd.concat(synthetic_wine.batches(150_000))  # spans two batches
    wine = load_wine(as_frame=True).frame
    expected = wine[TARGET].value_counts(normalize=True)
    assert (frame[TARGET].value_counts(normalize=True) - expected).abs().max() < 0.01
    assert not frame.duplicated().any()


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows():
    first = pd.concat(synthetic_wine.batches(500, seed=3))
    pd.testing.assert_frame_equal(first, pd.concat(synthetic_wine.batches(500, seed=3)))
    assert not first.equals(pd.concat(synthetic_wine.batches(500, seed=4)))


@pytest.mark.parametrize(("noise", "low", "high"), [(1.0, 0.85, 0.99), (3.0, 0.45, 0.85)])
def test_models_still_learn_the_classes_and_more_noise_makes_it_harder(noise, low, high):
    frame = pd.concat(synthetic_wine.batches(5_000, noise=noise))
    train, holdout = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame[TARGET])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[list(FEATURES)], train[TARGET])
    assert low <= model.score(holdout[list(FEATURES)], holdout[TARGET]) <= high


def test_the_command_line_writes_a_folder_of_parts(tmp_path, capsys):
    assert synthetic_wine.main(["2000", str(tmp_path / "out"), "--parts", "2", "--seed", "1"]) == 0
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    assert "wrote 2000 rows" in capsys.readouterr().out
