"""The Spark engine: the job script in local Spark gives the local engine's output, for the Wine rows and for a
table of any shape (text and boolean categories, numeric codes, gaps, text labels, a latin-1 CSV and a Parquet part),
drift counts included; on AWS the DAG submits the same script to EMR Serverless (checked against a stubbed client)."""

import copy
import json
import runpy
from dataclasses import dataclass
from pathlib import Path

import boto3
import mlflow
import numpy as np
import pandas as pd
import pytest
import tables
from botocore.stub import ANY, Stubber
from pipeline_runs import MODEL, publish, segmented_run, train
from scoring_rows_fixture import BAD_ROWS
from sklearn.linear_model import LogisticRegression

from ml_pipeline import contract
from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.config.scoring import SPARK_JOB_SCRIPT
from ml_pipeline.data import profile, schema, sources
from ml_pipeline.data.snapshot import snapshot_dataset
from ml_pipeline.data.splits import read_schema
from ml_pipeline.scoring import rows as row_rules
from ml_pipeline.scoring.batch import pin_version, score_on_worker
from ml_pipeline.scoring.output import read_counts
from ml_pipeline.scoring.spark import SparkJobError, emr_job_run, run_locally
from ml_pipeline.store.objects import Storage, join


@dataclass(frozen=True)
class Case:
    """Rows to score with a registry's champion, and what both engines must make of them."""

    registry: str
    source: Path
    csv_encoding: str
    labels: list  # the model's classes: the predictions' values and type
    categorical: list[str]  # the model's categorical features
    rows_in: int
    reasons: dict[int, str]  # row id -> why that row cannot be scored
    unseen: int  # scored rows holding a category training never saw


def plan_for(case, output, source=None):
    config = PipelineConfig(mlflow_tracking_uri=case.registry, model_name=MODEL, scoring_engine="spark",
                            scoring_source_uri=str(source or case.source), csv_encoding=case.csv_encoding,
                            max_rejected_fraction=0.1)  # fmt: skip
    return pin_version(config, str(output))


@pytest.fixture(scope="module")
def wine(registry, rows):
    reasons = {row_id: reason for row_id, (_, _, reason) in BAD_ROWS.items()}
    return Case(registry, rows, "utf-8", [0, 1, 2], [], rows_in=43, reasons=reasons, unseen=0)


# A table that is not Wine, its label in `style` (text, with accents). The model learns these features, in this order:
# (kind, whether training had gaps in it, so that scoring accepts them).
TABLE_FEATURES = {
    "region": ("categorical", True),
    "grape": ("categorical", False),
    "organic": ("categorical", False),
    "batch": ("categorical", True),
    "alcohol": ("numeric", False),
    "acidity": ("numeric", True),
}
TABLE_LABELS = ["rosé", "rot", "weiß"]
REGIONS, GRAPES = ["Nord", "Süd", "Höhenlage", "Küste"], ["Riesling", "Grüner", "Spätburgunder"]
TABLE_SETTINGS = {"target_column": "style", "categorical_columns": ["batch"], "csv_encoding": "latin-1"}
# Rows the table's model cannot score: row id -> (values written into a good row, reason).
TABLE_BAD_ROWS = {
    2001: ({"alcohol": ""}, "alcohol is missing"),
    2002: ({"alcohol": "NA"}, "alcohol is missing"),  # pandas' text for a missing value
    2003: ({"alcohol": "strong"}, "alcohol is not a number"),
    2004: ({"alcohol": "1d"}, "alcohol is not a number"),  # Spark's cast reads 1.0, pandas no number
    2005: ({"alcohol": "-inf"}, "alcohol is not finite"),
    2006: ({"grape": ""}, "grape is missing"),
    2007: ({"grape": "", "alcohol": "strong"}, "grape is missing"),  # the first bad feature, in the model's order
}
# Good rows with gaps where training had them (blank, "nan" and spaces are missing numbers, as in pandas), and rows
# with categories training never saw (scored all the same, and counted: one row with two counts once).
TABLE_GAP_ROWS = {0: {"region": ""}, 1: {"acidity": ""}, 2: {"acidity": "nan"}, 3: {"acidity": "  "}, 4: {"batch": ""}}
TABLE_UNSEEN_ROWS = {5: {"region": "Zentrum"}, 6: {"batch": "9"}, 7: {"region": "Zentrum", "batch": "7"}}


def table(count, seed, gaps=0.0):
    """Rows whose style follows from their features; `gaps` of region, batch and acidity are missing."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "region": rng.choice(REGIONS, count).astype(object), "grape": rng.choice(GRAPES, count),
        "organic": rng.random(count) < 0.4, "batch": rng.integers(1, 5, count).astype(float),
        "alcohol": rng.normal(12.5, 1.0, count).round(2), "acidity": rng.normal(6.0, 0.8, count).round(2),
    })  # fmt: skip
    score = frame["alcohol"] - 12.5 + 1.5 * (frame["region"] == "Süd") - frame["organic"].astype(int)
    score += (frame["batch"] > 2).astype(int)
    frame["style"] = np.select([score > 0.7, score < -0.6], ["weiß", "rot"], "rosé")
    for column in ("region", "batch", "acidity"):
        frame.loc[rng.random(count) < gaps, column] = None
    return frame


@pytest.fixture(scope="module")
def table_case(tmp_path_factory):
    """A registry whose champion learned TABLE_SETTINGS' table (from a latin-1 CSV), and a folder to score: a latin-1
    CSV part with TABLE_BAD_ROWS, TABLE_GAP_ROWS and TABLE_UNSEEN_ROWS, a Parquet part, and files both engines skip."""
    root = tmp_path_factory.mktemp("table")
    table(400, seed=1, gaps=0.08).to_csv(root / "train.csv", index=False, encoding="latin-1")
    config = PipelineConfig(source_uri=str(root / "train.csv"), **TABLE_SETTINGS)
    artifacts, run_id, tracking_uri = root / "artifacts", "manual__table", f"sqlite:///{root}/mlflow.db"
    dataset = snapshot_dataset(config, join(str(artifacts), run_id), Storage())
    learned = read_schema(dataset["schema_uri"], Storage())
    assert {feature.name: (feature.kind, feature.had_missing) for feature in learned.features} == TABLE_FEATURES
    assert learned.labels == TABLE_LABELS
    publish(artifacts, tracking_uri, run_id, trained=train(artifacts, run_id, dataset=dataset))
    source = root / "new-rows"
    source.mkdir()
    good = table(30, seed=2).drop(columns="style").astype(object)
    for row, values in (TABLE_GAP_ROWS | TABLE_UNSEEN_ROWS).items():
        good.loc[row, list(values)] = list(values.values())
    bad = pd.concat([good.tail(1)] * len(TABLE_BAD_ROWS), ignore_index=True)
    for position, values in enumerate(value for value, _ in TABLE_BAD_ROWS.values()):
        bad.loc[position, list(values)] = list(values.values())
    csv = pd.concat([good, bad], ignore_index=True)
    csv.insert(0, "id", [*range(len(good)), *TABLE_BAD_ROWS])
    csv.to_csv(source / "part-1.csv", index=False, encoding="latin-1")
    parquet = table(10, seed=3, gaps=0.2).drop(columns="style").astype({"batch": "Int64"})
    parquet.loc[0, "region"] = "Zentrum"  # unseen too
    parquet.insert(0, "id", range(100, 110))
    parquet.to_parquet(source / "part-2.parquet", index=False)
    (source / ".part-3.csv").write_text("not,these\n1,2\n")  # hidden: a writer's temporary file
    (source / "README.txt").write_text("new rows\n")
    yield Case(tracking_uri, source, "latin-1", TABLE_LABELS, learned.of_kind("categorical"),
               rows_in=len(csv) + len(parquet),
               reasons={row_id: reason for row_id, (_, reason) in TABLE_BAD_ROWS.items()},
               unseen=len(TABLE_UNSEEN_ROWS) + 1)  # fmt: skip
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def segmented_case(tmp_path_factory):
    """A registry whose champion is a router of one model per store, and rows of those stores, of a store it never
    saw and of none (the fallback's), with rows it cannot score."""
    root = tmp_path_factory.mktemp("segmented")
    tables.segmented(segments=4, rows=250).to_csv(root / "train.csv", index=False)
    tracking_uri = f"sqlite:///{root}/mlflow.db"
    mlflow.set_tracking_uri(tracking_uri)
    settings = {"target_column": "bought", "segment_column": "store"}
    segmented_run(root / "artifacts", tracking_uri, "manual__segments", root / "train.csv", **settings)
    rows = tables.segmented(segments=5, rows=12, seed=4).drop(columns="bought").astype(object)  # store 04: unseen
    rows.insert(0, "id", range(len(rows)))
    bad = {1: ("x1", "strong", "x1 is not a number"), 2: ("channel", None, "channel is missing")}
    for row, (column, value, _) in bad.items():
        rows.loc[row, column] = value
    rows.to_csv(root / "rows.csv", index=False)
    reasons = {row: reason for row, (_, _, reason) in bad.items()}
    yield Case(tracking_uri, root / "rows.csv", "utf-8", ["no", "yes"], ["channel"], len(rows), reasons, unseen=0)
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module", params=["wine", "table_case", "segmented_case"])
def both_engines(request, tmp_path_factory):
    """The same rows scored by the local engine and by the job script in local Spark."""
    case = request.getfixturevalue(request.param)
    root = tmp_path_factory.mktemp("engines")
    score_on_worker(plan_for(case, root / "local"), Storage())
    run_locally(plan_for(case, root / "spark"), str(SPARK_JOB_SCRIPT), timeout_seconds=600)
    return case, root


def read(folder):
    return pd.read_parquet(folder).astype({"id": int}).sort_values("id").reset_index(drop=True)


def predictions(root, case):
    """Both engines' scored rows, in the same order, and which of them hold a missing category."""
    local, spark = read(root / "local" / "predictions"), read(root / "spark" / "predictions")
    assert spark["id"].tolist() == local["id"].tolist()
    return local, spark, local[case.categorical].isna().any(axis=1)


def assert_same_scores(local, spark, case):
    assert spark["prediction"].tolist() == local["prediction"].tolist()
    probabilities = schema.probability_columns(case.labels)
    np.testing.assert_allclose(spark[probabilities].to_numpy(), local[probabilities].to_numpy())


def test_spark_scores_every_row_as_the_local_engine_does(both_engines):
    case, root = both_engines
    local, spark, missing_category = predictions(root, case)
    assert list(spark.columns) == list(local.columns)
    assert (~missing_category).sum() >= 30
    assert_same_scores(local[~missing_category], spark[~missing_category], case)  # the others: the test below
    assert {type(label) for label in spark["prediction"].tolist()} == {type(case.labels[0])}
    assert set(spark["prediction"]) <= set(case.labels)
    np.testing.assert_allclose(spark[schema.probability_columns(case.labels)].sum(axis=1), 1.0)
    assert set(spark["model_version"]) == {"1"} and set(spark["model_name"]) == {MODEL}


def test_spark_scores_rows_with_a_missing_category_as_the_local_engine_does(both_engines):
    case, root = both_engines
    local, spark, missing_category = predictions(root, case)
    if not missing_category.any():
        pytest.skip("no categorical features")
    assert_same_scores(local[missing_category], spark[missing_category], case)


def test_spark_routes_each_row_of_a_router_to_the_segment_model_the_local_engine_does(both_engines):
    """Rows grouped by segment on Spark: each store's rows by its own model, a new store's and storeless rows by the
    fallback, as the local engine (the router itself) routes them."""
    case, root = both_engines
    local, spark, _ = predictions(root, case)
    if "segment_model" not in local:
        pytest.skip("one model, no router")
    routed = ["segment_model", "segment_version"]
    assert spark[routed].astype(str).to_numpy().tolist() == local[routed].astype(str).to_numpy().tolist()
    fallback = spark["store"].isna() | (spark["store"] == "store 04")
    assert set(spark.loc[fallback, "segment_model"]) == {f"{MODEL}.all"}
    assert (
        spark.loc[~fallback, "segment_model"].nunique() == 4
        and not spark.loc[~fallback, "segment_model"].str.endswith(".all").any()
    )


def test_spark_rejects_the_same_rows_for_the_same_reasons(both_engines):
    case, root = both_engines
    local, spark = (read(root / engine / "rejected") for engine in ("local", "spark"))
    assert dict(zip(spark["id"], spark["reason"], strict=True)) == case.reasons
    assert dict(zip(local["id"], local["reason"], strict=True)) == case.reasons


def test_spark_writes_the_counts_the_dag_checks(both_engines):
    case, root = both_engines
    expected = {"rows_in": case.rows_in, "rows_scored": case.rows_in - len(case.reasons),
                "rows_rejected": len(case.reasons), "rows_with_unseen_categories": case.unseen}  # fmt: skip
    for engine in ("local", "spark"):
        counts = read_counts(Storage(), str(root / engine))
        assert {key: counts[key] for key in expected} == expected, engine


def test_spark_writes_the_drift_counts_the_local_engine_writes(both_engines):
    """_drift/ file by file, as JSON: the reference the version carries, and the scored rows counted into its bins
    (numbers with gaps, categories missing and unseen, the predicted labels, each class's probability)."""
    _, root = both_engines
    local, spark = (
        {path.name: json.loads(path.read_text()) for path in (root / engine / contract.DRIFT_COUNTS_DIR).glob("*.json")}
        for engine in ("local", "spark")
    )
    assert set(spark) == {"reference.json", "part-00000.json"}
    assert spark == local


def test_the_job_marks_nothing_complete_the_dag_has_not_checked(both_engines):
    _, root = both_engines
    assert [str(path) for path in (root / "spark").rglob(contract.COMPLETE_MARKER)] == [], (
        "only publish_predictions writes _SUCCESS, once the counts pass"
    )


def test_a_source_without_the_models_columns_fails_with_the_jobs_one_line(wine, tmp_path):
    pd.DataFrame({"alcohol": [13.0]}).to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(SparkJobError, match=r"rows.csv lacks columns the model needs: malic_acid, ash"):
        run_locally(plan_for(wine, tmp_path / "out", tmp_path / "rows.csv"), str(SPARK_JOB_SCRIPT), 600)


def job_names(monkeypatch, script=SPARK_JOB_SCRIPT):
    """A job file's names, run as a module (nothing runs), its sibling module importable as `--py-files` makes it."""
    monkeypatch.syspath_prepend(str(SPARK_JOB_SCRIPT.parent))
    return runpy.run_path(str(script))


def test_a_model_without_a_schema_fails_with_the_jobs_one_line(tmp_path, monkeypatch):
    """Versions registered before models carried their data set's schema: the job cannot know how to read rows."""
    job = job_names(monkeypatch)
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    mlflow.sklearn.save_model(model, tmp_path / "model", serialization_format="skops")
    older = r"model carries no data set schema \(it was registered by an older version of this project\); run class"
    with pytest.raises(job["JobError"], match=older):
        job["pinned_model"](str(tmp_path / "model"), str(tmp_path / "work"))


def test_the_job_script_names_its_columns_and_reasons_as_the_pipeline_does(monkeypatch):
    job = job_names(monkeypatch)
    for name in ("PREDICTION", "MODEL_NAME_COLUMN", "MODEL_VERSION_COLUMN", "SCORED_AT", "REASON", "PREDICTIONS_DIR",
                 "REJECTED_DIR", "COUNTS_DIR", "BUNDLED_SOURCE"):  # fmt: skip
        assert job[name] == getattr(contract, name), name
    routing = job_names(monkeypatch, SPARK_JOB_SCRIPT.with_name("segment_routing.py"))
    for name in ("SEGMENT_MODEL_COLUMN", "SEGMENT_VERSION_COLUMN"):
        assert routing[name] == getattr(contract, name), name
    for name in ("MISSING", "NOT_A_NUMBER", "NOT_FINITE"):
        assert job[name] == getattr(row_rules, name), name
    assert job["METADATA_KEY"] == schema.METADATA_KEY
    drift = job_names(monkeypatch, SPARK_JOB_SCRIPT.with_name("drift_counts.py"))
    assert (drift["METADATA_KEY"], drift["VERSION_FILE"]) == (profile.METADATA_KEY, profile.VERSION_FILE)
    assert drift["DRIFT_COUNTS_DIR"] == contract.DRIFT_COUNTS_DIR
    reading = job_names(monkeypatch, SPARK_JOB_SCRIPT.with_name("source_reading.py"))
    assert reading["DATA_FILES"] == sources.SUFFIXES
    from pandas._libs.parsers import STR_NA_VALUES  # read_csv's default missing-value text

    assert set(reading["PANDAS_MISSING"]) == STR_NA_VALUES


def test_the_local_engine_writes_a_boolean_category_with_gaps_as_spark_does(tmp_path):
    """pandas reads a boolean CSV column with a gap (or a Parquet one with a null) as objects, not booleans; Spark
    reads booleans, which it writes true/false, as the model learned them from a column without gaps."""
    (tmp_path / "rows.csv").write_text("id,organic\n1,true\n2,\n3,false\n")
    (frame,) = sources.open_source(str(tmp_path / "rows.csv"), Storage()).batches(Storage())
    text = schema.as_text(frame["organic"])
    assert text.iloc[[0, 2]].tolist() == ["true", "false"] and pd.isna(text.iloc[1])


# ---- EMR Serverless ----
APPLICATION = "00fexample1234"
ROLE = "arn:aws:iam::123456789012:role/ml-pipeline-emr-job"
SCRIPT = "s3://bucket/spark_jobs/score_batch.py"
APPLICATION_ARN = f"arn:aws:emr-serverless:us-east-1:123456789012:/applications/{APPLICATION}"
ENVIRONMENT = "s3://bucket/spark_jobs/pyspark_env.tar.gz"


def s3_plan() -> contract.ScoringPlan:
    return contract.ScoringPlan(
        model_name=MODEL,
        model_version="4",
        model_uri=f"models:/{MODEL}/4",
        artifact_uri="s3://mlflow-artifacts/models/m-1/artifacts",
        tracking_uri="arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/ml",
        source="s3://bucket/new-rows/",
        csv_encoding="latin-1",
        output_uri="s3://bucket/ml/batch_predictions/scheduled__2026-11-23",
        engine="emr-serverless",
        max_rejected_fraction=0.01,
        drift_thresholds={"psi": 0.2, "missing": 0.1, "unseen": 0.05},
    )


def emr_settings(**settings):
    """An operator's settings for EMR Serverless, as the Variable would hold them."""
    defaults = {"emr_application_id": APPLICATION, "emr_execution_role_arn": ROLE, "spark_job_script_uri": SCRIPT,
                "artifact_root": "s3://bucket/ml"}  # fmt: skip
    return PipelineConfig(**defaults | settings)


def test_the_dag_submits_the_job_script_to_emr_serverless_with_the_pinned_version(dagbag):
    job = emr_job_run(s3_plan(), emr_settings(emr_python_env_uri=ENVIRONMENT))
    task = dagbag.dags["batch_predictions"].get_task("score_on_emr")
    wired = {"application_id", "execution_role_arn", "job_driver", "configuration_overrides", "name", "aws_conn_id"}
    assert {field for field in wired if getattr(task, field).operator.task_id == "emr_job"} == wired
    operator = copy.copy(task)
    for field in wired:
        setattr(operator, field, job[field])
    client = boto3.client("emr-serverless", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    expected_driver = {
        "entryPoint": SCRIPT,
        "entryPointArguments": [
            *("--model-uri", "s3://mlflow-artifacts/models/m-1/artifacts", "--model-name", MODEL),
            *("--model-version", "4", "--source", "s3://bucket/new-rows/"),
            *("--output", "s3://bucket/ml/batch_predictions/scheduled__2026-11-23", "--csv-encoding", "latin-1"),
        ],
        "sparkSubmitParameters": "--py-files s3://bucket/spark_jobs/source_reading.py,"
        "s3://bucket/spark_jobs/drift_counts.py,s3://bucket/spark_jobs/segment_routing.py "
        f"--conf spark.archives={ENVIRONMENT}#environment "
        "--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON=./environment/bin/python "
        "--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python "
        "--conf spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python",
    }
    with Stubber(client) as stub:
        stub.add_response("get_application", {"application": application("STARTED")}, {"applicationId": APPLICATION})
        stub.add_response(
            "start_job_run",
            {
                "applicationId": APPLICATION,
                "jobRunId": "run-1",
                "arn": f"{APPLICATION_ARN}/jobruns/run-1",
                "ResponseMetadata": {"HTTPStatusCode": 200},
            },
            {
                "clientToken": ANY,
                "applicationId": APPLICATION,
                "executionRoleArn": ROLE,
                "jobDriver": {"sparkSubmit": expected_driver},
                "configurationOverrides": {
                    "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://bucket/ml/emr-logs/"}}
                },
                "name": f"score {MODEL} v4",
                "executionTimeoutMinutes": 120,
            },
        )
        stub.add_response(
            "get_job_run", {"jobRun": job_run("SUCCESS")}, {"applicationId": APPLICATION, "jobRunId": "run-1"}
        )
        operator.hook.__dict__["conn"] = client
        assert operator.execute({"ti": FakeTaskInstance()}) == "run-1"
        stub.assert_no_pending_responses()


def test_emr_needs_s3_for_the_script_the_source_and_the_output():
    plan = s3_plan() | {"source": "/home/me/rows.csv"}
    with pytest.raises(Exception, match="EMR Serverless reads and writes S3 only, not /home/me/rows.csv"):
        emr_job_run(plan, emr_settings())
    with pytest.raises(Exception, match="must be an s3:// URI for EMR"):
        emr_job_run(s3_plan(), emr_settings(spark_job_script_uri=str(SPARK_JOB_SCRIPT)))


def application(state):
    return {"applicationId": APPLICATION, "name": "scoring", "arn": APPLICATION_ARN, "releaseLabel": "emr-7.12.0",
            "type": "Spark", "state": state, "createdAt": 0, "updatedAt": 0}  # fmt: skip


def job_run(state):
    return {"applicationId": APPLICATION, "jobRunId": "run-1", "arn": f"{APPLICATION_ARN}/jobruns/run-1",
            "createdBy": "arn:aws:iam::123456789012:role/mwaa",
            "createdAt": 0, "updatedAt": 0, "executionRole": ROLE, "state": state, "stateDetails": "done",
            "releaseLabel": "emr-7.12.0", "jobDriver": {"sparkSubmit": {"entryPoint": SCRIPT}}}  # fmt: skip


class FakeTaskInstance:
    """persist_links pushes the job's console links through XCom; nothing here reads them."""

    def xcom_push(self, key, value):
        pass
