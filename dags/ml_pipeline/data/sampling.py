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

KEY = "__sample_key"
SLACK = 1.25  # rows kept while reading, per row of the limit: enough that every label's quota is met
COMPACT_AT = 1.5  # kept rows per row of the limit that start a compaction down to SLACK
MIN_PER_LABEL = 50  # a rare label keeps at least this many candidates whatever the keys


class StratifiedSample:
    def __init__(self, limit: int, seed: int, target: str) -> None:
        self.limit, self.target = limit, target
        self.seen: Counter[object] = Counter()  # rows per label in the whole source
        self._random = np.random.default_rng(seed)
        self._kept: list[pd.DataFrame] = []
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
        kept = batch[keep].assign(**{KEY: keys[keep]})
        self._kept.append(kept)
        self._kept_per_label.update(kept[self.target].value_counts().to_dict())
        if self._kept_per_label.total() > COMPACT_AT * self.limit:
            self._compact()

    def _compact(self) -> None:
        frame = pd.concat(self._kept).sort_values(KEY, kind="stable")
        place_in_label = frame.groupby(self.target, sort=False).cumcount().to_numpy()
        room = int(SLACK * self.limit)
        self._cut = frame[KEY].iloc[room]
        frame = frame[(np.arange(len(frame)) < room) | (place_in_label < MIN_PER_LABEL)]
        self._kept, self._kept_per_label = [frame], Counter(frame[self.target].value_counts().to_dict())

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
        frame = pd.concat(self._kept) if self._kept else pd.DataFrame()
        self._kept = []
        if self.rows_seen <= self.limit:
            return frame.drop(columns=KEY)
        quotas = self.quotas()
        frame = frame.sort_values(KEY, kind="stable")
        place_in_label = frame.groupby(self.target, sort=False).cumcount()
        chosen = place_in_label < frame[self.target].map(quotas)
        return frame[chosen.to_numpy()].sort_index().drop(columns=KEY)
