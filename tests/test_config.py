"""Configuration: defaults, then environment, then the `ml_pipeline` Variable, then the run's conf, all validated."""

import re

import pytest

from ml_pipeline.config.layers import load_config, parse_variable
from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.errors import ConfigError
from ml_pipeline.training.train import check_hyperparams


def test_defaults_keep_everything_local_and_name_the_model():
    config = load_config({})
    assert config == PipelineConfig()
    assert config.model_name == "wine-classifier"
    assert config.mlflow_tracking_uri.startswith("sqlite:///") and config.mlflow_tracking_uri.endswith("mlflow.db")
    assert config.source_uri == ""
    assert config.origin("test_size") == "the defaults"


def test_environment_values_are_typed():
    config = load_config(
        {
            "MLFLOW_TRACKING_URI": "http://mlflow:5000",
            "ML_PIPELINE_ARTIFACT_ROOT": "s3://bucket/prefix",
            "ML_PIPELINE_HYPERPARAMS": '{"C": 0.5}',
            "ML_PIPELINE_TEST_SIZE": "0.3",
            "ML_PIPELINE_RANDOM_SEED": "7",
            "ML_PIPELINE_GATE_METRIC": "accuracy",
        }
    )
    assert config.mlflow_tracking_uri == "http://mlflow:5000"
    assert config.artifact_root == "s3://bucket/prefix"
    assert config.hyperparams == {"C": 0.5}
    assert (config.test_size, config.random_seed, config.gate_metric) == (0.3, 7, "accuracy")
    assert config.origin("hyperparams") == "environment variable ML_PIPELINE_HYPERPARAMS"


def test_variable_overrides_environment_and_run_conf_overrides_both():
    environ = {"ML_PIPELINE_MODEL_NAME": "from-env", "ML_PIPELINE_CLASSIFIER": "random_forest"}
    variable = {"model_name": "from-variable", "gate_metric": "accuracy"}
    conf = {"model_name": "from-conf"}
    config = load_config(environ, variable=variable, conf=conf)
    assert config.model_name == "from-conf" and config.origin("model_name") == "run conf"
    assert config.classifier == "random_forest"
    assert config.gate_metric == "accuracy" and config.origin("gate_metric") == "Airflow Variable ml_pipeline"


def test_missing_variable_and_empty_conf_are_ignored():
    assert load_config({}, variable=None, conf={}) == PipelineConfig()
    assert parse_variable(None) is None and parse_variable("  ") is None


@pytest.mark.parametrize(
    ("environ", "variable", "conf", "message"),
    [
        ({"ML_PIPELINE_CLASSIFIER": "svm"}, None, None,
         "classifier = 'svm' (from environment variable ML_PIPELINE_CLASSIFIER) should be one of logistic_regression"),
        ({}, None, {"gate_metric": "auc"}, "gate_metric = 'auc' (from run conf) should be 'f1_macro', 'accuracy', "
         "'balanced_accuracy', 'roc_auc' or 'log_loss'"),
        ({"ML_PIPELINE_TEST_SIZE": "1.5"}, None, None, "test_size = 1.5 (from environment variable"),
        ({}, {"test_size": 0}, None, "test_size = 0 (from Airflow Variable ml_pipeline) should be greater than 0"),
        ({"ML_PIPELINE_RANDOM_SEED": "seven"}, None, None,
         "random_seed = 'seven' (from environment variable ML_PIPELINE_RANDOM_SEED) is not a valid whole number"),
        ({"ML_PIPELINE_HYPERPARAMS": "{C: 1"}, None, None, "hyperparams = '{C: 1' (from environment variable"),
        ({}, None, {"hyperparams": [1, 2]}, "hyperparams = [1, 2] (from run conf) should be a valid dictionary"),
        ({}, None, {"test_size": "0.3"}, "test_size = '0.3' (from run conf) should be a valid number"),
        ({}, None, {"random_seed": 1.5}, "random_seed = 1.5 (from run conf) should be a valid integer"),
        ({}, None, {"random_seed": -1}, "random_seed = -1 (from run conf) should be greater than or equal to 0"),
        ({}, None, {"min_rows": True}, "min_rows = True (from run conf) should be a valid integer"),
        ({}, None, {"source_uri": 3}, "source_uri = 3 (from run conf) should be a valid string"),
        ({}, None, {"max_holdout_overlap": 1}, "max_holdout_overlap = 1 (from run conf) should be less than 1"),
        ({}, None, {"classifer": "random_forest"},
         "unknown configuration key 'classifer' (did you mean 'classifier'?) in the run conf"),
        ({}, {"colour": 1}, None, "unknown configuration key 'colour' in the Airflow Variable ml_pipeline"),
        ({}, {"model_name": ""}, None,
         "model_name = '' (from Airflow Variable ml_pipeline) should have at least 1 character"),
    ],
)  # fmt: skip
def test_invalid_configuration_names_the_key_the_value_and_where_it_came_from(environ, variable, conf, message):
    with pytest.raises(ConfigError) as raised:
        load_config(environ, variable=variable, conf=conf)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(ConfigError) as raised:
        load_config({}, conf={"test_size": 2, "classifier": "svm"})
    assert "test_size = 2" in str(raised.value) and "classifier = 'svm'" in str(raised.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [("{not json", "the Airflow Variable ml_pipeline is not valid JSON"), ("[1]", "must be a JSON object")],
)
def test_a_malformed_variable_is_a_configuration_error(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_variable(raw)


@pytest.mark.parametrize(
    ("hyperparams", "message"),
    [
        ({"C": -1}, "The 'C' parameter of LogisticRegression must be a float in the range (0.0, inf]"),
        ({"C": "strong"}, "The 'C' parameter of LogisticRegression must be a float"),
        ({"max_depht": 3}, "Invalid parameter 'max_depht'"),
    ],
)
def test_invalid_hyperparameter_values_are_refused_before_any_data_is_read(hyperparams, message):
    config = load_config({}, conf={"hyperparams": hyperparams})
    with pytest.raises(ConfigError) as raised:
        check_hyperparams(config)
    assert message in str(raised.value) and str(raised.value).endswith("(from run conf)")


def test_three_candidates_are_trained_unless_the_configuration_names_others():
    defaults = load_config({}).candidate_list()
    assert [c.name for c in defaults] == ["logistic_regression", "extra_trees", "hist_gradient_boosting"]
    single = load_config({}, conf={"classifier": "random_forest", "hyperparams": {"max_depth": 3}}).candidate_list()
    assert [(c.name, c.hyperparams) for c in single] == [("random_forest", {"max_depth": 3})]
    assert [c.classifier for c in load_config({}, conf={"hyperparams": {"C": 2.0}}).candidate_list()] == [
        "logistic_regression"
    ]


def test_candidates_get_unique_names():
    candidates = [
        {"classifier": "random_forest", "hyperparams": {"max_depth": 3}},
        {"classifier": "random_forest"},
        {"classifier": "logistic_regression", "name": "linear"},
    ]
    names = [c.name for c in load_config({}, conf={"candidates": candidates}).candidate_list()]
    assert names == ["random_forest", "random_forest_2", "linear"]


def test_candidates_can_come_from_the_environment():
    environ = {"ML_PIPELINE_CANDIDATES": '[{"classifier": "gradient_boosting"}]'}
    assert [c.name for c in load_config(environ).candidate_list()] == ["gradient_boosting"]


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"candidates": []}, "candidates is empty; list at least one, or leave it out for the defaults"),
        ({"candidates": [{"classifier": "svm"}]}, "candidates[0].classifier = 'svm' (from run conf) should be one of"),
        ({"candidates": [{"classifier": "random_forest", "depth": 3}]},
         "candidates[0].depth = 3 (from run conf) Extra inputs are not permitted"),
        ({"candidates": [{"classifier": "random_forest"}], "classifier": "random_forest"},
         "set either candidates or classifier/hyperparams, not both"),
        ({"candidates": "random_forest"}, "candidates = 'random_forest' (from run conf) should be a valid list"),
    ],
)  # fmt: skip
def test_invalid_candidates_are_refused_with_where_they_came_from(conf, message):
    with pytest.raises(ConfigError) as raised:
        load_config({}, conf=conf)
    assert message in str(raised.value)


def test_an_invalid_candidate_is_named_and_left_to_fail_alone_while_others_can_train():
    broken = {"classifier": "random_forest", "hyperparams": {"n_estimators": 0}, "name": "tiny_forest"}
    config = load_config({}, conf={"candidates": [{"classifier": "logistic_regression"}, broken]})
    invalid = check_hyperparams(config)
    assert list(invalid) == ["tiny_forest"]
    assert re.match(
        r"candidate tiny_forest: invalid hyperparams for random_forest: .*\(from run conf\)$", invalid["tiny_forest"]
    )


def test_when_no_candidate_is_valid_the_run_fails_before_reading_data_naming_each():
    broken = [
        {"classifier": "random_forest", "hyperparams": {"n_estimators": 0}},
        {"classifier": "logistic_regression", "hyperparams": {"C": 0}},
    ]
    with pytest.raises(ConfigError, match=r"for random_forest: .*; invalid hyperparams for logistic_regression: "):
        check_hyperparams(load_config({}, conf={"candidates": broken}))


@pytest.mark.parametrize(
    "conf",
    [{"artifact_root": "/"}, {"mlflow_tracking_uri": "http://elsewhere:5000"}, {"spark_job_script_uri": "/tmp/x.py"},
     {"aws_conn_id": "other"}, {"run_conf_may_set": ["artifact_root"]}, {"sagemaker_endpoint_name": "elsewhere"},
     {"sagemaker_image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/other"}],
)  # fmt: skip
def test_a_run_conf_cannot_move_where_tasks_write_or_what_they_reach(conf):
    key = next(iter(conf))
    with pytest.raises(ConfigError, match=rf"^{key} cannot be set in the run conf: operator settings decide where"):
        load_config({}, conf=conf)


def test_an_operator_can_let_runs_set_an_operator_setting():
    variable = {"run_conf_may_set": ["artifact_root"]}
    assert load_config({}, variable=variable, conf={"artifact_root": "s3://bucket/x"}).artifact_root == "s3://bucket/x"
    with pytest.raises(ConfigError, match="^mlflow_tracking_uri cannot be set in the run conf"):
        load_config({}, variable=variable, conf={"mlflow_tracking_uri": "http://elsewhere:5000"})
    environ = {"ML_PIPELINE_RUN_CONF_MAY_SET": '["source_uri"]'}
    with pytest.raises(ConfigError, match="may list only alert_sns_topic_arn, artifact_root, .* not source_uri"):
        load_config(environ)


@pytest.mark.parametrize(
    ("conf", "key"),
    [({"candidates": [{"classifier": "random_forest", "name": "../../../../tmp/escape"}]}, "candidates[0].name"),
     ({"candidates": [{"classifier": "random_forest", "name": "x" * 65}]}, "candidates[0].name"),
     ({"model_name": "team/wine"}, "model_name"), ({"model_name": ".hidden"}, "model_name")],
)  # fmt: skip
def test_names_that_become_folders_or_registry_names_are_plain(conf, key):
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)} = .* should be 1 to 64 letters, digits"):
        load_config({}, conf=conf)


SERVING = {
    "sagemaker_endpoint_name": "ml-pipeline-serving",
    "sagemaker_image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-pipeline-model-server",
    "sagemaker_execution_role_arn": "arn:aws:iam::123456789012:role/ml-pipeline-serving",
    "artifact_root": "s3://bucket/ml-pipeline/artifacts",
}


def test_serving_on_sagemaker_is_off_by_default_and_on_with_the_three_settings_infra_writes():
    assert PipelineConfig().sagemaker_endpoint_name == ""
    config = load_config({}, variable=SERVING | {"sagemaker_rollback_alarms": ["ml-pipeline-serving-5xx"]})
    assert (config.sagemaker_instance_type, config.sagemaker_instance_count) == ("ml.m5.large", 1)
    tagged = load_config({}, variable=SERVING | {"sagemaker_image_uri": SERVING["sagemaker_image_uri"] + ":4f2a9c1"})
    assert tagged.sagemaker_image_uri.endswith(":4f2a9c1")


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"sagemaker_image_uri": ""}, "sagemaker_endpoint_name and sagemaker_execution_role_arn set without "
      "sagemaker_image_uri; serving on SageMaker needs all three"),
     ({"artifact_root": "/data/artifacts"}, "sagemaker_endpoint_name needs artifact_root on S3"),
     ({"sagemaker_endpoint_name": "ML_Pipeline"}, "sagemaker_endpoint_name = 'ML_Pipeline' .* should match pattern"),
     ({"sagemaker_image_uri": "docker.io/me/server:1"}, "sagemaker_image_uri = .* should match pattern"),
     ({"sagemaker_execution_role_arn": "ml-pipeline-serving"}, "sagemaker_execution_role_arn = .* should match"),
     ({"sagemaker_instance_type": "m5.large"}, "sagemaker_instance_type = 'm5.large' .* should match pattern"),
     ({"sagemaker_instance_count": 0}, "sagemaker_instance_count = 0 .* should be greater than or equal to 1")],
)  # fmt: skip
def test_serving_settings_fail_every_task_at_once_when_they_cannot_work(changes, message):
    with pytest.raises(ConfigError, match=message):
        load_config({}, variable=SERVING | changes)
