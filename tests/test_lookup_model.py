"""scripts/lookup_model.py: what a downstream service sees when it asks the registry for the champion."""

import json

import lookup_model
import mlflow
import pytest

from ml_pipeline.lookup import read_rows

SAMPLE = lookup_model.REPO / "scripts" / "sample_input.csv"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry holding one champion, produced by the real pipeline functions."""
    from ml_pipeline.data import snapshot_dataset
    from ml_pipeline.registry import persist
    from ml_pipeline.storage import Storage
    from ml_pipeline.training import train_and_evaluate

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root}/mlflow.db"
    storage = Storage()
    dataset = snapshot_dataset("", str(root / "run"), storage, test_size=0.25, seed=42, min_rows=100)
    training = train_and_evaluate(
        dataset["train_uri"], dataset["holdout_uri"], str(root / "run"), storage,
        classifier="logistic_regression", hyperparams={}, seed=42,
    )  # fmt: skip
    persist(
        storage=storage, tracking_uri=uri, experiment_name="e", model_name="wine-classifier", gate_metric="f1_macro",
        dag_id="classification_pipeline", run_id="r1", dataset=dataset, training=training,
        split_params={"test_size": 0.25, "random_seed": 42},
    )  # fmt: skip
    yield uri
    mlflow.set_tracking_uri(None)


def run_cli(capsys, *args):
    code = lookup_model.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_champion_is_described_and_predicts_the_sample_rows(registry, capsys):
    code, out, _ = run_cli(capsys, "--tracking-uri", registry, "--input", str(SAMPLE))
    result = json.loads(out)
    assert code == 0
    assert result["version"] == "1" and result["aliases"] == ["champion"]
    assert result["metrics"]["accuracy"] >= 0.9 and len(result["run_id"]) == 32
    assert result["predictions"] == [0, 0, 1, 1, 2, 2], "the sample holds two rows of each cultivar, in order"


def test_rows_can_be_given_as_json(registry, capsys, tmp_path):
    rows = read_rows(SAMPLE).iloc[[0, 5]].to_dict(orient="records")
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    code, out, _ = run_cli(capsys, "--tracking-uri", registry, "--version", "1", "--input", str(tmp_path / "rows.json"))
    assert code == 0 and json.loads(out)["predictions"] == [0, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--alias", "staging"], "error: model 'wine-classifier' has no alias 'staging'"),
        (["--version", "9"], "error: model 'wine-classifier' has no version 9"),
        (["--name", "unknown-model"], "error: model 'unknown-model' has no alias 'champion'"),
        (["--input", "rows.txt"], "error: rows.txt: expected a .csv or .json file"),
    ],
)
def test_missing_models_and_bad_input_are_one_line_errors(registry, capsys, args, message):
    code, out, err = run_cli(capsys, "--tracking-uri", registry, *args)
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_an_unreachable_tracking_server_is_a_one_line_error(capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    code, out, err = run_cli(capsys, "--tracking-uri", "http://127.0.0.1:9")
    assert code == 1 and out == ""
    assert err.startswith("error: API request to http://127.0.0.1:9/") and err.count("\n") == 1
