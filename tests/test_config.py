"""Configuration: defaults, then environment, then the `ml_pipeline` Variable, then the run's conf."""

import pytest

from ml_pipeline.config import ConfigError, PipelineConfig, load_config


def test_defaults_keep_everything_local_and_name_the_model():
    config = load_config({})
    assert config == PipelineConfig()
    assert config.model_name == "wine-classifier"
    assert config.mlflow_tracking_uri.startswith("sqlite:///") and config.mlflow_tracking_uri.endswith("mlflow.db")
    assert config.source_uri == ""


def test_environment_values_are_typed():
    config = load_config(
        {
            "MLFLOW_TRACKING_URI": "http://mlflow:5000",
            "ML_PIPELINE_ARTIFACT_ROOT": "s3://bucket/prefix",
            "ML_PIPELINE_HYPERPARAMS": '{"C": 0.5}',
            "ML_PIPELINE_TEST_SIZE": "0.3",
            "ML_PIPELINE_RANDOM_SEED": "7",
        }
    )
    assert config.mlflow_tracking_uri == "http://mlflow:5000"
    assert config.artifact_root == "s3://bucket/prefix"
    assert config.hyperparams == {"C": 0.5}
    assert config.test_size == 0.3
    assert config.random_seed == 7


def test_variable_overrides_environment_and_run_conf_overrides_both():
    environ = {"ML_PIPELINE_MODEL_NAME": "from-env", "ML_PIPELINE_CLASSIFIER": "random_forest"}
    variable = {"model_name": "from-variable", "gate_metric": "accuracy"}
    conf = {"model_name": "from-conf"}
    config = load_config(environ, variable, conf)
    assert config.model_name == "from-conf"
    assert config.classifier == "random_forest"
    assert config.gate_metric == "accuracy"


def test_missing_variable_and_empty_conf_are_ignored():
    assert load_config({}, None, {}) == PipelineConfig()


@pytest.mark.parametrize(
    ("environ", "overrides", "message"),
    [
        ({"ML_PIPELINE_CLASSIFIER": "svm"}, {}, "classifier must be one of"),
        ({"ML_PIPELINE_GATE_METRIC": "auc"}, {}, "gate_metric must be one of"),
        ({"ML_PIPELINE_TEST_SIZE": "1.5"}, {}, "test_size must be between 0 and 1"),
        ({"ML_PIPELINE_RANDOM_SEED": "seven"}, {}, "ML_PIPELINE_RANDOM_SEED='seven' is not a valid int"),
        ({"ML_PIPELINE_HYPERPARAMS": "{C: 1"}, {}, "ML_PIPELINE_HYPERPARAMS"),
        ({}, {"hyperparams": [1, 2]}, "hyperparams must be a JSON object"),
        ({}, {"classifer": "random_forest"}, "unknown configuration keys: classifer"),
        ({}, {"model_name": ""}, "model_name must not be empty"),
    ],
)
def test_invalid_configuration_is_rejected_with_the_reason(environ, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(environ, overrides)
