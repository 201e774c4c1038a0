"""scripts/lookup_model.py: what a downstream service sees when it asks the registry for the champion."""

import json

import lookup_model
import mlflow
import pytest
from lookup_input import read_rows
from pipeline_runs import publish
from wine import FEATURES

SAMPLE = lookup_model.REPO / "scripts" / "sample_input.csv"
HEADER, FIRST_ROW, SECOND_ROW = SAMPLE.read_text().splitlines()[:3]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry holding one champion, produced by the real pipeline functions."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root}/mlflow.db"
    publish(root / "artifacts", uri, "r1")
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
        (["--name", "unknown-model"], "error: model 'unknown-model' does not exist in the registry at sqlite:///"),
        (["--name", "unknown-model", "--version", "1"], "error: model 'unknown-model' does not exist in the registry"),
        (["--input", "rows.txt"], "error: rows.txt: expected a .csv or .json file"),
    ],
)
def test_missing_models_and_bad_input_are_one_line_errors(registry, capsys, args, message):
    code, out, err = run_cli(capsys, "--tracking-uri", registry, *args)
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_a_missing_alias_or_version_says_what_the_model_has(registry, capsys):
    for args in (["--alias", "staging"], ["--version", "9"]):
        _, _, err = run_cli(capsys, "--tracking-uri", registry, *args)
        assert err.endswith("; use alias champion, or a version up to 1\n")


def test_a_new_empty_store_is_one_line_without_mlflow_info_logs(capsys, tmp_path):
    code, out, err = run_cli(capsys, "--tracking-uri", f"sqlite:///{tmp_path}/new.db", "--name", "wine-classifier")
    assert code == 1 and out == ""
    assert err.startswith("error: model 'wine-classifier' does not exist in the registry") and err.count("\n") == 1


def test_an_unreachable_tracking_server_is_a_one_line_error(capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    code, out, err = run_cli(capsys, "--tracking-uri", "http://127.0.0.1:9")
    assert code == 1 and out == ""
    assert err.startswith("error: API request to http://127.0.0.1:9/") and err.count("\n") == 1


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def csv_with(column: str, value: str, row: str = FIRST_ROW) -> str:
    """The sample's first row with one feature's value replaced by `value` as written in the file."""
    cells = row.split(",")
    cells[FEATURES.index(column)] = value
    return ",".join(cells)


def json_with(column: str, literal: str, row: int = 2) -> str:
    """The sample's first two rows as a JSON list, one value of row `row` written as the JSON `literal`."""
    records = read_rows(SAMPLE).iloc[:2].to_dict(orient="records")
    records[row - 1][column] = "@placeholder@"
    return json.dumps(records).replace('"@placeholder@"', literal)


def without(column: str, row: int = 2) -> str:
    records = read_rows(SAMPLE).iloc[:2].to_dict(orient="records")
    del records[row - 1][column]
    return json.dumps(records)


def refused(*rows: str, of: int = 1) -> str:
    """The one line for rows the model's schema refuses (batch scoring's reasons, rows.py)."""
    return f"{len(rows)} of {of} rows cannot be scored ({'; '.join(rows)}); fix or remove those rows"


BAD_INPUTS = {
    # name: (file name, contents, what the one line must say after "error: <path>: ")
    "empty csv": ("rows.csv", "", "the file is empty; give the features as a CSV header and rows, or as JSON objects"),
    "blank json": ("rows.json", " \n\n", "the file is empty"),
    "header only": ("rows.csv", csv_text(), "has a header but no rows; add at least one row"),
    "ragged row": ("rows.csv", csv_text(FIRST_ROW, FIRST_ROW + ",1"), "row 2 has 14 values but the header has 13"),
    "missing column": (
        "rows.csv",
        csv_text("1", header="proline"),
        "lacks columns the model needs: alcohol, malic_acid",
    ),
    "csv empty value": ("rows.csv", csv_text(FIRST_ROW, csv_with("ash", "")), refused("row 2: ash is missing", of=2)),
    "csv text": ("rows.csv", csv_text(csv_with("hue", "abc")), refused("row 1: hue is not a number")),
    "csv NA": ("rows.csv", csv_text(csv_with("hue", "NA")), refused("row 1: hue is not a number")),
    "csv nan": ("rows.csv", csv_text(csv_with("proline", "nan")), refused("row 1: proline is missing")),
    "csv inf": ("rows.csv", csv_text(csv_with("proline", "inf")), refused("row 1: proline is not finite")),
    "csv -inf": ("rows.csv", csv_text(csv_with("proline", "-inf")), refused("row 1: proline is not finite")),
    "csv overflow": ("rows.csv", csv_text(csv_with("alcohol", "1e999")), refused("row 1: alcohol is not finite")),
    "csv two rows": (
        "rows.csv",
        csv_text(csv_with("hue", "x"), FIRST_ROW, csv_with("ash", "x", csv_with("alcohol", ""))),
        refused("row 1: hue is not a number", "row 3: alcohol is missing", of=3),
    ),
    "malformed json": ("rows.json", '[{"alcohol": 1},\n {"ash": }]', "not valid JSON at line 2 column 10: Expecting"),
    "json scalar": ("rows.json", '"rows"', "the JSON is a string; give an object of feature values or a list of them"),
    "json list of numbers": ("rows.json", "[1, 2]", "row 1 is a number; give each row as an object"),
    "json empty list": ("rows.json", "[]", "the JSON list is empty; add at least one object"),
    "json empty object": ("rows.json", "{}", "lacks columns the model needs: alcohol,"),
    "json null": ("rows.json", json_with("alcohol", "null"), refused("row 2: alcohol is missing", of=2)),
    "json NaN": ("rows.json", json_with("alcohol", "NaN"), refused("row 2: alcohol is missing", of=2)),
    "json Infinity": ("rows.json", json_with("alcohol", "Infinity"), refused("row 2: alcohol is not finite", of=2)),
    "json -Infinity": ("rows.json", json_with("alcohol", "-Infinity"), refused("row 2: alcohol is not finite", of=2)),
    "json overflow": ("rows.json", json_with("alcohol", "1e999"), refused("row 2: alcohol is not finite", of=2)),
    "json huge int": (
        "rows.json",
        json_with("alcohol", "1" + "0" * 400),
        refused("row 2: alcohol is not finite", of=2),
    ),
    "json text": ("rows.json", json_with("ash", '"abc"'), refused("row 2: ash is not a number", of=2)),
    "json boolean": ("rows.json", json_with("ash", "true"), refused("row 2: ash is not a number", of=2)),
    "json list value": ("rows.json", json_with("hue", "[1.0]"), "'hue' in row 2 is a nested list; give plain values"),
    "json object value": ("rows.json", json_with("hue", '{"value": 1.0}'), "'hue' in row 2 is a nested object"),
    "json missing key": ("rows.json", without("proline"), refused("row 2: proline is missing", of=2)),
    "json one object": (
        "rows.json",
        json.dumps(dict.fromkeys(FEATURES, 1.0) | {"ash": None}),
        refused("row 1: ash is missing"),
    ),
}


@pytest.mark.parametrize(("file_name", "contents", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_rows_are_one_line_naming_the_file_and_column(
    registry, capsys, tmp_path, file_name, contents, message
):
    path = tmp_path / file_name
    path.write_text(contents)
    code, out, err = run_cli(capsys, "--tracking-uri", registry, "--input", str(path))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: ")
    assert message in err
    assert "np." not in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (None, "cannot be read (No such file or directory); check the path"),
        (b"\xff\xfe", "not UTF-8 text (byte 1); save it as UTF-8"),
    ],
    ids=["no such file", "not utf-8"],
)
def test_unreadable_input_is_one_line(registry, capsys, tmp_path, contents, message):
    path = tmp_path / "rows.csv"
    if contents is not None:
        path.write_bytes(contents)
    code, out, err = run_cli(capsys, "--tracking-uri", registry, "--input", str(path))
    assert (code, out, err) == (1, "", f"error: {path}: {message}\n")


def test_numbers_written_as_json_strings_and_blank_csv_lines_are_accepted(registry, capsys, tmp_path):
    (tmp_path / "rows.json").write_text(json_with("alcohol", '"13.5"', row=1))
    (tmp_path / "rows.csv").write_text(csv_text(FIRST_ROW, "", SECOND_ROW, ""))
    for name in ("rows.json", "rows.csv"):
        code, out, _ = run_cli(capsys, "--tracking-uri", registry, "--input", str(tmp_path / name))
        assert code == 0 and json.loads(out)["predictions"] == [0, 0]
