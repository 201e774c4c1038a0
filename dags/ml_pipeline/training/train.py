"""train_model: fit the schema's preprocessing and a classifier as one Pipeline, evaluate it on the holdout,
fingerprint what was trained."""

from __future__ import annotations

import hashlib
import io
import json
import time
from typing import Any

import joblib
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from ml_pipeline.config.classifiers import CLASSIFIERS
from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import METRICS, Candidate, DatasetSnapshot, TrainingResult
from ml_pipeline.data.schema import DatasetSchema
from ml_pipeline.data.splits import read_schema, read_split
from ml_pipeline.errors import ConfigError, ModelLoadError, plain
from ml_pipeline.store.objects import Storage, join
from ml_pipeline.training.budget import DEFAULT_BUDGET, Budget, OverBudgetError, check_size
from ml_pipeline.training.design import fit_pipeline
from ml_pipeline.training.metrics import evaluate
from ml_pipeline.training.preprocessing import SKOPS_TRUSTED_TYPES, native_categories, preprocessor

# Threads per fit (OpenMP, BLAS). An MWAA worker runs at least two task slots per vCPU (mw1.small: 5 on 1), and the
# candidates of a run train side by side: more threads per task only make them wait on each other (3 side-by-side
# fits of HistGradientBoosting on 2 cores: 10x slower with 2 threads each than with 1; docs/benchmarks.md, "Scale").
THREADS = 1


def build_pipeline(classifier: str, hyperparams: dict[str, Any], seed: int, schema: DatasetSchema | None) -> Pipeline:
    """Preprocessing + classifier; hyperparams override the classifier's defaults and are checked before any fit
    (without a schema, before the data is read, only the classifier is built: its settings are what is checked)."""
    spec = CLASSIFIERS[classifier]
    defaults = spec.defaults | (native_categories(schema, spec) if schema else {})
    estimator = spec.estimator_class()(random_state=seed, **defaults)
    try:
        estimator.set_params(**hyperparams)
        # scikit-learn's own parameter constraints (names, types, ranges), checked now rather than mid-fit.
        estimator._validate_params()
    except (ValueError, TypeError) as error:
        raise ConfigError(f"invalid hyperparams for {classifier}: {plain(str(error))}") from None
    if schema is None:
        return Pipeline([("classifier", estimator)])
    return Pipeline([("preprocess", preprocessor(schema, spec)), ("classifier", estimator)])


def skops_trusted_types(classifier: str) -> list[str]:
    return [*SKOPS_TRUSTED_TYPES, *CLASSIFIERS[classifier].skops_trusted_types]


def model_to_bytes(model: Pipeline) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def model_from_bytes(data: bytes, uri: str) -> Pipeline:
    """Load a model this pipeline wrote itself to its own artifact store (joblib is pickle: trust matters)."""
    try:
        return joblib.load(io.BytesIO(data))
    except Exception as error:
        raise ModelLoadError(f"{uri} is not a model this pipeline can load ({error}); rerun train_model") from None


def loggable_params(model: Pipeline) -> dict[str, str | int | float | bool]:
    params = model.named_steps["classifier"].get_params()
    return {name: value for name, value in params.items() if isinstance(value, (str, int, float, bool))}


def fingerprint(dataset: DatasetSnapshot, classifier: str, params: dict[str, Any]) -> str:
    """What makes two trainings the same model: the data, the split and every classifier setting."""
    settings = {
        "data_hash": dataset["data_hash"],
        "test_size": dataset["test_size"],
        "random_seed": dataset["random_seed"],
        "classifier": classifier,
        "params": params,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def train_and_evaluate(
    dataset: DatasetSnapshot, run_prefix: str, storage: Storage, candidate: Candidate, budget: Budget = DEFAULT_BUDGET
) -> TrainingResult:
    """Fit one candidate on the train split, evaluate it on the holdout, write model and evaluation under
    `run_prefix`/model/<candidate name>/, so candidates trained side by side never overwrite each other."""
    classifier, hyperparams = candidate["classifier"], candidate.get("hyperparams", {})
    folder = join(run_prefix, "model", candidate["name"])
    schema = read_schema(dataset["schema_uri"], storage)
    model = build_pipeline(classifier, hyperparams, dataset["random_seed"], schema)
    started = time.perf_counter()
    try:
        with threadpool_limits(limits=THREADS):
            fit_pipeline(model, classifier, lambda: read_split(dataset["train_uri"], schema, storage), budget)
    except OverBudgetError:
        raise
    except ValueError as error:  # e.g. a solver that does not support the chosen penalty
        raise ConfigError(
            f"{classifier} cannot be trained with hyperparams {hyperparams}: {plain(str(error))}"
        ) from None
    fit_seconds = time.perf_counter() - started
    evaluation = evaluate(model, *read_split(dataset["holdout_uri"], schema, storage))
    params = loggable_params(model)
    model_bytes = model_to_bytes(model)
    check_size(model_bytes, classifier, budget)
    return {
        "candidate": candidate["name"],
        "classifier": classifier,
        "model_uri": storage.write_bytes(join(folder, "model.joblib"), model_bytes),
        "evaluation_uri": storage.write_bytes(join(folder, "evaluation.json"), json.dumps(evaluation).encode()),
        "params": params,
        "metrics": {name: evaluation["metrics"][name] for name in METRICS},
        "fit_seconds": round(fit_seconds, 3),
        "fingerprint": fingerprint(dataset, classifier, params),
    }


def check_hyperparams(config: PipelineConfig) -> dict[str, str]:
    """scikit-learn's own checks of each candidate's settings (it imports sklearn, so it is not part of loading).

    Returns what is wrong with each invalid candidate: its train_model instance fails alone and the others go on.
    When no candidate is valid nothing could be trained, so this raises before any data is read.
    """
    origin = config.origin("candidates" if config.candidates is not None else "hyperparams")
    candidates, invalid = config.candidate_list(), {}
    for candidate in candidates:
        try:
            build_pipeline(candidate.classifier, candidate.hyperparams, config.random_seed, schema=None)
        except ConfigError as error:
            named = "" if candidate.name == candidate.classifier else f"candidate {candidate.name}: "
            invalid[candidate.name] = f"{named}{error} (from {origin})"
    if len(invalid) == len(candidates):
        raise ConfigError("; ".join(invalid.values()))
    return invalid
