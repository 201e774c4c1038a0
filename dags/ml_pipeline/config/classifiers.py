"""The classifiers a run can train, defined once. Adding one is one entry here:
docs/configuration.md, "Adding a classifier".

Estimators are named by import path and imported only when a model is built, so configuration stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal

# How a classifier reads categories (training/preprocessing.py): one column per category, integer codes, or codes
# the estimator itself treats as categories (HistGradientBoosting's native support).
Encoding = Literal["one_hot", "ordinal", "native"]


@dataclass(frozen=True)
class Classifier:
    estimator: str  # "module:Class"
    defaults: dict[str, Any]
    # Types MLflow's skops format must be told to trust when it loads the model (beyond skops' own defaults).
    skops_trusted_types: tuple[str, ...] = ()
    # The setting that counts the steps of an ensemble that grows step by step (warm_start), for training/budget.py.
    grows_with: str = ""
    encoding: Encoding = "ordinal"
    scaled: bool = False  # numeric features standardised first (models fitted by gradient on raw magnitudes)
    # The dtype of the estimator's input matrix (training/design.py). float32 for the tree ensembles: scikit-learn's
    # trees split float32 values (so they do not copy the matrix again), and HistGradientBoosting bins each feature
    # into at most 255 bins, so float32 loses them nothing and halves the matrix.
    dtype: str = "float64"
    native_missing: bool = False  # splits on missing values itself: numeric gaps are not imputed

    def estimator_class(self) -> type:
        module, _, name = self.estimator.partition(":")
        return getattr(import_module(module), name)


CLASSIFIERS: dict[str, Classifier] = {
    "logistic_regression": Classifier(
        "sklearn.linear_model:LogisticRegression", {"max_iter": 1000}, encoding="one_hot", scaled=True
    ),
    "random_forest": Classifier(
        "sklearn.ensemble:RandomForestClassifier",
        {"n_estimators": 200},
        ("sklearn.tree._tree.Tree",),
        "n_estimators",
        dtype="float32",
    ),
    "extra_trees": Classifier(
        "sklearn.ensemble:ExtraTreesClassifier",
        {"n_estimators": 200},
        ("sklearn.tree._tree.Tree",),
        "n_estimators",
        dtype="float32",
    ),
    "gradient_boosting": Classifier(
        "sklearn.ensemble:GradientBoostingClassifier", {}, ("sklearn.tree._tree.Tree",), "n_estimators", dtype="float32"
    ),
    # skops leaves TreePredictor untrusted by default: its node arrays are not bounds-checked, so a crafted file
    # could crash the loading process. The registry holds only models this pipeline trained, so it is trusted here.
    "hist_gradient_boosting": Classifier(
        "sklearn.ensemble:HistGradientBoostingClassifier",
        {},
        # With categorical features it keeps a small preprocessor of its own: check_array bound with functools.partial.
        (
            "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
            "functools.partial",
            "sklearn.utils.validation.check_array",
        ),
        "max_iter",
        encoding="native",
        native_missing=True,
        dtype="float32",
    ),
}

# What a run trains when the configuration names no candidates: a linear model and two tree ensembles, sized so
# that a million rows train in about a minute each on one core (docs/benchmarks.md, "Scale"). Extra trees rather
# than a random forest: as accurate here, and ten times faster to fit on large data (random split points).
DEFAULT_CANDIDATES: list[dict[str, Any]] = [
    {"classifier": "logistic_regression"},
    {"classifier": "extra_trees", "hyperparams": {"n_estimators": 100, "max_depth": 12, "min_samples_leaf": 5}},
    {"classifier": "hist_gradient_boosting"},
]
