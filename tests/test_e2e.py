"""End to end: the real DAG run by `scripts/run_pipeline.py` (what `make run` calls) on a throwaway Airflow home.

Each test gets its own MLflow store and artifact store; the Airflow metadata DB is migrated once per session.
"""

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs

import mlflow
import pandas as pd
import pytest
import synthetic_wine
from local_airflow import metadata
from mlflow import MlflowClient
from sklearn.metrics import accuracy_score
from wine import FEATURES, TARGET

REPO = Path(__file__).resolve().parent.parent
MODEL = "wine-classifier"
pytestmark = pytest.mark.e2e


def pipeline_command(logical_date, conf=None):
    args = [sys.executable, str(REPO / "scripts" / "run_pipeline.py"), "--logical-date", logical_date]
    return args + (["--conf", json.dumps(conf)] if conf else [])


def run_pipeline(env, logical_date, conf=None, expect_success=True):
    result = subprocess.run(pipeline_command(logical_date, conf), env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == expect_success, output[-5000:]
    return output


def versions():
    return sorted(int(v.version) for v in MlflowClient().search_model_versions(f"name = '{MODEL}'"))


def alias_version(alias):
    return str(MlflowClient().get_model_version_by_alias(MODEL, alias).version)


def holdout_of(artifact_root, logical_date):
    run_dir = f"manual__{logical_date}".replace(":", "_").replace("+", "_")
    return pd.read_parquet(Path(artifact_root) / "classification_pipeline" / run_dir / "data" / "holdout.parquet")


def run_id_of(logical_date):
    return f"manual__{logical_date}"


def champion_events(logical_date):
    """The extras of the champion Asset's events that this DAG run emitted."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = (
        select(AssetEvent.extra)
        .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        .where(
            AssetModel.name == "classification_pipeline_champion", AssetEvent.source_run_id == run_id_of(logical_date)
        )
    )
    with create_session() as session:
        return list(session.scalars(query))


def extra_links(logical_date, task_id, dag_id="classification_pipeline"):
    """The extra links the DAG run's task instances published, by map index and link name."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(XComModel.map_index, XComModel.key, XComModel.value).where(
        XComModel.dag_id == dag_id,
        XComModel.run_id == run_id_of(logical_date),
        XComModel.task_id == task_id,
        XComModel.key.startswith("_link_"),
    )
    with create_session() as session:
        rows = session.execute(query).all()
    return {(index, key.removeprefix("_link_")): value for index, key, value in rows if value}


def mlflow_runs(logical_date):
    """This DAG run's parent MLflow run and its child runs, by candidate."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name("classification_pipeline")
    runs = client.search_runs([experiment.experiment_id], f"tags.airflow_run_id = '{run_id_of(logical_date)}'")
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(parents) == 1, "one parent run per DAG run, however often it ran"
    children = {
        run.data.tags["candidate"]: run
        for run in runs
        if run.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id
    }
    return parents[0], children


def test_runs_train_three_candidates_register_the_best_gate_the_champion_and_reruns_add_nothing(stores):
    first = run_pipeline(stores, "2026-10-01T00:00:00+00:00")
    assert "candidates   f1_macro: " in first and "(best)" in first
    assert "registered   wine-classifier version 1 (new;" in first
    assert "champion     yes - champion: no champion yet" in first
    assert "  data         178 rows of sklearn:wine, 3 classes, 13 features\n" in first
    assert "holdout      accuracy=1.0000, balanced_accuracy=1.0000, f1_macro=1.0000, roc_auc=1.0000, log_loss=" in first
    assert len(first.splitlines()) < 22, "a progress trail and a summary, not a log dump"
    log = Path(first.split("log          ")[1].split()[0])
    assert "[DAG TEST] end task task_id=persist_model" in log.read_text(), "the full log is in the named file"
    assert versions() == [1] and alias_version("champion") == "1"

    parent, children = mlflow_runs("2026-10-01T00:00:00+00:00")
    assert set(children) == {"logistic_regression", "extra_trees", "hist_gradient_boosting"}
    assert all({"accuracy", "f1_macro"} <= set(child.data.metrics) for child in children.values())
    board = MlflowClient().load_table(parent.info.experiment_id, "leaderboard.json", run_ids=[parent.info.run_id])
    assert len(board) == 3 and list(board["rank"]) == [1, 2, 3]
    best = board.iloc[0]["candidate"]
    assert f"{best} " in first.split("candidates")[1].split("(best)")[0]
    registered = MlflowClient().get_model_version(MODEL, "1")
    assert registered.run_id == children[best].info.run_id and registered.tags["candidate"] == best
    assert [event["version"] for event in champion_events("2026-10-01T00:00:00+00:00")] == ["1"]
    assert champion_events("2026-10-01T00:00:00+00:00")[0]["model_name"] == MODEL

    ui = "http://127.0.0.1:5000"  # make ui's MLflow, for a local store
    assert extra_links("2026-10-01T00:00:00+00:00", "persist_model") == {
        (-1, "MlflowRunLink"): f"{ui}/#/runs/{registered.run_id}?workflowType=machine_learning",
        (-1, "ModelVersionLink"): f"{ui}/#/models/{MODEL}/versions/1?workflowType=machine_learning",
    }
    experiment_tags = MlflowClient().get_experiment(parent.info.experiment_id).tags
    assert experiment_tags["mlflow.experimentKind"] == "custom_model_development", "MLflow opens on its runs"
    training_links = extra_links("2026-10-01T00:00:00+00:00", "train_model")
    assert sorted(training_links) == [(0, "MlflowRunLink"), (1, "MlflowRunLink"), (2, "MlflowRunLink")]
    for link in training_links.values():
        page, _, query = link.partition("?")
        assert page == f"{ui}/#/experiments/{parent.info.experiment_id}/runs"
        assert parse_qs(query)["workflowType"] == ["machine_learning"], "MLflow's model-training view, not GenAI"
        search = parse_qs(query)["searchFilter"][0]
        run_filter, _, candidate = search.partition(" and tags.candidate = ")
        assert run_filter == f"tags.airflow_run_id = '{run_id_of('2026-10-01T00:00:00+00:00')}'"
        assert candidate.strip("'") in children, "the candidate's child run, once persist_model logged it"

    holdout = holdout_of(stores["ML_PIPELINE_ARTIFACT_ROOT"], "2026-10-01T00:00:00+00:00")
    champion = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    assert accuracy_score(holdout[TARGET], champion.predict(holdout[list(FEATURES)])) >= 0.9

    second = run_pipeline(stores, "2026-10-02T00:00:00+00:00")
    assert versions() == [1, 2] and alias_version("champion") == "2"
    assert "champion     yes - champion: f1_macro 1.0000 = (and newer than) champion v1's 1.0000" in second
    assert [event["version"] for event in champion_events("2026-10-02T00:00:00+00:00")] == ["2"]

    rerun = run_pipeline(stores, "2026-10-01T00:00:00+00:00")
    assert "registered   wine-classifier version 1 (reused" in rerun
    assert "champion     no - challenger: f1_macro 1.0000 = (but older than) champion v2's" in rerun
    assert versions() == [1, 2] and alias_version("champion") == "2", "an old run never takes champion back"
    assert len(champion_events("2026-10-01T00:00:00+00:00")) == 1, "no event when the champion did not change"
    assert len(mlflow_runs("2026-10-01T00:00:00+00:00")[1]) == 3, "a rerun adds no runs"


def test_segment_column_trains_a_model_per_store_and_makes_champion_a_router(stores, tmp_path):
    import tables

    source = tmp_path / "stores.csv"
    tables.segmented(segments=4, rows=300).to_csv(source, index=False)
    conf = {"source_uri": str(source), "target_column": "bought", "segment_column": "store",
            "candidates": [{"classifier": "logistic_regression"}], "segment_worker_slots": 1}  # fmt: skip
    output = run_pipeline(stores, "2026-10-05T00:00:00+00:00", conf)
    assert re.search(r"segments\.train_segments\[group 3/3: 2 segments, [\d,]+ rows\] success", output), output
    assert f"registered   {MODEL}.all version 1 (new; " in output and "(the fallback, for rows of" in output
    assert "segments     4 trained on store: 4 promoted, 0 not (their champion, or the fallback" in output
    assert (
        f"router       {MODEL} version 1 (new): 4 segments on their own champion, the rest on {MODEL}.all v1" in output
    )
    assert "champion     yes - champion: no champion yet" in output and f"ARGS='--name {MODEL}'" in output
    assert [event["version"] for event in champion_events("2026-10-05T00:00:00+00:00")] == ["1"], "the router's"
    assert set(extra_links("2026-10-05T00:00:00+00:00", "publish_router")) == {(-1, "ModelVersionLink")}
    router = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    rows = pd.read_csv(source).head(50).drop(columns="bought")
    answered = router.predict(rows)
    assert answered["segment_model"].str.startswith(f"{MODEL}.seg.store_").sum() == rows["store"].notna().sum()


def test_when_segments_cannot_be_planned_the_run_fails_and_publishes_no_router(stores, tmp_path):
    import tables

    source = tmp_path / "stores.csv"
    tables.segmented(segments=4, rows=300).to_csv(source, index=False)
    conf = {"source_uri": str(source), "target_column": "bought", "segment_column": "store", "max_segments": 2,
            "candidates": [{"classifier": "logistic_regression"}]}  # fmt: skip
    output = run_pipeline(stores, "2026-10-06T00:00:00+00:00", conf, expect_success=False)
    assert "segment_column store has 4 distinct values, more than max_segments (2)" in output
    states = metadata.task_states("classification_pipeline", run_id_of("2026-10-06T00:00:00+00:00"))
    assert [task for task, state in states.items() if state == "failed"] == ["plan_segments", "publish_router"]
    assert "plan_segments failed, so no router was published and @champion stays as it was" in output
    assert versions() == [], "no router: a failed run does not make the fallback alone <model_name>@champion"


def test_a_failing_candidate_fails_alone_at_once_and_the_others_are_registered(stores):
    conf = {
        "candidates": [
            {"classifier": "logistic_regression"},
            {"classifier": "random_forest", "name": "broken_forest", "hyperparams": {"n_estimators": 0}},
            {"classifier": "extra_trees", "hyperparams": {"n_estimators": 20}},
        ]
    }
    output = run_pipeline(stores, "2026-10-05T00:00:00+00:00", conf=conf)
    assert "train_model[broken_forest] failed" in output and "up_for_retry" not in output
    assert (
        "broken_forest skipped (Invalid configuration: invalid hyperparams for random_forest: The 'n_estimators'"
        in output
    )
    assert "registered   wine-classifier version 1 (new;" in output
    parent, children = mlflow_runs("2026-10-05T00:00:00+00:00")
    assert set(children) == {"logistic_regression", "extra_trees"}
    board = MlflowClient().load_table(parent.info.experiment_id, "leaderboard.json", run_ids=[parent.info.run_id])
    assert board.set_index("candidate").loc["broken_forest", "status"].startswith("skipped: Invalid configuration")

    none_valid = {"candidates": [conf["candidates"][1]]}
    output = run_pipeline(stores, "2026-10-06T00:00:00+00:00", conf=none_valid, expect_success=False)
    assert "get_data failed" in output, "when no candidate can train, nothing is read or trained"
    assert (
        output.rstrip()
        .splitlines()[-1]
        .startswith("Invalid configuration: candidate broken_forest: invalid hyperparams")
    )


def test_a_store_that_refuses_one_candidates_model_fails_the_run_and_registers_nothing(stores):
    date = "2026-10-07T00:00:00+00:00"
    run_dir = (
        Path(stores["ML_PIPELINE_ARTIFACT_ROOT"])
        / "classification_pipeline"
        / f"manual__{date}".replace(":", "_").replace("+", "_")
    )
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "extra_trees").write_text("a file where extra_trees' folder goes")
    output = run_pipeline(stores, date, expect_success=False)
    assert "train_model[extra_trees] failed" in output and "persist_model failed" in output
    assert "up_for_retry" not in output, "a retry would meet the same wall"
    assert output.rstrip().splitlines()[-1] == (
        f"Environment failure: train_model[extra_trees]: {run_dir}/model/extra_trees/model.joblib: a file is in the "
        "way of a folder; remove it, then rerun; nothing was registered"
    )
    assert versions() == [], "not 'extra_trees skipped' and the others registered"


def test_a_rerun_with_other_settings_registers_a_new_version_that_must_earn_champion(stores):
    run_pipeline(stores, "2026-11-20T00:00:00+00:00")
    weak = {"classifier": "random_forest", "hyperparams": {"n_estimators": 1, "max_depth": 1}}
    output = run_pipeline(stores, "2026-11-20T00:00:00+00:00", conf=weak)
    assert "registered   wine-classifier version 2 (new;" in output and "champion     no" in output
    metrics = MlflowClient().get_model_version(MODEL, "2").tags
    assert f"f1_macro={float(metrics['holdout.f1_macro']):.4f}" in output, "the summary shows the gated version's score"
    assert alias_version("champion") == "1" and alias_version("challenger") == "2"


def on_s3(stores, moto_server):
    """Artifacts in moto's S3, reached through the Airflow connection as on MWAA."""
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"},
    }
    return stores | {
        "ML_PIPELINE_ARTIFACT_ROOT": "s3://ml-artifacts/pipelines",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
    }


def test_artifacts_travel_through_s3_via_the_airflow_connection(stores, s3_client, moto_server):
    s3_client.create_bucket(Bucket="ml-artifacts")
    env = on_s3(stores, moto_server)
    run_pipeline(env, "2026-11-22T00:00:00+00:00")
    run_prefix = "pipelines/classification_pipeline/manual__2026-11-22T00_00_00_00_00/"
    listed = s3_client.list_objects_v2(Bucket="ml-artifacts", Prefix=run_prefix)
    names = {item["Key"].removeprefix(run_prefix) for item in listed["Contents"]}
    models = {f"model/{name}/{file}" for name in ("logistic_regression", "extra_trees", "hist_gradient_boosting")
              for file in ("model.joblib", "evaluation.json")}  # fmt: skip
    data = {"data/train.parquet", "data/holdout.parquet", "data/schema.json", "data/reference.json"}
    assert names == data | models, "each mapped instance wrote its own"
    assert versions() == [1] and alias_version("champion") == "1"
    assert len(mlflow_runs("2026-11-22T00:00:00+00:00")[1]) == 3

    missing_bucket = env | {"ML_PIPELINE_ARTIFACT_ROOT": "s3://no-such-bucket/pipelines"}
    output = run_pipeline(missing_bucket, "2026-11-23T00:00:00+00:00", expect_success=False)
    assert output.rstrip().splitlines()[-1].startswith("Artifact store error: s3://no-such-bucket/")
    assert "bucket no-such-bucket does not exist" in output and "up_for_retry" not in output


def test_a_hundred_thousand_rows_from_an_s3_prefix_of_parquet_parts(stores, s3_client, moto_server, tmp_path):
    s3_client.create_bucket(Bucket="ml-artifacts")
    for part in sorted(synthetic_wine.write(100_000, tmp_path / "parts", parts=4).iterdir()):
        s3_client.upload_file(str(part), "ml-artifacts", f"sources/wine/{part.name}")
    conf = {"source_uri": "s3://ml-artifacts/sources/wine/"}
    output = run_pipeline(on_s3(stores, moto_server), "2026-10-10T00:00:00+00:00", conf=conf)
    dataset = metadata.xcom_values("classification_pipeline", run_id_of("2026-10-10T00:00:00+00:00"), "dataset")
    assert (dataset["get_data"]["rows"], dataset["get_data"]["holdout_rows"]) == (100_000, 25_000)
    assert versions() == [1] and alias_version("champion") == "1"
    assert float(MlflowClient().get_model_version(MODEL, "1").tags["holdout.f1_macro"]) > 0.9, output


@pytest.mark.parametrize(
    ("conf", "corrupt", "last_line"),
    [
        (None, lambda frame: frame.drop(columns=["target"]), "Invalid input data: no column 'target' (target_column)"),
        (None, lambda frame: frame.assign(target=0), "Invalid input data: only one class in 'target' (0)"),
        ({"hyperparams": {"C": -1}}, None, "Invalid configuration: invalid hyperparams for logistic_regression: The"),
    ],
)
def test_bad_input_fails_get_data_at_once_with_one_line_and_registers_nothing(
    stores, tmp_path, wine_frame, conf, corrupt, last_line
):
    conf = dict(conf or {})
    if corrupt:
        corrupt(wine_frame).to_csv(tmp_path / "wine.csv", index=False)
        conf["source_uri"] = str(tmp_path / "wine.csv")
    started = time.monotonic()
    output = run_pipeline(stores, "2026-11-23T00:00:00+00:00", conf=conf, expect_success=False)
    assert output.rstrip().splitlines()[-1].startswith(last_line), output[-2000:]
    assert "get_data failed, train_model upstream_failed, persist_model upstream_failed" in output
    assert "up_for_retry" not in output and "Traceback" not in output
    assert time.monotonic() - started < 120, "no retry delays"
    assert MlflowClient().search_registered_models() == []


def test_a_value_the_trigger_form_refuses_starts_no_run_and_says_which_setting(stores):
    output = run_pipeline(stores, "2026-11-24T00:00:00+00:00", conf={"test_size": "a third"}, expect_success=False)
    assert output.rstrip().splitlines()[-1] == (
        "Invalid configuration: test_size: 'a third' is not of type 'number', 'null' (from run conf); "
        "no run was started"
    )
    assert "Traceback" not in output and MlflowClient().search_registered_models() == []


def test_an_unreachable_mlflow_fails_within_three_minutes_naming_the_server(stores):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = stores | {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
    started = time.monotonic()
    output = run_pipeline(env, "2026-11-24T00:00:00+00:00", expect_success=False)
    assert time.monotonic() - started < 180
    last = output.rstrip().splitlines()[-1]
    assert last.startswith(
        f"MLflow unavailable: MLflow at http://127.0.0.1:{port} did not answer (ConnectionRefusedError: "
    ), last
    trail = [" ".join(line.split()[1:]) for line in output.splitlines()]  # without the seconds and the padding
    assert "persist_model up_for_retry (attempt 1)" in trail and "persist_model up_for_retry (attempt 2)" in trail
    assert "persist_model failed (attempt 3)" in trail, "a transient failure is retried, twice"
    log = Path(re.search(r"\(log: (\S+)\)", output).group(1)).read_text()
    alerts = re.findall(r"Alert: classification_pipeline: (\S+) failed on run \S+: MLflow unavailable: ", log)
    assert alerts == ["persist_model"], "people are told once, after the last attempt (tests/test_notify.py)"


def test_the_script_works_when_run_directly_on_a_fresh_airflow_home(stores, tmp_path):
    env = stores | {"AIRFLOW_HOME": str(tmp_path / "fresh-airflow")}
    for name in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__LOAD_EXAMPLES"):
        env.pop(name)
    output = run_pipeline(env, "2026-11-25T00:00:00+00:00")
    assert "registered   wine-classifier version 1" in output
    assert (tmp_path / "fresh-airflow" / "airflow.db").is_file() and not (tmp_path / "airflow").exists()


def test_runs_started_at_the_same_moment_are_separate_runs_that_all_register(stores):
    command = [sys.executable, str(REPO / "scripts" / "run_pipeline.py"), "--conf", '{"classifier": "random_forest"}']
    processes = [subprocess.Popen(command, env=stores, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]  # fmt: skip
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    run_ids = {output.split()[2] for output in outputs}  # "<dag_id> run <run_id> (log: ...)"
    assert len(run_ids) == 2, "each its own DAG run"
    assert versions() == [1, 2]
    registered = {re.search(rf"registered   {MODEL} version (\d+)", output).group(1) for output in outputs}
    assert registered == {"1", "2"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_run_within_seconds_and_changes_nothing(stores, signum):
    run_pipeline(stores, "2026-11-20T00:00:00+00:00")
    slow = {"hyperparams": {"solver": "saga", "tol": 0, "max_iter": 400000}}  # minutes inside native code
    process = subprocess.Popen(
        pipeline_command("2026-11-26T00:00:00+00:00", slow), env=stores, stdout=subprocess.PIPE, text=True
    )
    for line in process.stdout:
        if "train_model[logistic_regression] running" in line:
            break
    time.sleep(2)
    process.send_signal(signum)
    stopped = time.monotonic()
    out, _ = process.communicate(timeout=60)
    assert time.monotonic() - stopped < 10, "stops within seconds"
    assert process.returncode == 128 + signum
    assert out.rstrip().splitlines()[-1].startswith(f"Stopped by {signal.Signals(signum).name}")
    run_id = "manual__2026-11-26T00:00:00+00:00"
    states = metadata.task_states("classification_pipeline", run_id)
    # Without segment_column, plan_segments skips if it ran before the signal; nothing after it runs either way.
    segments = [states.pop(task) for task in [*states] if "segment" in task or task == "publish_router"]
    assert len(segments) == 6 and "success" not in segments
    assert states == {
        "get_data": "success", "train_model[logistic_regression]": "failed", "persist_model": "upstream_failed",
        "approve_champion": "upstream_failed", "promote_champion": "upstream_failed",
        "keep_challenger": "upstream_failed",
    }  # fmt: skip
    assert versions() == [1] and alias_version("champion") == "1"
