"""train_model: fit a scaling + classifier Pipeline and evaluate it on the holdout."""

from __future__ import annotations

import io
import json
from typing import Any

import joblib
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ml_pipeline.config import ConfigError
from ml_pipeline.data import FEATURES, TARGET, read_frame
from ml_pipeline.storage import Storage, join

# classifier name -> (estimator, defaults, types MLflow's skops format must be told to trust when loading it)
ESTIMATORS = {
    "logistic_regression": (LogisticRegression, {"max_iter": 1000}, []),
    "random_forest": (RandomForestClassifier, {"n_estimators": 200}, ["sklearn.tree._tree.Tree"]),
    "gradient_boosting": (GradientBoostingClassifier, {}, ["sklearn.tree._tree.Tree"]),
}


def build_pipeline(classifier: str, hyperparams: dict[str, Any], seed: int) -> Pipeline:
    """Scaling + classifier; hyperparams override the classifier's defaults and fail loudly if unknown."""
    estimator_class, defaults, _ = ESTIMATORS[classifier]
    estimator = estimator_class(random_state=seed, **defaults)
    try:
        estimator.set_params(**hyperparams)
    except ValueError as error:
        raise ConfigError(f"invalid hyperparams for {classifier}: {error}") from error
    return Pipeline([("scaler", StandardScaler()), ("classifier", estimator)])


def skops_trusted_types(classifier: str) -> list[str]:
    return ESTIMATORS[classifier][2]


def evaluate(model: Pipeline, holdout: pd.DataFrame) -> dict[str, Any]:
    """Scores on the holdout: headline metrics, the per-class report and the confusion matrix."""
    truth = holdout[TARGET]
    predicted = model.predict(holdout[list(FEATURES)])
    labels = sorted(truth.unique())
    report = classification_report(truth, predicted, labels=labels, output_dict=True, zero_division=0)
    metrics = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_macro": float(f1_score(truth, predicted, average="macro", labels=labels, zero_division=0)),
    }
    for label in labels:
        for name in ("precision", "recall", "f1-score"):
            metrics[f"{name.replace('-score', '')}_class_{label}"] = float(report[str(label)][name])
    return {
        "metrics": metrics,
        "report": report,
        "labels": [str(label) for label in labels],
        "confusion_matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
    }


def model_to_bytes(model: Pipeline) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def model_from_bytes(data: bytes) -> Pipeline:
    """Load a model this pipeline wrote itself to its own artifact store (joblib is pickle: trust matters)."""
    return joblib.load(io.BytesIO(data))


def train_and_evaluate(
    train_uri: str,
    holdout_uri: str,
    run_prefix: str,
    storage: Storage,
    *,
    classifier: str,
    hyperparams: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Fit on the train split, evaluate on the holdout, write model and evaluation under `run_prefix`."""
    train = read_frame(train_uri, storage)
    model = build_pipeline(classifier, hyperparams, seed)
    model.fit(train[list(FEATURES)], train[TARGET])
    evaluation = evaluate(model, read_frame(holdout_uri, storage))
    params = {"classifier": classifier, **model.named_steps["classifier"].get_params()}
    return {
        "model_uri": storage.write_bytes(join(run_prefix, "model", "model.joblib"), model_to_bytes(model)),
        "evaluation_uri": storage.write_bytes(
            join(run_prefix, "model", "evaluation.json"), json.dumps(evaluation, indent=2).encode()
        ),
        "metrics": {name: evaluation["metrics"][name] for name in ("accuracy", "f1_macro")},
        "params": {name: value for name, value in params.items() if isinstance(value, (str, int, float, bool))},
    }
