"""`make bench`: DAG parse time, each task's time and peak memory, lookups and whole runs, against targets.

Targets come from MWAA: the DAG processor gives a file 30 s (dagbag_import_timeout) and re-parses it every ~30 s,
and an mw1.small worker has 2 GB for 5 concurrent tasks (about 400 MiB each). Ratios compare two measurements
taken in the same bench run, so they hold on any machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import whole_run
from stages import TRAIN_STAGES

STAGES_SCRIPT = Path(__file__).resolve().parent / "stages.py"

# name -> (seconds, MiB of max RSS); both are upper bounds
TARGETS = {
    "dag_parse": (0.5, 350),
    "get_data": (5.0, 400),
    **dict.fromkeys(TRAIN_STAGES, (5.0, 400)),
    "persist_model": (10.0, 400),
    "log_model": (1.0, None),
}
# name -> (baseline, largest ratio of the medians, whether missing it fails `make bench`)
RATIOS = {
    "lookup": ("load_model", 1.5, True),
    "train_mapped": ("train_sequential", 0.8, True),
    "make_run": ("plain_process", 1.5, False),  # upstream: docs/benchmarks.md, "What is left is upstream"
    "log_forest_4000": ("log_forest_1000", 4.5, True),  # 4x the trees: linear is at most 4x (less with overheads)
}
# Shown for what they explain, without a target.
INFORMATION = ("execution_api_start",)
STAGE_ORDER = ("dag_parse", "execution_api_start", "get_data", *TRAIN_STAGES, "persist_model", "log_model",
               "log_forest_1000", "log_forest_4000", "load_model", "lookup")  # fmt: skip


def stage_command(name: str, workdir: Path) -> list[str]:
    return [sys.executable, str(STAGES_SCRIPT), name, str(workdir)]


def in_fresh_interpreter(name: str, workdir: Path) -> dict[str, float]:
    output = subprocess.run(stage_command(name, workdir), capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def training(workdir: Path, side_by_side: bool) -> dict[str, float]:
    """The three candidates' train_model processes, side by side as mapped instances on free worker slots, or
    one after another; wall time from the first start to the last exit."""
    started = time.perf_counter()
    if side_by_side:
        processes = [subprocess.Popen(stage_command(name, workdir), stdout=subprocess.DEVNULL) for name in TRAIN_STAGES]
        if any(process.wait() for process in processes):
            raise RuntimeError("a train_model process failed")
    else:
        for name in TRAIN_STAGES:
            subprocess.run(stage_command(name, workdir), stdout=subprocess.DEVNULL, check=True)
    return {"seconds": time.perf_counter() - started, "rss_mib": float("nan"), "import_seconds": float("nan")}


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in ("seconds", "rss_mib", "import_seconds")}


def row(name: str, measured: dict[str, float], target: str, status: str) -> str:
    rss, imports = measured["rss_mib"], measured["import_seconds"]
    rss_cell = "-" if rss != rss else f"{rss:.0f} MiB"
    imports_cell = "-" if imports != imports else f"{imports:.2f} s"
    return f"| {name} | {measured['seconds']:.2f} s | {imports_cell} | {rss_cell} | {target} | {status} |"


def collect(repeat: int, whole_runs: int) -> dict[str, dict[str, float]]:
    names = (*STAGE_ORDER, "train_sequential", "train_mapped", *whole_run.COMMANDS)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        in_fresh_interpreter("lookup_registry", workdir)
        for _ in range(repeat):
            for name in STAGE_ORDER:
                samples[name].append(in_fresh_interpreter(name, workdir))
            samples["train_sequential"].append(training(workdir, side_by_side=False))
            samples["train_mapped"].append(training(workdir, side_by_side=True))
        whole_run.prepare(workdir)
        for _ in range(whole_runs):
            for name in whole_run.COMMANDS:  # alternately, so load changes hit both alike
                samples[name].append(whole_run.measure(workdir, name))
    return {name: medians(runs) for name, runs in samples.items() if runs}


def report(measured: dict[str, dict[str, float]]) -> tuple[list[str], list[str]]:
    rows, missed = [], []
    for name, (max_seconds, max_mib) in TARGETS.items():
        ok = measured[name]["seconds"] <= max_seconds and (max_mib is None or measured[name]["rss_mib"] <= max_mib)
        missed += [] if ok else [name]
        target = f"<= {max_seconds:g} s" + (f", <= {max_mib} MiB" if max_mib else "")
        rows.append(row(name, measured[name], target, "ok" if ok else "MISSED"))
    for name in INFORMATION:
        rows.append(row(name, measured[name], "no target: Airflow's own start-up cost", "-"))
    for name, (baseline, max_ratio, enforced) in RATIOS.items():
        ratio = measured[name]["seconds"] / measured[baseline]["seconds"]
        ok = ratio <= max_ratio
        missed += [] if ok or not enforced else [name]
        rows.append(row(baseline, measured[baseline], f"baseline for {name}", "-"))
        status = "ok" if ok else ("MISSED" if enforced else "goal missed")
        rows.append(row(name, measured[name], f"<= {max_ratio:g}x {baseline} (now {ratio:.2f}x)", status))
    return rows, missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--whole-runs", type=int, default=3, help="whole runs of each kind (make_run, plain_process)")
    args = parser.parse_args()
    rows, missed = report(collect(args.repeat, args.whole_runs))
    print("| measurement | time (median) | imports | peak RSS | target | |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    if missed:
        print(f"\nmissed targets: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
