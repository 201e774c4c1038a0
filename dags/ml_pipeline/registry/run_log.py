"""What persist_model records in MLflow: one parent run per DAG run, a child run per candidate, a leaderboard,
and the best candidate's model (logged once, in its child run, for registration)."""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from ml_pipeline.contract import (
    METRICS,
    TAG_CANDIDATE,
    TAG_DAG_ID,
    TAG_DATA_HASH,
    TAG_FINGERPRINT,
    TAG_LOGGED_MODEL,
    TAG_RUN_ID,
    TAG_SEGMENT,
    DatasetSnapshot,
    RunIds,
    TrainingResult,
)
from ml_pipeline.data.profile import Profile, with_predictions
from ml_pipeline.data.schema import METADATA_KEY, DatasetSchema
from ml_pipeline.registry.reference import attach_reference
from ml_pipeline.store.objects import Storage
from ml_pipeline.training.metrics import aligned_probabilities

MODEL_REQUIREMENTS = ("scikit-learn", "mlflow", "pandas", "numpy", "scipy", "skops")


def model_requirements() -> list[str]:
    """Exact pins for the serving environment: explicit, so logging skips seconds of requirement inference."""
    return [f"{name}=={installed_version(name)}" for name in MODEL_REQUIREMENTS]


def leaderboard(ranked: list[TrainingResult], skipped: dict[str, str]) -> pd.DataFrame:
    """Every candidate, best first; the ones without a model last, with the reason."""
    trained = [
        {"rank": place, "candidate": training["candidate"], "classifier": training["classifier"],
         **training["metrics"], "fit_seconds": training["fit_seconds"], "status": "best" if place == 1 else "trained"}
        for place, training in enumerate(ranked, start=1)
    ]  # fmt: skip
    rows = trained + [{"candidate": name, "status": f"skipped: {reason}"} for name, reason in skipped.items()]
    return pd.DataFrame(rows, columns=["rank", "candidate", "classifier", *METRICS, "fit_seconds", "status"])


def _confusion_matrix_figure(evaluation: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    display = ConfusionMatrixDisplay(np.array(evaluation["confusion_matrix"]), display_labels=evaluation["labels"])
    display.plot(cmap="Blues", colorbar=False)
    display.ax_.set_title("Holdout confusion matrix")
    return display.figure_


def _log_inputs(dataset: DatasetSnapshot, holdout: Holdout) -> None:
    """The holdout as a pandas dataset (it is in memory); the training split by reference only, so persist_model
    never loads it: name, source, schema and the data set's hash."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.pandas_dataset import from_pandas

    from ml_pipeline.data.snapshot import content_hash

    rows = holdout.plain_rows().assign(**{holdout.schema.target: holdout.labels})
    with warnings.catch_warnings():
        # MLflow registers its local-file source class twice, then warns that every local source is ambiguous.
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted", UserWarning)
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer column", UserWarning)  # labels
        holdout_set = from_pandas(
            rows, source=dataset["holdout_uri"], targets=holdout.schema.target, name="holdout",
            digest=content_hash(rows)[:16],
        )  # fmt: skip
        # MLflow's own class for a dataset known by reference; its base marks `profile` abstract, unenforced.
        training_set = MetaDataset(  # type: ignore[abstract]
            resolve_dataset_source(dataset["train_uri"]), name="training",
            digest=dataset["data_hash"][:16], schema=holdout.signature().inputs,
        )  # fmt: skip
        mlflow.log_input(training_set, context="training")  # infers the holdout's schema: its labels are integers
        mlflow.log_input(holdout_set, context="holdout")


def _log_candidate(storage: Storage, training: TrainingResult) -> None:
    import matplotlib.pyplot as plt

    evaluation = json.loads(storage.read_bytes(training["evaluation_uri"]))
    mlflow.log_params({"classifier": training["classifier"], **training["params"]})
    mlflow.log_metrics(evaluation["metrics"] | {"fit_seconds": training["fit_seconds"]})
    mlflow.log_dict(evaluation["report"], "classification_report.json")
    figure = _confusion_matrix_figure(evaluation)
    mlflow.log_figure(figure, "confusion_matrix.png")
    plt.close(figure)


class _IndexedZipFile(zipfile.ZipFile):
    """namelist() answered from the name index ZipFile keeps anyway: the same names, O(1) `in`."""

    def namelist(self):
        return self.NameToInfo.keys()


@contextmanager
def linear_skops_dump() -> Iterator[None]:
    """Make skops' dump linear in the number of arrays (skops 0.16, unchanged upstream).

    skops writes each ndarray as its own zip entry, after checking `name not in zip_file.namelist()`: a fresh
    list of every entry written so far, then scanned. A forest has 5 arrays per tree, so dump time grows with the
    square of the tree count (8,000 trees: 294 s, 17 s with this). Only that lookup changes: the archive holds the
    same entries and schema as before, and loading (skops.io.load, no pickle) is untouched.
    """
    from skops.io import _persist

    if _persist.ZipFile is not zipfile.ZipFile:  # skops changed how it opens the archive: leave it alone
        yield
        return
    _persist.ZipFile = _IndexedZipFile
    try:
        yield
    finally:
        _persist.ZipFile = zipfile.ZipFile


def log_model(model: Any, classifier: str, holdout: Holdout, reference: Profile) -> str:
    """The model in the active run, as MLflow's skops format (loading it runs no pickle), with the signature of the
    holdout's rows, the data set's schema in its metadata, and beside it the drift reference (completed with the
    model's holdout predictions); returns its URI."""
    from ml_pipeline.training.train import skops_trusted_types

    with linear_skops_dump():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=holdout.signature(model),
            input_example=holdout.plain_rows(3),
            pip_requirements=model_requirements(),
            skops_trusted_types=skops_trusted_types(classifier),
            metadata={METADATA_KEY: holdout.schema.model_dump(mode="json")},
        )
    attach_reference(info.model_id, with_predictions(reference, *holdout.predictions(model)))
    mlflow.set_tag(TAG_LOGGED_MODEL, info.model_uri)
    return info.model_uri


@dataclass(frozen=True)
class Holdout:
    """The holdout rows as every model reads them (data/schema.py's model_input), their labels and their schema."""

    schema: DatasetSchema
    features: pd.DataFrame
    labels: pd.Series

    def predictions(self, model: Any) -> tuple[np.ndarray, np.ndarray]:
        """The model's class and class probabilities for each row, one column per label of the schema: a segment's
        model may not know every label of the table."""
        probabilities = aligned_probabilities(model, self.features, self.schema.labels)
        return np.asarray(self.schema.labels)[probabilities.argmax(axis=1)], probabilities

    def plain_rows(self, count: int | None = None) -> pd.DataFrame:
        """The rows (the first `count`) with text categories as plain text, as MLflow infers types from them."""
        rows = self.features if count is None else self.features.head(count)
        texts = [*self.schema.of_kind("categorical"), *filter(None, [self.schema.segment_column])]
        return rows.astype(dict.fromkeys(texts, object))

    def signature(self, model: Any = None) -> Any:
        """MLflow's signature of these rows (and of the model's predictions, given a model): inferred from them, with
        the columns that had missing values in training marked optional."""
        from mlflow.models import ModelSignature, infer_signature
        from mlflow.types.schema import ColSpec, Schema

        rows = self.plain_rows(1000)
        with warnings.catch_warnings():
            # Class labels are never missing: MLflow's hint about integer columns does not apply.
            warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer column", UserWarning)
            inferred = infer_signature(rows, model.predict(rows) if model is not None else None)
        optional = {feature.name for feature in self.schema.features if feature.had_missing}
        columns: list[Any] = [
            ColSpec(spec.type, spec.name, required=spec.name not in optional) for spec in inferred.inputs.inputs
        ]
        return ModelSignature(Schema(columns), inferred.outputs)


@dataclass(frozen=True)
class RunResults:
    """What a DAG run's candidates came to, as persist_model records it: the data they trained on, the trained ones
    best first, the skipped ones with their reason, and the holdout (in memory: the gate scores it too)."""

    dataset: DatasetSnapshot
    ranked: list[TrainingResult]
    skipped: dict[str, str]
    holdout: Holdout


def run_tags(run: RunIds, dataset: DatasetSnapshot) -> dict[str, str]:
    """Tags on every run and version of a DAG run: which run made it, from which data, and how many of its rows
    (`data.rows` below `data.rows_read`: rows without a label dropped, or a sample of max_training_rows)."""
    segment = {TAG_SEGMENT: run.segment} if run.segment is not None else {}
    return {TAG_DAG_ID: run.dag_id, TAG_RUN_ID: run.run_id, TAG_DATA_HASH: dataset["data_hash"],
            "data.rows": str(dataset["rows"]), "data.rows_read": str(dataset["rows_read"])} | segment  # fmt: skip


def log_runs(storage: Storage, experiment_id: str, run: RunIds, results: RunResults) -> str:
    """The parent run (lineage, split, leaderboard) and one child run per trained candidate, best first;
    returns the URI of the best candidate's logged model."""
    from ml_pipeline.training.train import model_from_bytes

    dataset, ranked, best_training = results.dataset, results.ranked, results.ranked[0]
    best = model_from_bytes(storage.read_bytes(best_training["model_uri"]), best_training["model_uri"])  # first
    tags = run_tags(run, dataset)
    lineage = {"data.source": dataset["source"]}
    run_name = run.run_name
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags | lineage):
        mlflow.log_params(
            {"test_size": dataset["test_size"], "random_seed": dataset["random_seed"],
             "candidates": len(ranked) + len(results.skipped), "best_candidate": best_training["candidate"]}
        )  # fmt: skip
        _log_inputs(dataset, results.holdout)
        mlflow.log_dict(results.holdout.schema.model_dump(mode="json"), "schema.json")
        mlflow.log_table(leaderboard(ranked, results.skipped), artifact_file="leaderboard.json")
        mlflow.log_metrics({f"best_{name}": value for name, value in best_training["metrics"].items()})
        for training in ranked:
            child_tags = tags | {TAG_CANDIDATE: training["candidate"], TAG_FINGERPRINT: training["fingerprint"]}
            child_name = f"{run_name}.{training['candidate']}"
            with mlflow.start_run(experiment_id=experiment_id, run_name=child_name, nested=True, tags=child_tags):
                _log_candidate(storage, training)
                if training is best_training:
                    reference = Profile.model_validate_json(storage.read_bytes(dataset["reference_uri"]))
                    model_uri = log_model(best, training["classifier"], results.holdout, reference)
    return model_uri
