"""The model `models:/<model_name>@champion` is when segment_column is set: each row goes to its segment's champion,
or to the fallback (trained on every row) when its segment has none. MLflow loads it as a pyfunc loader module
(`_load_pyfunc`), and it is shipped inside each router version, so it imports only numpy, pandas and mlflow.

The routing table (routing.json) names every model by registered name and version and by the location of its files,
which are loaded from there, lazily, at most `ROUTER_CACHE_MODELS` at a time: a service loads only the segments it
is asked about, and nothing but the artifact store is needed to do so.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROUTING_FILE = "routing.json"
CACHE_MODELS = int(os.environ.get("ROUTER_CACHE_MODELS", "1000"))


class Router:
    """A scikit-learn-like classifier (`classes_`, `predict_proba`, `predict`) over the segment models, which also
    says which model scored each row (`route`)."""

    def __init__(self, table: dict[str, Any], cache_models: int = CACHE_MODELS) -> None:
        self.segment_column: str = table["segment_column"]
        self.fallback: dict[str, str] = table["fallback"]
        self.segments: dict[str, dict[str, str]] = table["segments"]
        self.classes_ = np.asarray(table["labels"])
        self.loads = 0  # models loaded so far: each segment once, while the cache holds it
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_models = max(1, cache_models)
        self._lock = threading.Lock()

    def entries(self, rows: pd.DataFrame) -> list[tuple[dict[str, str], np.ndarray]]:
        """The model entry of each group of rows, with those rows' positions: one entry per segment present."""
        codes, values = pd.factorize(rows[self.segment_column].astype(object), use_na_sentinel=True)
        found = [self.segments.get(str(value), self.fallback) for value in values]
        by_location: dict[str, tuple[dict[str, str], list[np.ndarray]]] = {}
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(-1, len(values) + 1))
        for code in range(-1, len(values)):
            positions = order[bounds[code + 1] : bounds[code + 2]]
            entry = self.fallback if code < 0 else found[code]
            if len(positions):
                by_location.setdefault(entry["location"], (entry, []))[1].append(positions)
        return [(entry, np.sort(np.concatenate(parts))) for entry, parts in by_location.values()]

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        probabilities = np.zeros((len(rows), len(self.classes_)))
        for entry, positions in self.entries(rows):
            model = self._model(entry["location"])
            probabilities[positions] = _aligned(model, rows.iloc[positions], self.classes_.tolist())
        return probabilities

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return self.classes_[self.predict_proba(rows).argmax(axis=1)]

    def route(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each row's registered model name and version."""
        names, versions = np.empty(len(rows), dtype=object), np.empty(len(rows), dtype=object)
        for entry, positions in self.entries(rows):
            names[positions], versions[positions] = entry["model"], entry["version"]
        return names, versions

    def _model(self, location: str) -> Any:
        with self._lock:
            if location in self._cache:
                self._cache.move_to_end(location)
                return self._cache[location]
        import mlflow

        # Its requirements are the router's (both pinned by the same pipeline): loading the router checked them once.
        model = mlflow.pyfunc.load_model(location, suppress_warnings=True).get_raw_model()
        with self._lock:
            self.loads += 1
            self._cache[location] = model
            while len(self._cache) > self._cache_models:
                self._cache.popitem(last=False)
        return model


def _aligned(model: Any, rows: pd.DataFrame, labels: list[Any]) -> np.ndarray:
    """predict_proba with one column per label; a label the segment's model never saw gets probability 0 (as
    training/metrics.aligned_probabilities, which this module cannot import)."""
    probabilities = model.predict_proba(rows)
    position = {label: index for index, label in enumerate(model.classes_.tolist())}
    aligned = np.zeros((len(rows), len(labels)))
    for column, label in enumerate(labels):
        if label in position:
            aligned[:, column] = probabilities[:, position[label]]
    return aligned


class RouterPyfunc:
    """What `mlflow.pyfunc.load_model` wraps: `get_raw_model()` gives the Router, as a scikit-learn version gives its
    estimator, so batch scoring, the lookup and the model server use it unchanged."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def get_raw_model(self) -> Router:
        return self.router

    def predict(self, rows: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        names, versions = self.router.route(rows)
        return pd.DataFrame(
            {"prediction": self.router.predict(rows), "segment_model": names, "segment_version": versions},
            index=rows.index,
        )


def read_table(path: str) -> dict[str, Any]:
    folder = Path(path)
    return json.loads((folder / ROUTING_FILE if folder.is_dir() else folder).read_text())


def _load_pyfunc(path: str) -> RouterPyfunc:
    return RouterPyfunc(Router(read_table(path)))
