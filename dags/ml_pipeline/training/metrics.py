"""How a model scores on holdout rows: the headline metrics (contract.METRICS), the per-class report and the
confusion matrix, with the real labels. The gate scores a champion with the same function, on the same rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    classification_report,
    confusion_matrix,
    log_loss,
    roc_auc_score,
)

from ml_pipeline.contract import LOWER_IS_BETTER


def aligned_probabilities(model: Any, features: pd.DataFrame, labels: list[Any]) -> np.ndarray:
    """predict_proba with one column per label in `labels`; a label the model never learned gets probability 0."""
    probabilities = model.predict_proba(features)
    position = {label: index for index, label in enumerate(model.classes_.tolist())}
    aligned = np.zeros((len(features), len(labels)))
    for column, label in enumerate(labels):
        if label in position:
            aligned[:, column] = probabilities[:, position[label]]
    return aligned


def evaluate(model: Any, features: pd.DataFrame, truth: pd.Series) -> dict[str, Any]:
    """Metrics of `model` (a fitted scikit-learn classifier) on these rows; labels are the truth's and the model's."""
    labels = np.unique(np.concatenate([truth.to_numpy(dtype=object), model.classes_.astype(object)])).tolist()
    probabilities = aligned_probabilities(model, features, labels)
    predicted = np.asarray(labels, dtype=object)[probabilities.argmax(axis=1)]
    predicted = pd.Series(predicted, index=truth.index).astype(truth.dtype)
    report = classification_report(truth, predicted, labels=labels, output_dict=True, zero_division=0)
    matrix = confusion_matrix(truth, predicted, labels=labels)
    metrics = {
        # From the matrix and the report, as accuracy_score, balanced_accuracy_score and f1_score compute them
        # (tests/test_metrics.py holds them equal): each of those would check the rows and count them again.
        "accuracy": float(matrix.trace() / matrix.sum()),
        "balanced_accuracy": float(np.mean([row[index] / row.sum() for index, row in enumerate(matrix) if row.sum()])),
        "f1_macro": float(report["macro avg"]["f1-score"]),
        "roc_auc": roc_auc(truth, probabilities, labels),
        "log_loss": float(log_loss(truth, np.clip(probabilities, 1e-15, 1), labels=labels)),
    }
    for label in labels:
        for name in ("precision", "recall", "f1-score"):
            metrics[f"{name.replace('-score', '')}_class_{label}"] = float(report[str(label)][name])
    return {
        "metrics": metrics,
        "report": report,
        "labels": [str(label) for label in labels],
        "confusion_matrix": matrix.tolist(),
    }


def roc_auc(truth: pd.Series, probabilities: np.ndarray, labels: list[Any]) -> float:
    """Binary: the second label's probability (the same value whichever class is called positive); more classes:
    one-vs-rest, macro-averaged over the labels present in the truth."""
    if len(labels) == 2:
        return float(roc_auc_score(truth == labels[1], probabilities[:, 1]))
    present = [index for index, label in enumerate(labels) if (truth == label).any()]
    scores = [roc_auc_score(truth == labels[index], probabilities[:, index]) for index in present]
    return float(np.mean(scores))


def better(metric: str, first: float, second: float) -> bool:
    """Whether `first` scores better than `second` on `metric`."""
    return first < second if metric in LOWER_IS_BETTER else first > second


def ranking_key(metric: str, value: float) -> float:
    """Sorts best first (ascending)."""
    return value if metric in LOWER_IS_BETTER else -value


def predict(model: Any, inputs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's class and class probabilities (columns in the model's `classes_` order), from rows in model_input's
    form. One pass through the model: each classifier this project trains predicts the class of highest probability
    (test_scoring_rows holds every one of them to it), so `predict` would compute the probabilities again."""
    probabilities = model.predict_proba(inputs)
    return model.classes_[probabilities.argmax(axis=1)], probabilities
