"""Small tables of other shapes than Wine's, made here so tests do not depend on a download: mixed kinds of columns,
missing values and text labels, and the data sets scikit-learn ships."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import datasets


def mixed(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Numeric (with gaps), integer, text (with gaps), boolean and code columns, and a text label they predict."""
    rng = np.random.default_rng(seed)
    age = rng.normal(45, 12, rows).round(1)
    city = rng.choice(["paris", "lyon", "nice", "lille", "brest"], rows, p=[0.4, 0.25, 0.2, 0.1, 0.05])
    member = rng.random(rows) < 0.4
    visits = rng.poisson(3, rows)
    score = 0.05 * (age - 45) + 1.2 * member + 0.4 * visits - 1.5 + 0.8 * (city == "paris") + rng.normal(0, 1, rows)
    frame = pd.DataFrame({"age": age, "visits": visits, "city": city, "member": member,
                          "store_code": rng.choice([101, 102, 205], rows)})  # fmt: skip
    frame["churn"] = np.where(score > 0.5, "stays", "leaves")
    frame.loc[rng.random(rows) < 0.1, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "city"] = None
    return frame


def bundled(name: str) -> pd.DataFrame:
    """One of scikit-learn's bundled data sets as a frame with its label in `target` (text labels where it has
    names for them)."""
    loaded = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = loaded.frame.copy()
    frame.columns = [str(column) for column in frame.columns]
    if name in ("iris", "breast_cancer"):
        frame["target"] = np.asarray(loaded.target_names)[loaded.target]
    return frame


def segmented(segments: int = 6, rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """`rows` rows per store, each store with its own rule for the label (opposite weights in half of them), so a
    model per store beats one model of all stores; a few rows have no store."""
    rng = np.random.default_rng(seed)
    frames = []
    for number in range(segments):
        weights = rng.normal(0, 1, 3) * (1 if number % 2 else -1) + np.array([2, 0, 0]) * (1 if number % 2 else -1)
        x = rng.normal(0, 1, (rows, 3))
        channel = rng.choice(["web", "shop", "phone"], rows)
        logit = x @ weights + 0.7 * (channel == "web") + rng.normal(0, 0.5, rows)
        label = np.where(logit > 0, "yes", "no")
        frames.append(pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "channel": channel,
                                    "store": f"store {number:02d}", "bought": label}))  # fmt: skip
    frame = pd.concat(frames, ignore_index=True).sample(frac=1, random_state=seed).reset_index(drop=True)
    frame.loc[frame.sample(n=max(1, len(frame) // 200), random_state=seed).index, "store"] = None
    return frame
