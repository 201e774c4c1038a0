"""Live quality for people: each model version's gate metric per day on its labeled predictions (quality.png), the
pinned version's holdout score drawn across for comparison, and its MLflow metrics for machines."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from ml_pipeline.contract import DailyQuality

EPOCH_DAY = date(1970, 1, 1).toordinal()


def quality_metrics(days: list[DailyQuality], metric: str) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp in ms, step) per version and day: `live.<metric>.v<version>`, `live.accuracy...` and
    `live.rows...`, stamped with the day (step: days since 1970), so MLflow's charts draw them over time."""
    entries = []
    for row in days:
        day = date.fromisoformat(row["day"])
        stamp = int(datetime.combine(day, time(), UTC).timestamp() * 1000)
        step = day.toordinal() - EPOCH_DAY
        values = {metric: row["metrics"][metric], "accuracy": row["metrics"]["accuracy"], "rows": float(row["rows"])}
        entries += [(f"live.{name}.v{row['model_version']}", value, stamp, step) for name, value in values.items()]
    return entries


def quality_chart(days: list[DailyQuality], metric: str, version: str, holdout: float | None, first: date) -> bytes:
    """A PNG: one line per version over the window's days (from `first` to today), with the pinned version's holdout
    score as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num

    series: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for row in days:
        series[row["model_version"]].append((date.fromisoformat(row["day"]), row["metrics"][metric]))
    figure, axis = plt.subplots(figsize=(9, 3.2))
    for each, points in series.items():
        axis.plot(
            *zip(*points, strict=True), marker="o", label=f"v{each} live", linewidth=2.5 if each == version else 1
        )
    if holdout is not None:
        axis.axhline(holdout, color="#616161", linestyle="--", label=f"v{version} holdout")
    axis.set_title(f"Live {metric} per day, on predictions whose true label arrived", fontsize=10, loc="left")
    axis.tick_params(labelsize=8)
    axis.legend(fontsize=8)
    if not days:
        axis.text(0.5, 0.5, "no labeled predictions in the window yet", ha="center", transform=axis.transAxes)
    last = max([datetime.now(UTC).date(), *(day for points in series.values() for day, _ in points)])
    # The whole window, however few of its days have labels yet.
    axis.set_xlim(date2num(first - timedelta(days=1)), date2num(last + timedelta(days=1)))
    axis.margins(y=0.15)
    locator = AutoDateLocator(maxticks=8)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()
