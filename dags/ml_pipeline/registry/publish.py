"""persist_model: log the candidates, register the best one (once, whatever the retries), then gate it."""

from __future__ import annotations

import warnings

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.contract import Candidate, DatasetSnapshot, PersistResult, RunIds, TrainingResult
from ml_pipeline.data.splits import read_schema, read_split
from ml_pipeline.errors import EnvironmentFailure, is_environment_failure_line
from ml_pipeline.registry.connection import connect, explained_tracking_errors
from ml_pipeline.registry.gate import gate, score_candidate
from ml_pipeline.registry.registration import no_candidate_trained, rank, register
from ml_pipeline.registry.run_log import Holdout, RunResults
from ml_pipeline.store.locks import registry_lock
from ml_pipeline.store.objects import Storage


def import_skops_quietly() -> None:
    """Import skops (MLflow's sklearn format) without its flood of Airflow deprecation warnings.

    On import, skops looks every scipy ufunc up in every loaded module, because scipy 2's ufunc wrappers have no
    `__module__`. In a task process that includes Airflow's compatibility modules, which answer each lookup with a
    DeprecatedImportWarning (a FutureWarning): about 1,160 log lines per run. Only this import is filtered.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import skops.io  # noqa: F401


MODEL_DESCRIPTION = (
    "A scikit-learn classifier of {target} from {features}, trained daily by the Airflow DAG "
    "classification_pipeline (MLflow experiment {experiment}); it takes raw rows and carries its data set's schema. "
    "Each version's description gives its holdout metrics and the champion gate's decision. Services load "
    "models:/<this name>@champion: the version that scored at least as well as the previous champion on the same "
    "holdout rows; @challenger is the latest that did not."
)


def skipped_candidates(
    candidates: list[Candidate], trainings: list[TrainingResult], failures: dict[str, str]
) -> dict[str, str]:
    """Candidates without a model, with the reason their train_model instance gave (if it gave one)."""
    trained = {training["candidate"] for training in trainings}
    return {
        candidate["name"]: failures.get(candidate["name"], "its train_model instance did not finish")
        for candidate in candidates
        if candidate["name"] not in trained
    }


def persist(
    config: PipelineConfig,
    run: RunIds,
    storage: Storage,
    dataset: DatasetSnapshot,
    candidates: list[Candidate],
    trainings: list[TrainingResult],
    failures: dict[str, str],
    fallback: ModelVersion | None = None,
) -> PersistResult:
    """Log every candidate, register the best (once per training), then gate the aliases. Returns XCom's summary.

    `failures` are the one-line reasons of candidates without a training; a failure of the environment (a full disk)
    fails the whole run instead of skipping the candidate. A first version must beat the `fallback` (a segment's).
    """
    if environment := {name: line for name, line in failures.items() if is_environment_failure_line(line)}:
        reasons = "; ".join(f"train_model[{name}]: {line.split(': ', 1)[1]}" for name, line in environment.items())
        raise EnvironmentFailure(f"{reasons}; nothing was registered")
    skipped = skipped_candidates(candidates, trainings, failures)
    if not trainings:
        raise no_candidate_trained(skipped)
    model_name, metric = config.model_name, config.gate_metric
    ranked = rank(trainings, metric, [candidate["name"] for candidate in candidates])
    import_skops_quietly()
    schema = read_schema(dataset["schema_uri"], storage)
    holdout = Holdout(schema, *read_split(dataset["holdout_uri"], schema, storage))
    results = RunResults(dataset, ranked, skipped, holdout)
    with explained_tracking_errors(config.mlflow_tracking_uri):
        experiment_id = connect(config.mlflow_tracking_uri, config.experiment_name)
        client = MlflowClient()
        version, reused = register(
            storage, client, experiment_id=experiment_id, model_name=model_name, run=run, results=results
        )
        description = MODEL_DESCRIPTION.format(
            target=schema.target, features=schema.describe(), experiment=config.experiment_name
        )
        client.update_registered_model(model_name, description=description)
        metrics = score_candidate(client, model_name, version, holdout)
        with registry_lock(storage, config.artifact_root, model_name):
            decision = gate(
                client, model_name, version, metrics, holdout, metric, config.allow_schema_change,
                config.require_approval, fallback,
            )  # fmt: skip
            if decision.proposed:
                from ml_pipeline.registry.approval import record_proposal  # it imports this module

                record_proposal(client, model_name, version.version, decision)
    return PersistResult(
        best_candidate=ranked[0]["candidate"],
        skipped=skipped,
        gate_metric=metric,
        model_name=model_name,
        version=str(version.version),
        mlflow_run_id=version.run_id or "",
        reused=reused,
        metrics=metrics,
        alias=decision.alias,
        promoted=decision.promoted,
        reason=decision.reason,
        previous_champion=str(decision.champion.version) if decision.champion else None,
        champion_score=decision.champion_score,
        champion_metrics=decision.champion_metrics,
        proposed=decision.proposed,
    )
