"""A scoring run's drift, for machines (drift.json, MLflow metrics named `drift.<statistic>.<variable>`) and for people
(report.html: which variables crossed a threshold, every variable's figures, and the most drifted features' shares
per bin, training against this run)."""

from __future__ import annotations

import base64
import html
import io
import itertools
from dataclasses import dataclass

import numpy as np

from ml_pipeline.data.profile import Histogram, Profile
from ml_pipeline.monitoring.drift import DriftResult, Statistics, coarse

PLOTTED = 6  # most drifted features drawn in the report


@dataclass(frozen=True)
class DriftReport:
    result: DriftResult
    files: dict[str, bytes]  # drift.json and report.html

    def metrics(self) -> dict[str, float]:
        """MLflow metrics: per feature PSI, the test's statistic, the missing and unseen shares; the predicted
        labels' PSI; how many variables crossed a threshold."""
        metrics = {"drift.variables_drifted": float(len(self.result.drifted))}
        for name, stat in self.result.features.items():
            metrics |= {f"drift.psi.{name}": stat.psi, f"drift.{stat.test}.{name}": stat.statistic,
                        f"drift.missing.{name}": stat.missing_current}  # fmt: skip
            if stat.kind == "categorical":
                metrics[f"drift.unseen.{name}"] = stat.unseen
        metrics["drift.psi.prediction"] = self.result.predictions.psi
        return {_metric_name(key): value for key, value in metrics.items()}


def _metric_name(name: str) -> str:
    """MLflow allows letters, digits, `_ - . / space` in metric names: anything else in a column name becomes `_`."""
    return "".join(char if char.isalnum() or char in "_-./ " else "_" for char in name)


def report(result: DriftResult, reference: Profile, current: Profile, title: str) -> DriftReport:
    page = _page(result, reference, current, title)
    return DriftReport(result, {"drift.json": result.model_dump_json(indent=1).encode(), "report.html": page.encode()})


def _page(result: DriftResult, reference: Profile, current: Profile, title: str) -> str:
    crossed = "; ".join(f"{html.escape(name)}: {html.escape(why)}" for name, why in result.drifted.items())
    verdict = (
        f"<p class=bad><b>Drift:</b> {crossed}" if crossed else "<p class=good><b>No drift</b> above the thresholds."
    )
    rows = [("prediction", result.predictions), *sorted(result.features.items(), key=lambda item: -item[1].psi)]
    table = "".join(_row(name, stat, name in result.drifted) for name, stat in rows)
    figure = _figure(result, reference, current)
    return f"""<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:70em}}
td,th{{padding:.2em .6em;text-align:right}}td:first-child,th:first-child{{text-align:left}}
.bad{{color:#b00020}}.good{{color:#1b5e20}}tr.bad td{{font-weight:600}}img{{max-width:100%}}</style>
<h1>{html.escape(title)}</h1>{verdict}
<img alt="training against this run, the most drifted features" src="data:image/png;base64,{figure}">
<table><tr><th>variable</th><th>kind</th><th>PSI</th><th>test</th><th>statistic</th><th>p-value</th>
<th>missing (training)</th><th>missing</th><th>unseen</th><th>rows</th></tr>{table}</table>
<p>PSI over the training data's deciles (categories: its most frequent values and "any other"); KS from its
percentile bins, chi-squared over categories. Thresholds and how to read them: docs/monitoring.md.</p>"""


def _row(name: str, stat: Statistics, drifted: bool) -> str:
    figures = [f"{stat.psi:.3f}", stat.test, f"{stat.statistic:.3g}", f"{stat.p_value:.2g}"]
    shares = [f"{stat.missing_reference:.1%}", f"{stat.missing_current:.1%}", f"{stat.unseen:.1%}", f"{stat.rows:,}"]
    cells = [html.escape(name), stat.kind, *figures, *shares]
    return f"<tr{' class=bad' if drifted else ''}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _shares(histogram: Histogram) -> tuple[list[str], np.ndarray]:
    counts = coarse(histogram) if histogram.kind == "numeric" else np.asarray(histogram.counts, dtype=float)
    if histogram.kind == "numeric":
        edges = histogram.coarse_edges
        inner = [f"{low:.4g}-{high:.4g}" for low, high in itertools.pairwise(edges)]
        labels = [f"<{edges[0]:.4g}", *inner, f">={edges[-1]:.4g}"] if edges else ["all"]
    else:
        labels = [*histogram.bins, "other"]
    return labels, counts / counts.sum() if counts.sum() else counts


def _figure(result: DriftResult, reference: Profile, current: Profile) -> str:
    """The most drifted features' shares per bin, training (grey) against this run (colour), as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(result.features, key=lambda name: -result.features[name].psi)[:PLOTTED]
    shown = [("prediction", reference.predictions, current.predictions)]
    shown += [(name, reference.features[name], current.features[name]) for name in names]
    figure, axes = plt.subplots(len(shown), 1, figsize=(9, 2.2 * len(shown)), squeeze=False)
    for axis, (name, before, now) in zip(axes[:, 0], shown, strict=True):
        labels, training = _shares(before)
        _, scored = _shares(now)
        positions = np.arange(len(labels))
        axis.bar(positions - 0.2, training, 0.4, color="#9e9e9e", label="training")
        axis.bar(positions + 0.2, scored, 0.4, color="#c62828" if name in result.drifted else "#1565c0",
                 label="this run")  # fmt: skip
        psi = result.predictions.psi if name == "prediction" else result.features[name].psi
        axis.set_title(f"{name}: PSI {psi:.3f}", fontsize=10, loc="left")
        axis.set_xticks(positions, labels, fontsize=7, rotation=30, ha="right")
        axis.tick_params(axis="y", labelsize=7)
    axes[0, 0].legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()
