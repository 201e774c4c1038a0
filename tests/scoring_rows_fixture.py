"""Rows to score and a registry to score them with, shared by the local and Spark engines' tests."""

import mlflow
import pandas as pd
import pytest
from pipeline_runs import publish

BAD_ROWS = {  # row id -> (feature, value, reason)
    1001: ("alcohol", "", "alcohol is missing"),
    1002: ("hue", "dark", "hue is not a number"),
    1003: ("proline", "inf", "proline is not finite"),
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A model registry with version 1 of the Wine model as champion."""
    root = tmp_path_factory.mktemp("registry")
    tracking_uri = f"sqlite:///{root}/mlflow.db"
    publish(root / "artifacts", tracking_uri, "manual__first")
    mlflow.set_tracking_uri(tracking_uri)
    yield tracking_uri
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def rows(tmp_path_factory, wine_rows):
    """New rows to score: 40 Wine rows with an id column, and three that cannot be scored."""
    path = tmp_path_factory.mktemp("source") / "rows.csv"
    wine_rows.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def wine_rows():
    from sklearn.datasets import load_wine

    good = load_wine(as_frame=True).data.sample(40, random_state=1).reset_index(drop=True)
    good.insert(0, "id", range(len(good)))
    bad = pd.concat([good.head(1)] * len(BAD_ROWS), ignore_index=True).astype(object)
    for position, (row_id, (feature, value, _)) in enumerate(BAD_ROWS.items()):
        bad.loc[position, ["id", feature]] = [row_id, value]
    return pd.concat([good, bad], ignore_index=True)
