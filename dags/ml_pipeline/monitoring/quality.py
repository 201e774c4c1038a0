"""Live quality: how right a model version was once the true labels arrived, counted so that memory stays flat
whatever the rows: per version and day a confusion matrix, a log-loss sum and, per label, histograms of its
probability among the rows of that label and the others (for ROC AUC). The metrics are the gate's (contract.METRICS),
from these counts."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from ml_pipeline.contract import LOWER_IS_BETTER

AUC_BINS = 1000  # probability histogram cells: ROC AUC from them is within 0.002 of the exact one (test_quality)
LOG_LOSS_FLOOR = 1e-15  # as scikit-learn clips a probability of 0


class Tally(BaseModel):
    """The counts of one model version on one day's labeled predictions. A true label the model never learned is
    counted in one extra row of `confusion` (always wrong, probability 0)."""

    labels: list[str]
    confusion: list[list[int]]  # [truth: labels + unknown][predicted: labels]
    log_loss_sum: float = 0.0
    positives: list[list[int]]  # [label][probability cell]: rows of that label
    negatives: list[list[int]]  # [label][probability cell]: rows of other labels

    @classmethod
    def empty(cls, labels: list[str]) -> Tally:
        size = len(labels)
        confusion = [[0] * size for _ in range(size + 1)]
        return cls(
            labels=labels, confusion=confusion, positives=[[0] * AUC_BINS] * size, negatives=[[0] * AUC_BINS] * size
        )

    @property
    def rows(self) -> int:
        return int(np.sum(self.confusion))

    def count(self, truth: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray) -> None:
        """Add rows: `truth` and `predicted` as positions in `labels` (truth: len(labels) when unknown),
        `probabilities` with one column per label."""
        size = len(self.labels)
        confusion = np.asarray(self.confusion) + np.bincount(
            truth * size + predicted, minlength=(size + 1) * size
        ).reshape(size + 1, size)
        known = truth < size
        of_truth = np.zeros(len(truth))
        of_truth[known] = probabilities[known, truth[known]]
        cells = np.minimum((probabilities * AUC_BINS).astype(np.int64), AUC_BINS - 1)
        positives, negatives = np.asarray(self.positives), np.asarray(self.negatives)
        for label in range(size):
            is_label = truth == label
            positives[label] += np.bincount(cells[is_label, label], minlength=AUC_BINS)
            negatives[label] += np.bincount(cells[~is_label, label], minlength=AUC_BINS)
        self.confusion, self.positives, self.negatives = confusion.tolist(), positives.tolist(), negatives.tolist()
        self.log_loss_sum += float(-np.log(np.clip(of_truth, LOG_LOSS_FLOOR, 1)).sum())

    def add(self, other: Tally) -> None:
        if other.labels != self.labels:
            raise ValueError("tallies of different labels cannot be added")
        self.confusion = (np.asarray(self.confusion) + other.confusion).tolist()
        self.positives = (np.asarray(self.positives) + other.positives).tolist()
        self.negatives = (np.asarray(self.negatives) + other.negatives).tolist()
        self.log_loss_sum += other.log_loss_sum

    def metrics(self) -> dict[str, float]:
        """The gate's metrics on these rows, as scikit-learn computes them over the labels the rows hold."""
        confusion = np.asarray(self.confusion, dtype=float)
        size = len(self.labels)
        truth_rows, predicted_rows = confusion.sum(axis=1), confusion.sum(axis=0)
        hits = np.diag(confusion[:size])
        present = np.flatnonzero(truth_rows[:size] > 0)
        recall = np.divide(hits, truth_rows[:size], out=np.zeros(size), where=truth_rows[:size] > 0)
        precision = np.divide(hits, predicted_rows, out=np.zeros(size), where=predicted_rows > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(size), where=precision + recall > 0)
        in_rows = np.flatnonzero((truth_rows[:size] > 0) | (predicted_rows > 0))
        unknown = truth_rows[size] > 0  # a label of its own for scikit-learn: recall 0, F1 0
        total = confusion.sum()
        return {
            "accuracy": float(hits.sum() / total),
            "balanced_accuracy": float(recall[present].sum() / (len(present) + unknown)),
            "f1_macro": float(f1[in_rows].sum() / (len(in_rows) + unknown)),
            "roc_auc": self._roc_auc(present),
            "log_loss": float(self.log_loss_sum / total),
        }

    def _roc_auc(self, present: np.ndarray) -> float:
        """One-vs-rest, macro over the labels the rows hold; a tie within a cell counts half."""
        scores = []
        for label in present:
            positives, negatives = np.asarray(self.positives[label]), np.asarray(self.negatives[label])
            if not negatives.sum():
                continue
            below = np.cumsum(negatives) - negatives
            scores.append(float((positives * (below + negatives / 2)).sum() / (positives.sum() * negatives.sum())))
        return float(np.mean(scores)) if scores else float("nan")


def decayed(metric: str, live: float, holdout: float, margin: float) -> bool:
    """Whether the live score is worse than the holdout score by more than `margin`."""
    return live > holdout + margin if metric in LOWER_IS_BETTER else live < holdout - margin
