"""What one candidate may cost: a model no larger than `max_model_mb`, a fit no longer than `max_fit_minutes`.

Ensembles that grow step by step (a forest's trees, boosting's stages) are fitted with `PROBE_STEPS` steps first;
their size and time, scaled to the configured count, tell within seconds whether the whole fit stays in budget, and
the fit then goes on from there (a warm start: the same model as one fit, which scikit-learn guarantees for these
estimators). Every model's size is checked again, exactly, before it is written.
"""

from __future__ import annotations

import pickle
import time
from typing import Any

from ml_pipeline.config.classifiers import CLASSIFIERS
from ml_pipeline.config.training import Budget
from ml_pipeline.errors import ConfigError

PROBE_STEPS = 8
MB = 1_000_000


DEFAULT_BUDGET = Budget()


class OverBudgetError(ConfigError):
    """A candidate's settings would make a model too large or a fit too long: it fails alone, the others go on."""

    label = "Candidate over budget"


def shown(megabytes: float) -> str:
    if megabytes >= 1000:
        return f"{megabytes / 1000:,.1f} GB"
    return f"{megabytes:,.1f} MB" if megabytes >= 1 else f"{megabytes * 1000:,.0f} kB"


def fit_within(estimator: Any, classifier: str, matrix: Any, labels: Any, budget: Budget) -> None:
    """Fit the classifier `estimator` on its input matrix, refusing early when its growing ensemble would overrun the
    budget."""
    steps = CLASSIFIERS[classifier].grows_with
    count = estimator.get_params()[steps] if steps else 0
    if count <= PROBE_STEPS:
        estimator.fit(matrix, labels)
        return
    estimator.set_params(warm_start=True, **{steps: PROBE_STEPS})
    started = time.perf_counter()
    estimator.fit(matrix, labels)
    scale = count / PROBE_STEPS
    projected_mb, projected_minutes = size_mb(estimator) * scale, (time.perf_counter() - started) * scale / 60
    advice = f"lower {steps} (or the size of each step)"
    if projected_mb > budget.max_model_mb:
        raise OverBudgetError(
            f"{classifier} with {steps} {count} would make a model of about {shown(projected_mb)} (its first "
            f"{PROBE_STEPS}: {shown(projected_mb / scale)}), more than max_model_mb {budget.max_model_mb:g}; {advice}"
        )
    if projected_minutes > budget.max_fit_minutes:
        raise OverBudgetError(
            f"{classifier} with {steps} {count} would train for about {projected_minutes:,.0f} minutes, more than "
            f"max_fit_minutes {budget.max_fit_minutes:g}; {advice}, or train on fewer rows"
        )
    estimator.set_params(**{steps: count})
    estimator.fit(matrix, labels)
    estimator.set_params(warm_start=False)


def size_mb(estimator: Any) -> float:
    return len(pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)) / MB


def check_size(data: bytes, classifier: str, budget: Budget) -> None:
    """The written model's exact size, for every classifier (a linear model grows with its features, say)."""
    if len(data) / MB > budget.max_model_mb:
        raise OverBudgetError(
            f"{classifier}'s model is {shown(len(data) / MB)}, more than max_model_mb {budget.max_model_mb:g}; choose "
            "smaller settings"
        )
