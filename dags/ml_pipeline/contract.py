"""What the tasks hand each other through XCom, and the names the DAG, scripts, tests and bench share.

XCom carries only these small, typed references and facts; data and models travel through the artifact store.
"""

from __future__ import annotations

from typing import TypedDict

FEATURES = (
    "alcohol",
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "color_intensity",
    "hue",
    "od280/od315_of_diluted_wines",
    "proline",
)
TARGET = "target"
BUNDLED_SOURCE = "sklearn:wine"

# Holdout metrics every model is scored with; the gate compares one of them (configuration `gate_metric`).
METRICS = ("accuracy", "f1_macro")

# Registry aliases.
CHAMPION = "champion"
CHALLENGER = "challenger"

# Tags on MLflow runs and model versions.
TAG_DAG_ID = "airflow_dag_id"
TAG_RUN_ID = "airflow_run_id"
TAG_DATA_HASH = "data_hash"
TAG_FINGERPRINT = "fingerprint"
TAG_GATE = "gate"
TAG_HOLDOUT = "holdout."  # prefix: holdout.accuracy, holdout.f1_macro, as scored by the gate


class DatasetSnapshot(TypedDict):
    """get_data's output: where the split lives and what it was made from."""

    source: str
    data_hash: str
    rows: int
    train_rows: int
    holdout_rows: int
    classes: list[str]
    test_size: float
    random_seed: int
    train_uri: str
    holdout_uri: str


class TrainingResult(TypedDict):
    """train_model's output: the fitted model's location, its settings and their fingerprint."""

    model_uri: str
    evaluation_uri: str
    classifier: str
    params: dict[str, str | int | float | bool]
    metrics: dict[str, float]
    fingerprint: str


class PersistResult(TypedDict):
    """persist_model's output: the registered version and the gate's decision about it."""

    model_name: str
    version: str
    mlflow_run_id: str
    reused: bool
    metrics: dict[str, float]
    alias: str
    promoted: bool
    reason: str
    previous_champion: str | None
    champion_score: float | None
