"""What a candidate may cost: a model too large or a fit too long is refused in seconds, and nothing is written."""

import numpy as np
import pytest
import tables
from pipeline_runs import candidate, snapshot, train

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.data.inference import infer_schema
from ml_pipeline.data.schema import model_input
from ml_pipeline.errors import one_line
from ml_pipeline.store.objects import Storage, join
from ml_pipeline.training.budget import Budget, OverBudgetError
from ml_pipeline.training.design import fit_pipeline
from ml_pipeline.training.train import build_pipeline, train_and_evaluate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    return root, snapshot(root, "run")


def test_a_billion_trees_are_refused_in_seconds_and_nothing_is_written(dataset):
    root, snapshot_ = dataset
    with pytest.raises(OverBudgetError) as raised:
        train_and_evaluate(
            snapshot_, join(str(root), "run"), Storage(), candidate("random_forest", {"n_estimators": 10**9})
        )
    assert one_line(raised.value).startswith(
        "Candidate over budget: random_forest with n_estimators 1000000000 would make a model of about "
    )
    assert "more than max_model_mb 250; lower n_estimators" in str(raised.value)
    assert not list(root.glob("run/model/**/model.joblib"))


def mixed():
    """A table with categories and gaps: the preprocessing is part of every fit."""
    frame = tables.mixed()
    schema = infer_schema(frame, PipelineConfig(target_column="churn"))
    return schema, model_input(frame, schema), frame["churn"]


@pytest.mark.parametrize("classifier", ["extra_trees", "gradient_boosting", "hist_gradient_boosting"])
def test_a_fit_projected_past_max_fit_minutes_is_refused(classifier):
    schema, features, labels = mixed()
    model = build_pipeline(classifier, {}, 42, schema)
    with pytest.raises(OverBudgetError, match=rf"^{classifier} with \w+ \d+ would train for about .* more than "
                                              r"max_fit_minutes 1e-06; lower"):  # fmt: skip
        fit_pipeline(model, classifier, lambda: (features, labels), Budget(max_fit_minutes=1e-6))


@pytest.mark.parametrize("classifier", ["random_forest", "gradient_boosting", "hist_gradient_boosting"])
def test_a_model_fitted_in_budget_is_the_model_one_fit_makes(classifier):
    schema, features, labels = mixed()
    stepwise = build_pipeline(classifier, {}, 42, schema)
    fit_pipeline(stepwise, classifier, lambda: (features, labels), Budget())
    whole = build_pipeline(classifier, {}, 42, schema).fit(features, labels)
    np.testing.assert_array_equal(stepwise.predict_proba(features), whole.predict_proba(features))
    assert stepwise.named_steps["classifier"].get_params() == whole.named_steps["classifier"].get_params()


def test_every_written_model_is_measured_against_the_limit(dataset):
    root, snapshot_ = dataset
    with pytest.raises(OverBudgetError, match=r"^logistic_regression's model is \d+ kB, more than max_model_mb 0.001"):
        train_and_evaluate(snapshot_, join(str(root), "run"), Storage(), candidate(), Budget(max_model_mb=0.001))
    _, trained = train(root, "other-run")  # the default budget
    assert trained["candidate"] == "logistic_regression"
