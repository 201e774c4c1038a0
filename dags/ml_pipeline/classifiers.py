"""The classifiers a run can train, defined once. Adding one is one entry here (see the README).

Estimators are named by import path and imported only when a model is built, so configuration stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class Classifier:
    estimator: str  # "module:Class"
    defaults: dict[str, Any]
    # Types MLflow's skops format must be told to trust when it loads the model (beyond skops' own defaults).
    skops_trusted_types: tuple[str, ...] = ()

    def estimator_class(self) -> type:
        module, _, name = self.estimator.partition(":")
        return getattr(import_module(module), name)


CLASSIFIERS: dict[str, Classifier] = {
    "logistic_regression": Classifier("sklearn.linear_model:LogisticRegression", {"max_iter": 1000}),
    "random_forest": Classifier(
        "sklearn.ensemble:RandomForestClassifier", {"n_estimators": 200}, ("sklearn.tree._tree.Tree",)
    ),
    "gradient_boosting": Classifier("sklearn.ensemble:GradientBoostingClassifier", {}, ("sklearn.tree._tree.Tree",)),
}
