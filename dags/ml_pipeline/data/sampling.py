"""A source larger than `max_training_rows` is sampled as it streams past, stratified by label, so one worker never
holds more than 1.5 times the limit (plus a batch), and the same source and seed always give the same sample.

Each row draws a random key from the seeded generator in source order; the sample is, per label, the rows with the
smallest keys, as many as the label's share of all rows (at least two, so a rare class can still be split). Rows
whose key cannot make the sample any more are dropped as they are read.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

SLACK = 1.25  # rows kept while reading, per row of the limit: enough that every label's quota is met
COMPACT_AT = 1.5  # kept rows per row of the limit that start a compaction down to SLACK
MIN_PER_LABEL = 50  # a rare label keeps at least this many candidates whatever the keys


class StratifiedSample:
    def __init__(self, limit: int, seed: int, target: str) -> None:
        self.limit, self.target = limit, target
        self.seen: Counter[object] = Counter()  # rows per label in the whole source
        self._random = np.random.default_rng(seed)
        self._kept: list[pd.DataFrame] = []  # in source order
        self._keys: list[np.ndarray] = []  # each kept row's key
        self._kept_per_label: Counter[object] = Counter()
        self._cut = np.inf  # keys at or above it are beyond the sample

    @property
    def rows_seen(self) -> int:
        return sum(self.seen.values())

    def add(self, batch: pd.DataFrame) -> None:
        keys = self._random.random(len(batch))
        labels = batch[self.target]
        self.seen.update(labels.value_counts().to_dict())
        keep = keys < self._cut
        if np.isfinite(self._cut):  # labels still short of candidates keep every row
            short = [label for label in self.seen if self._kept_per_label[label] < MIN_PER_LABEL]
            keep |= labels.isin(short).to_numpy()
        if not keep.all():  # until the sample is full every row is kept, and not copied
            batch, keys = batch[keep], keys[keep]
        self._kept.append(batch)
        self._keys.append(keys)
        self._kept_per_label.update(batch[self.target].value_counts().to_dict())
        if self._kept_per_label.total() > COMPACT_AT * self.limit:
            self._compact()

    def _joined(self) -> tuple[pd.DataFrame, np.ndarray]:
        frame = self._kept[0] if len(self._kept) == 1 else pd.concat(self._kept)
        keys = np.concatenate(self._keys)
        self._kept, self._keys = [], []
        return frame, keys

    def _place_in_label(self, frame: pd.DataFrame, keys: np.ndarray) -> np.ndarray:
        """Each row's rank among the rows of its label, by key: rows in source order, ranks in key order."""
        order = np.argsort(keys, kind="stable")
        labels = pd.Series(frame[self.target].to_numpy()[order])
        ranks = labels.groupby(labels, sort=False).cumcount().to_numpy()
        place = np.empty(len(keys), dtype=ranks.dtype)
        place[order] = ranks
        return place

    def _compact(self) -> None:
        frame, keys = self._joined()
        room = int(SLACK * self.limit)
        self._cut = np.partition(keys, room)[room]
        keep = (keys < self._cut) | (self._place_in_label(frame, keys) < MIN_PER_LABEL)
        self._kept, self._keys = [frame[keep]], [keys[keep]]
        self._kept_per_label = Counter(self._kept[0][self.target].value_counts().to_dict())

    def quotas(self) -> dict[object, int]:
        """Rows per label in the sample: proportional to the source, largest remainders first, at least two."""
        total = self.rows_seen
        exact = {label: self.limit * count / total for label, count in self.seen.items()}
        quotas = {label: min(self.seen[label], max(2, int(share))) for label, share in exact.items()}
        by_remainder = sorted(exact, key=lambda label: exact[label] - int(exact[label]), reverse=True)
        for label in by_remainder[: max(0, self.limit - sum(quotas.values()))]:
            quotas[label] = min(self.seen[label], quotas[label] + 1)
        return quotas

    def result(self) -> pd.DataFrame:
        """Every row when the source fits the limit; else the sample, in source order."""
        if not self._kept:
            return pd.DataFrame()
        frame, keys = self._joined()
        if self.rows_seen <= self.limit:
            return frame
        chosen = self._place_in_label(frame, keys) < frame[self.target].map(self.quotas()).to_numpy()
        return frame[chosen]
