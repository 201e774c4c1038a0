"""The scoring protocol in one worker (in-process): what `mlflow models serve` answers, this server answers too; what
it refuses gets one line naming the problem, never a traceback."""

from __future__ import annotations

import io
import json

import mlflow
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.pyfunc import scoring_server
from pipeline_runs import MODEL
from serving_helpers import GOOD, wait_until
from sklearn.datasets import load_wine

from serving.app import create_app
from serving.loading import ServedModel, Source
from serving.settings import ServerSettings

ROWS = load_wine(as_frame=True).data.sample(7, random_state=3).reset_index(drop=True)
CSV = {"Content-Type": "text/csv"}


def requests_in_every_format(rows: pd.DataFrame) -> dict[str, tuple[str, str]]:
    split = json.loads(rows.to_json(orient="split", index=False))
    records = rows.to_dict(orient="records")
    return {
        "dataframe_split": (json.dumps({"dataframe_split": split}), "application/json"),
        "dataframe_records": (json.dumps({"dataframe_records": records}), "application/json"),
        "instances": (json.dumps({"instances": records}), "application/json"),
        "inputs": (json.dumps({"inputs": rows.to_dict(orient="list")}), "application/json"),
        "csv": (rows.to_csv(index=False), "text/csv"),
    }


@pytest.fixture
def server(registry, follower_of):
    """One worker serving version 1 pinned, with small limits."""
    settings = ServerSettings(model_uri=f"models:/{MODEL}/{GOOD}", max_rows=50, max_body_mb=0.05)
    follower = follower_of(Source(MODEL, version=GOOD))
    with TestClient(create_app(settings, follower), raise_server_exceptions=False) as client:
        wait_until(lambda: follower.model is not None, what="version 1 loading")
        yield client


@pytest.fixture(scope="module")
def mlflow_server(serving_registry):
    """MLflow's own scoring app (what `mlflow models serve` runs) for the same version."""
    mlflow.set_tracking_uri(serving_registry)
    app = scoring_server.init(mlflow.pyfunc.load_model(f"models:/{MODEL}/{GOOD}"))
    mlflow.set_tracking_uri(None)
    return TestClient(app)


@pytest.mark.parametrize("form", ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"])
def test_every_request_format_is_answered_as_mlflow_models_serve_answers_it(server, mlflow_server, form):
    body, content_type = requests_in_every_format(ROWS)[form]
    ours = server.post("/invocations", content=body, headers={"Content-Type": content_type})
    theirs = mlflow_server.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert ours.status_code == theirs.status_code == 200
    assert ours.json() == theirs.json()
    assert ours.headers["X-Model-Version"] == GOOD and ours.headers["X-Model-Name"] == MODEL


def test_probabilities_per_label_on_request(server):
    body = {"dataframe_split": json.loads(ROWS.to_json(orient="split", index=False)), "params": {"probabilities": True}}
    answer = server.post("/invocations", json=body).json()
    by_csv = server.post("/invocations?probabilities=true", content=ROWS.to_csv(index=False), headers=CSV).json()
    assert answer == by_csv
    assert len(answer["probabilities"]) == len(ROWS)
    for label, probabilities in zip(answer["predictions"], answer["probabilities"], strict=True):
        assert set(probabilities) == {"0", "1", "2"}
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert max(probabilities, key=probabilities.get) == str(label)


def test_version_and_readiness_name_the_serving_version(server):
    assert server.get("/ping").status_code == 200
    assert server.get("/version").json() | {"mlflow": None} == {
        "model": MODEL, "version": GOOD, "source": f"models:/{MODEL}/{GOOD}", "mlflow": None
    }  # fmt: skip
    assert server.get("/health").json()["model"] == {"name": MODEL, "version": GOOD}


def csv_with(column: str, value: str, row: int = 2) -> str:
    rows = ROWS.astype(object)
    rows.loc[row, column] = value
    return rows.to_csv(index=False)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (csv_with("hue", "dark"), "text/csv", 400, "row 2: hue is not a number; fix the rows and send them again"),
        (csv_with("proline", ""), "text/csv", 400, "row 2: proline is missing; fix the rows and send them again"),
        (csv_with("alcohol", "inf", row=0), "text/csv", 400, "row 0: alcohol is not finite"),
        (ROWS.drop(columns=["ash"]).to_csv(index=False), "text/csv", 400,
         "the request lacks columns the model needs: ash; give all 13 of the model's input columns"),
        ("{not json", "application/json", 400, "the body is not valid JSON"),
        ('{"rows": []}', "application/json", 400, "the JSON body must be an object with exactly one of"),
        ('{"instances": [[1, 2]]}', "application/json", 400, "instances must name its columns"),
        ("a,b", "text/plain", 415, "Content-Type text/plain is not served; send application/json or text/csv"),
        (b"\xff\xfe", "text/csv", 400, "the body is not UTF-8 text"),
        (pd.concat([ROWS] * 8).to_csv(index=False), "text/csv", 413, "56 rows; at most 50 per request"),
        ("x" * 60_000, "text/csv", 413, "the body is larger than 0.05 MB"),
    ],
)  # fmt: skip
def test_a_bad_request_gets_one_line_naming_the_problem(server, body, content_type, status, message):
    answer = server.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == status
    error = answer.json()
    assert message in error["message"]
    assert "\n" not in error["message"] and "Traceback" not in answer.text
    assert set(error) == {"error_code", "message"}


def test_several_bad_rows_are_counted_in_the_one_line(server):
    rows = ROWS.astype(object)
    rows.loc[1, "hue"], rows.loc[4, "proline"] = "dark", "inf"
    message = server.post("/invocations", content=rows.to_csv(index=False), headers=CSV).json()["message"]
    assert message == (
        "row 1: hue is not a number (and 1 more row: proline is not finite); fix the rows and send them again"
    )


def test_a_slow_request_gets_504_and_a_failure_inside_gets_500_without_a_traceback(registry, follower_of, monkeypatch):
    import time

    settings = ServerSettings(model_uri=f"models:/{MODEL}/{GOOD}", request_timeout_seconds=0.2)
    follower = follower_of(Source(MODEL, version=GOOD))
    with TestClient(create_app(settings, follower), raise_server_exceptions=False) as client:
        wait_until(lambda: follower.model is not None, what="version 1 loading")
        monkeypatch.setattr(ServedModel, "predict", lambda self, rows: time.sleep(1))
        slow = client.post("/invocations", content=ROWS.to_csv(index=False), headers=CSV)
        monkeypatch.setattr(ServedModel, "predict", lambda self, rows: 1 / 0)
        broken = client.post("/invocations", content=ROWS.to_csv(index=False), headers=CSV)
    assert slow.status_code == 504
    assert slow.json()["message"] == "scoring took longer than 0.2 s; send fewer rows per request"
    assert broken.status_code == 500
    assert "incident" in broken.json()["message"] and "ZeroDivision" not in broken.text


def test_metrics_count_requests_errors_rows_and_the_version(server):
    server.post("/invocations", content=ROWS.to_csv(index=False), headers=CSV)
    server.post("/invocations", content="a,b", headers={"Content-Type": "text/plain"})
    page = server.get("/metrics").text
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in io.StringIO(page)
               if line.strip() and not line.startswith("#")}  # fmt: skip
    assert samples['model_server_requests_total{endpoint="/invocations",status="200"}'] >= 1
    assert samples['model_server_errors_total{kind="bad_request"}'] >= 1
    assert samples["model_server_rows_total"] >= len(ROWS)
    assert samples["model_server_model_version"] == float(GOOD)
    assert samples['model_server_request_seconds_count{endpoint="/invocations"}'] >= 2
