"""Measurements that each run in a fresh interpreter (`python bench/stages.py NAME WORKDIR`), as a task does on a
Celery worker, so imports and peak memory (max RSS) are those of one task. Prints one JSON line.

The tasks read the bundled Wine data unless the environment says otherwise (bench/scale.py does): BENCH_SOURCE is the
source_uri, and BENCH_SETTINGS a JSON object of further settings for get_data and persist_model, such as
`{"target_column": "label"}`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_pipeline.config.model import PipelineConfig
    from ml_pipeline.registry.run_log import Holdout

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "dags"), str(REPO / "scripts")]
DAG_FILE = REPO / "dags" / "classification_pipeline.py"
SAMPLE_INPUT = REPO / "scripts" / "sample_input.csv"
NAN = float("nan")


def max_rss_mib() -> float:
    """This process's peak RSS. On Linux from VmHWM: ru_maxrss keeps the peak of the process that spawned it (vfork,
    then exec), so a worker started by a bench that built a large table would report that table."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def result(seconds: float, imports: float = NAN) -> dict[str, float]:
    return {"seconds": seconds, "rss_mib": max_rss_mib(), "import_seconds": imports}


def dag_parse(workdir: Path) -> dict[str, float]:
    import runpy

    import airflow.sdk  # noqa: F401  - already loaded in a real DAG processor

    started = time.perf_counter()
    runpy.run_path(str(DAG_FILE))
    return result(time.perf_counter() - started)


def execution_api_start(workdir: Path) -> dict[str, float]:
    """Airflow's in-process execution API up to its first answer: what dag.test() waits for before the first task."""
    import airflow.settings  # noqa: F401  - loaded before any run starts
    import httpx

    started = time.perf_counter()
    from airflow.api_fastapi.execution_api.app import InProcessExecutionAPI

    api = InProcessExecutionAPI()
    client = httpx.Client(transport=api.transport, base_url="http://in-process.invalid./")
    client.get("health").raise_for_status()
    return result(time.perf_counter() - started)


def bench_config(**values: Any) -> PipelineConfig:
    """The pipeline's settings: BENCH_SETTINGS (a JSON object), then `values`, over the defaults."""
    from ml_pipeline.config.model import PipelineConfig

    raw = os.environ.get("BENCH_SETTINGS", "") or "{}"
    try:
        settings = json.loads(raw)
    except json.JSONDecodeError as error:
        raise SystemExit(f"BENCH_SETTINGS is not JSON ({error}): {raw}") from None
    if not isinstance(settings, dict):
        raise SystemExit(f"BENCH_SETTINGS should be a JSON object of settings, not {raw}")
    return PipelineConfig.model_validate(settings | values)


def _task(name: str, workdir: Path) -> dict[str, float]:
    """One task's function on the artifacts the previous stage left in `workdir`: get_data, one candidate's
    train_model (`train_model[<candidate>]`), or persist_model over the candidates trained so far."""
    started = time.perf_counter()
    from ml_pipeline.config.layers import load_config
    from ml_pipeline.contract import RunIds
    from ml_pipeline.store.objects import Storage

    storage, prefix, facts_file = Storage(), str(workdir / "artifacts"), workdir / "facts.json"
    facts = json.loads(facts_file.read_text()) if facts_file.exists() else {}
    if name == "get_data":
        from ml_pipeline.data.snapshot import snapshot_dataset

        imported = time.perf_counter()
        candidates = [candidate.as_candidate() for candidate in load_config({}).candidate_list()]
        config = bench_config(source_uri=os.environ.get("BENCH_SOURCE", ""))  # bench/scale.py: synthetic data
        facts = {"dataset": snapshot_dataset(config, prefix, storage), "candidates": candidates, "trainings": {}}
    elif name.startswith("train_model["):
        from ml_pipeline.training.train import train_and_evaluate

        imported = time.perf_counter()
        candidate = next(c for c in facts["candidates"] if f"train_model[{c['name']}]" == name)
        training = train_and_evaluate(facts["dataset"], prefix, storage, candidate)
        (workdir / f"{candidate['name']}.json").write_text(json.dumps(training))  # candidates may run side by side
    else:
        from ml_pipeline.registry.publish import persist

        imported = time.perf_counter()
        trainings = [json.loads((workdir / f"{c['name']}.json").read_text()) for c in facts["candidates"]]
        config = bench_config(mlflow_tracking_uri=f"sqlite:///{workdir}/mlflow.db", experiment_name="bench",
                              model_name="bench-model", artifact_root=prefix)  # fmt: skip
        run = RunIds("bench", str(time.time()))
        persist(config, run, storage, facts["dataset"], facts["candidates"], trainings, {})
    finished = time.perf_counter()
    if name == "get_data":
        facts_file.write_text(json.dumps(facts))
    return result(finished - imported, imported - started)


def wine_holdout() -> Holdout:
    """The Wine frame as persist_model holds its holdout: the schema get_data would infer, the rows in model_input's
    form, the labels as the model learns them."""
    from sklearn.datasets import load_wine

    from ml_pipeline.config.model import PipelineConfig
    from ml_pipeline.data.inference import infer_schema
    from ml_pipeline.data.schema import labels_of, model_input
    from ml_pipeline.registry.run_log import Holdout

    frame = load_wine(as_frame=True).frame
    schema = infer_schema(frame, PipelineConfig())  # the default target_column is Wine's
    return Holdout(schema, model_input(frame, schema), labels_of(frame[schema.target]))


def _logged_model(
    classifier: str, hyperparams: dict[str, Any], workdir: Path, name: str
) -> tuple[str, Callable[[], str]]:
    """persist_model's log_model of a `classifier` pipeline fitted on Wine, to be called in a run of the experiment
    whose id comes first: a registry of its own in `workdir`, artifacts beside its database (nothing in ./mlruns)."""
    import numpy

    from ml_pipeline.data.profile import reference
    from ml_pipeline.registry.connection import connect
    from ml_pipeline.registry.publish import import_skops_quietly
    from ml_pipeline.registry.run_log import log_model
    from ml_pipeline.training.train import build_pipeline

    import_skops_quietly()
    holdout = wine_holdout()
    model = build_pipeline(classifier, hyperparams, 42, holdout.schema).fit(holdout.features, holdout.labels)
    experiment_id = connect(f"sqlite:///{workdir}/{name}.db", f"bench-{name.replace('_', '-')}")
    training_rows = reference(holdout.features, numpy.arange(len(holdout.features)), holdout.schema)
    return experiment_id, lambda: log_model(model, classifier, holdout, training_rows)


def log_model(workdir: Path) -> dict[str, float]:
    """persist_model's log_model (explicit pip requirements, signature, the schema in the metadata) of a logistic
    regression pipeline on Wine, warm (second call).

    The first call in a process also pays one-time imports (skops, MLflow's package map): reported as imports.
    """
    import mlflow

    (experiment_id, call), calls = _logged_model("logistic_regression", {}, workdir, "log_model"), []
    with mlflow.start_run(experiment_id=experiment_id):
        for _ in range(2):
            started = time.perf_counter()
            call()
            calls.append(time.perf_counter() - started)
    return result(calls[1], calls[0] - calls[1])


def log_forest(trees: int, workdir: Path) -> dict[str, float]:
    """persist_model's log_model for an extra-trees forest of `trees` trees on Wine: linear in the trees, or not."""
    import mlflow

    experiment_id, call = _logged_model("extra_trees", {"n_estimators": trees}, workdir, "log_forest")
    with mlflow.start_run(experiment_id=experiment_id):
        started = time.perf_counter()
        call()
        return result(time.perf_counter() - started)


def register_champion(root: Path, model_name: str, classifier: str) -> tuple[str, str]:
    """A registry in `root` whose champion `model_name` is a `classifier` pipeline trained on the bundled Wine data by
    the real pipeline functions (get_data's, train_model's, persist_model's), so it carries the data set's schema as
    the DAG's versions do; MLflow's artifacts stay beside its database. Returns its tracking URI and the version."""
    tracking_uri, version, promoted = register_version(root, model_name, classifier, model_name)
    if not promoted:
        raise RuntimeError(f"{model_name} version {version} was not promoted to champion in {root}")
    return tracking_uri, version


def register_version(root: Path, model_name: str, classifier: str, run_id: str) -> tuple[str, str, bool]:
    """register_champion's work as the DAG run `run_id` (a new run registers a new version; the gate decides its
    alias). Returns the tracking URI, the version and whether it became the champion."""
    from ml_pipeline.config.model import PipelineConfig
    from ml_pipeline.contract import Candidate, RunIds
    from ml_pipeline.data.snapshot import snapshot_dataset
    from ml_pipeline.registry.publish import persist
    from ml_pipeline.store.objects import Storage
    from ml_pipeline.training.train import train_and_evaluate

    storage, tracking_uri, work = Storage(), f"sqlite:///{root}/mlflow.db", str(root / f"run-{run_id}")
    config = PipelineConfig(mlflow_tracking_uri=tracking_uri, experiment_name="bench",
                            model_name=model_name, artifact_root=str(root))  # fmt: skip
    dataset = snapshot_dataset(config, work, storage)
    candidate = Candidate(name=classifier, classifier=classifier, hyperparams={})
    training = train_and_evaluate(dataset, work, storage, candidate)
    summary = persist(config, RunIds("bench", run_id), storage, dataset, [candidate], [training], {})
    return tracking_uri, summary["version"], summary["promoted"]


def lookup_registry(workdir: Path) -> dict[str, Any]:
    """Once per bench run: a registry holding one champion, made by the real pipeline functions."""
    root, name = workdir / "lookup", "bench-lookup"
    tracking_uri, version = register_champion(root, name, "logistic_regression")
    registry = {"tracking_uri": tracking_uri, "model_name": name, "version": version}
    (root / "registry.json").write_text(json.dumps(registry))
    return {}


def _lookup_call(workdir: Path) -> Callable[[], object]:
    """`scripts/lookup_model.py --input scripts/sample_input.csv` for the champion, as `make predict` runs it."""
    import lookup_model

    registry = json.loads((workdir / "lookup" / "registry.json").read_text())
    argv = ["--tracking-uri", registry["tracking_uri"], "--name", registry["model_name"], "--input", str(SAMPLE_INPUT)]

    def call() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            code = lookup_model.main(argv)
        if code != 0:
            raise RuntimeError(f"lookup_model.py {' '.join(argv)} exited with {code}")

    return call


def _load_model_call(workdir: Path) -> Callable[[], object]:
    """What any service does with a known version: plain mlflow.pyfunc.load_model, then predict the same rows."""
    import mlflow
    import pandas as pd

    registry = json.loads((workdir / "lookup" / "registry.json").read_text())
    mlflow.set_tracking_uri(registry["tracking_uri"])
    uri = f"models:/{registry['model_name']}/{registry['version']}"
    return lambda: mlflow.pyfunc.load_model(uri).predict(pd.read_csv(SAMPLE_INPUT))


def _warm(make_call: Callable[[Path], Callable[[], object]]) -> Callable[[Path], dict[str, float]]:
    """Time a second call; the first one (imports, caches) is reported as imports."""

    def measure(workdir: Path) -> dict[str, float]:
        call, calls = make_call(workdir), []
        for _ in range(2):
            started = time.perf_counter()
            call()
            calls.append(time.perf_counter() - started)
        return result(calls[1], calls[0] - calls[1])

    return measure


FOREST_SIZES = (1000, 4000)  # trees: log_model's time should grow 4x between them, not 16x
CANDIDATES = ("logistic_regression", "extra_trees", "hist_gradient_boosting")  # the default candidates
TRAIN_STAGES = tuple(f"train_model[{name}]" for name in CANDIDATES)
STAGES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "dag_parse": dag_parse,
    "execution_api_start": execution_api_start,
    **{name: functools.partial(_task, name) for name in ("get_data", *TRAIN_STAGES, "persist_model")},
    "log_model": log_model,
    **{f"log_forest_{trees}": functools.partial(log_forest, trees) for trees in FOREST_SIZES},
    "lookup_registry": lookup_registry,
    "load_model": _warm(_load_model_call),
    "lookup": _warm(_lookup_call),
}

if __name__ == "__main__":
    print(json.dumps(STAGES[sys.argv[1]](Path(sys.argv[2]))))
