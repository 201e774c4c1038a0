"""The Trigger form: every run setting is a Param that refuses what the configuration refuses, and an empty field
leaves the setting to the Airflow Variable, the environment or the default; tasks publish links to what they made."""

import pytest
from airflow.sdk import Param
from airflow.sdk.exceptions import ParamValidationError
from airflow.serialization.serialized_objects import DagSerialization

from ml_pipeline.config.layers import load_config
from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.errors import ConfigError
from task_runtime.form import FORMS, form_fields
from task_runtime.urls import mlflow_ui_base, runs_url, s3_console_url, version_url

GOOD = {"classifier": "random_forest", "test_size": 0.3, "gate_metric": "accuracy", "model_version": "3",
        "candidates": [{"classifier": "extra_trees", "hyperparams": {"max_depth": 4}}], "hyperparams": {"C": 0.5},
        "scoring_engine": "spark", "log_scoring_to_mlflow": False, "min_rows": 10, "random_seed": 0}  # fmt: skip
BAD = {"classifier": "svm", "test_size": 1.5, "gate_metric": "auc", "model_version": "latest", "min_rows": 1,
       "random_seed": -1, "max_rejected_fraction": 2, "scoring_engine": "gpu", "hyperparams": [1],
       "candidates": [{"hyperparams": {}}], "max_holdout_overlap": 1.0}  # fmt: skip


@pytest.mark.parametrize("form", FORMS)
def test_every_field_is_a_setting_with_a_title_a_description_and_a_section(form):
    for name, schema in form_fields(form).items():
        assert name in PipelineConfig.model_fields
        assert schema["title"] == name and "Left empty" in schema["description"] and schema["section"]


@pytest.mark.parametrize(("form", "name"), [(form, name) for form in FORMS for name in form_fields(form)])
def test_a_field_accepts_empty_good_and_default_values_and_refuses_what_the_configuration_refuses(form, name):
    param = Param(None, **form_fields(form)[name])
    assert param.resolve(None) is None
    default = PipelineConfig.model_fields[name].default
    if default is not None:
        assert param.resolve(default) == default
    if name in GOOD:
        assert param.resolve(GOOD[name]) == GOOD[name]
        load_config({}, conf={name: GOOD[name]})  # the configuration takes it too
    if name in BAD:
        with pytest.raises(ParamValidationError):
            param.resolve(BAD[name])
        with pytest.raises(ConfigError):
            load_config({}, conf={name: BAD[name]})


def test_empty_form_fields_leave_the_variable_and_environment_values_in_force():
    form = dict.fromkeys(form_fields("training"), None) | {"test_size": 0.4, "source_uri": ""}
    config = load_config(
        {"ML_PIPELINE_GATE_METRIC": "accuracy"},
        variable={"classifier": "random_forest", "min_rows": 50, "source_uri": "s3://bucket/wine.csv"},
        conf=form,
    )
    assert (config.classifier, config.min_rows, config.gate_metric, config.test_size, config.source_uri) == (
        "random_forest", 50, "accuracy", 0.4, "s3://bucket/wine.csv",
    )  # fmt: skip
    assert config.origin("test_size") == "run conf" and config.origin("classifier") == "Airflow Variable ml_pipeline"


@pytest.mark.parametrize(
    ("dag_id", "form"),
    [("classification_pipeline", "training"), ("batch_predictions", "scoring"), ("deploy_champion", "deployment")],
)
def test_the_dags_trigger_form_refuses_a_bad_value_before_a_run(dagbag, dag_id, form):
    """As the API server checks a trigger: the serialized DAG's params, merged with the run conf."""
    params = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[dag_id])).params
    assert set(params) == set(form_fields(form))
    params.deep_merge({}).validate()  # all empty: a run with no settings
    for name in set(params) & set(BAD):
        with pytest.raises(ParamValidationError, match=name):
            params.deep_merge({name: BAD[name]}).validate()


@pytest.mark.parametrize(
    ("dag_id", "task_id", "links"),
    [("classification_pipeline", "train_model", {"MLflow run"}),
     ("classification_pipeline", "persist_model", {"MLflow run", "Model version"}),
     ("batch_predictions", "publish_predictions", {"MLflow run", "Model version", "Predictions", "Drift report"})],
)  # fmt: skip
def test_tasks_that_produce_something_carry_their_own_extra_links(dagbag, dag_id, task_id, links):
    task = dagbag.dags[dag_id].get_task(task_id)
    assert {link.name for link in task.operator_extra_links} == links


def test_the_mlflow_ui_is_the_configured_address_else_the_server_else_make_ui():
    assert mlflow_ui_base("http://mlflow:5000", "http://localhost:5001/") == "http://localhost:5001"
    assert mlflow_ui_base("https://mlflow.example.com/", "") == "https://mlflow.example.com"
    assert mlflow_ui_base("sqlite:////tmp/mlflow.db", "") == "http://127.0.0.1:5000"
    assert mlflow_ui_base("arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/ml", "") is None


def test_links_quote_names_and_search_by_tags():
    assert version_url("http://ui", "wine classifier", "2") == (
        "http://ui/#/models/wine%20classifier/versions/2?workflowType=machine_learning"
    )
    assert runs_url("http://ui", "3", {"candidate": "a"}) == (
        "http://ui/#/experiments/3/runs?workflowType=machine_learning&searchFilter=tags.candidate%20%3D%20%27a%27"
    )
    assert s3_console_url("s3://bucket/batch/run 1", "eu-west-1") == (
        "https://s3.console.aws.amazon.com/s3/buckets/bucket?prefix=batch%2Frun+1%2F&region=eu-west-1"
    )
    assert s3_console_url("/tmp/out", None) is None
