"""The stratified sample get_data keeps of a source larger than max_training_rows, as the batches stream past."""

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data.sampling import StratifiedSample


def source(rows=20_000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x": rng.normal(size=rows), "label": rng.choice(["a", "b", "rare"], rows, p=[0.9, 0.099, 0.001])}
    )


def sampled(frame, limit, batch_rows, seed=7):
    sample = StratifiedSample(limit, seed, "label")
    for start in range(0, len(frame), batch_rows):
        sample.add(frame.iloc[start : start + batch_rows])
    return sample.result()


@pytest.mark.parametrize("limit", [1_000, 5_000])
def test_the_sample_is_the_same_whatever_the_batch_size_and_keeps_each_labels_share(limit):
    frame = source()
    samples = [sampled(frame, limit, batch_rows) for batch_rows in (300, 4_000, 20_000)]
    assert all(sample.index.equals(samples[0].index) for sample in samples), "the batches do not change the sample"
    sample = samples[0]
    assert len(sample) == limit and sample.index.is_monotonic_increasing, "the limit, in source order"
    pd.testing.assert_frame_equal(sample, frame.loc[sample.index])
    counts, shares = sample["label"].value_counts(), frame["label"].value_counts(normalize=True)
    assert counts["rare"] >= 2, "a rare label keeps enough rows to be split"
    assert abs(counts["a"] / limit - shares["a"]) < 0.005


def test_a_source_within_the_limit_is_kept_whole_and_another_seed_draws_another_sample():
    frame = source(rows=3_000)
    assert sampled(frame, 3_000, 700).index.equals(frame.index)
    assert not sampled(frame, 1_000, 700, seed=1).index.equals(sampled(frame, 1_000, 700, seed=2).index)
