"""The headline metrics are scikit-learn's own, whichever labels the truth and the model hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from ml_pipeline.training.metrics import evaluate


class Fixed:
    """A fitted classifier whose predictions are given: one probability row per input row."""

    def __init__(self, classes: list[str], probabilities: np.ndarray) -> None:
        self.classes_, self.probabilities = np.asarray(classes, dtype=object), probabilities

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        return self.probabilities


def one_hot(predicted: list[str], classes: list[str]) -> np.ndarray:
    return np.array([[0.8 if label == value else 0.2 / (len(classes) - 1) for label in classes] for value in predicted])


CASES = {
    "binary": (["no", "yes"], ["no", "no", "yes", "yes", "yes", "no"], ["no", "yes", "yes", "yes", "no", "no"]),
    "three classes": (["a", "b", "c"], list("aabbccab"), list("abbcccaa")),
    "a class the truth lacks": (["a", "b", "c"], list("aabbab"), list("abcbaa")),
    "a class the model never learned": (["a", "b"], list("aabbcc"), list("abbaab")),
}


@pytest.mark.parametrize("case", CASES)
def test_accuracy_balanced_accuracy_and_macro_f1_are_sklearns(case):
    classes, truth, predicted = CASES[case]
    result = evaluate(Fixed(classes, one_hot(predicted, classes)), pd.DataFrame(index=range(len(truth))),
                      pd.Series(truth))  # fmt: skip
    labels = sorted(set(truth) | set(classes))
    assert result["metrics"]["accuracy"] == accuracy_score(truth, predicted)
    assert result["metrics"]["balanced_accuracy"] == balanced_accuracy_score(truth, predicted)
    assert result["metrics"]["f1_macro"] == f1_score(truth, predicted, average="macro", labels=labels, zero_division=0)
