"""Drift statistics of a scoring run's counts against the version's reference, and the verdict by the thresholds.

Per feature: PSI (numbers over the reference's deciles, categories over its most frequent values and "any other"),
a two-sample test (Kolmogorov-Smirnov from the reference's percentile bins for numbers, chi-squared for
categories), and the shares of missing values and of unseen categories. The predicted labels and each class's
probability are compared the same way. Every figure comes from bin counts, so it is the same for any engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel
from scipy import stats

from ml_pipeline.data.profile import Histogram, Profile

PSI_FLOOR = 1e-4  # share given to an empty bin, so that PSI stays finite (the usual convention)


class Statistics(BaseModel):
    """The comparison of one variable; `test` is "ks" or "chi2" with its statistic and p-value."""

    kind: str
    psi: float
    test: str
    statistic: float
    p_value: float
    missing_reference: float
    missing_current: float
    unseen: float
    rows: int


@dataclass(frozen=True)
class Thresholds:
    """Settings (config): PSI above `psi`, missing share grown by more than `missing`, or unseen share above
    `unseen` in any feature (PSI also of the predicted labels) marks the run as drifted."""

    psi: float
    missing: float
    unseen: float


class DriftResult(BaseModel):
    features: dict[str, Statistics]
    predictions: Statistics
    probabilities: dict[str, Statistics]
    drifted: dict[str, str]  # variable -> which threshold it crossed, in one line

    @property
    def detected(self) -> bool:
        return bool(self.drifted)


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    if not reference.sum() or not current.sum():
        return 0.0
    expected = np.maximum(reference / reference.sum(), PSI_FLOOR)
    actual = np.maximum(current / current.sum(), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def coarse(histogram: Histogram) -> np.ndarray:
    """A numeric histogram's percentile-bin counts summed into its decile bins (every decile edge is a percentile
    edge, so each fine bin lies in one decile bin)."""
    counts = np.asarray(histogram.counts, dtype=float)
    if not histogram.edges:
        return counts
    lower_edges = np.concatenate([[-np.inf], histogram.edges])  # the lower edge of each fine bin
    decile = np.searchsorted(np.asarray(histogram.coarse_edges), lower_edges, side="right")
    return np.bincount(decile, weights=counts, minlength=len(histogram.coarse_edges) + 1)


def ks_from_bins(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """The two-sample Kolmogorov-Smirnov statistic at the bin edges (at most the exact one, by less than the widest
    bin's share) and its asymptotic p-value."""
    n, m = reference.sum(), current.sum()
    if not n or not m:
        return 0.0, 1.0
    distance = float(np.max(np.abs(np.cumsum(reference) / n - np.cumsum(current) / m)))
    effective = np.sqrt(n * m / (n + m))
    return distance, float(stats.kstwobign.sf(effective * distance))


def chi_squared(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Chi-squared test of homogeneity of two count vectors (bins empty in both are left out)."""
    table = np.vstack([reference, current])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or not reference.sum() or not current.sum():
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def compare(reference: Histogram, current: Histogram) -> Statistics:
    ref, cur = np.asarray(reference.counts, dtype=float), np.asarray(current.counts, dtype=float)
    if reference.kind == "numeric":
        stability = psi(coarse(reference), coarse(current))
        test, (statistic, p_value) = "ks", ks_from_bins(ref, cur)
    else:
        stability = psi(ref, cur)
        test, (statistic, p_value) = "chi2", chi_squared(ref, cur)
    return Statistics(
        kind=reference.kind, psi=stability, test=test, statistic=statistic, p_value=p_value,
        missing_reference=reference.missing / reference.rows if reference.rows else 0.0,
        missing_current=current.missing / current.rows if current.rows else 0.0,
        unseen=current.unseen / (current.rows - current.missing) if current.rows > current.missing else 0.0,
        rows=current.rows,
    )  # fmt: skip


def crossed(statistics: Statistics, thresholds: Thresholds) -> str | None:
    """Which threshold the variable crossed, in words, or None."""
    if statistics.psi > thresholds.psi:
        return f"PSI {statistics.psi:.3f} > {thresholds.psi:g}"
    grown = statistics.missing_current - statistics.missing_reference
    if grown > thresholds.missing:
        return f"missing {statistics.missing_current:.1%} (training {statistics.missing_reference:.1%})"
    if statistics.unseen > thresholds.unseen:
        return f"unseen categories in {statistics.unseen:.1%} of values"
    return None


def drift(reference: Profile, current: Profile, thresholds: Thresholds) -> DriftResult:
    features = {name: compare(reference.features[name], current.features[name]) for name in reference.features}
    predictions = compare(reference.predictions, current.predictions)
    probabilities = {name: compare(reference.probabilities[name], h) for name, h in current.probabilities.items()}
    drifted = {name: why for name, stat in features.items() if (why := crossed(stat, thresholds))}
    if predictions.psi > thresholds.psi:
        drifted["prediction"] = f"PSI {predictions.psi:.3f} > {thresholds.psi:g}"
    return DriftResult(features=features, predictions=predictions, probabilities=probabilities, drifted=drifted)
