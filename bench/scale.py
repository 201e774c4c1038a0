"""`make bench-scale`: the whole pipeline on 10^4, 10^5 and 10^6 rows of mixed-type synthetic data, each task in its
own process as on a worker (the candidates side by side, as mapped instances on free worker slots).

The data is scripts/synthetic_table.py's with its defaults: 50 feature columns, 10 of them categorical (a boolean and
text ones of 3 to 200 levels), values missing in a third of the columns and an imbalanced text label in column
`label` (the run's target_column), written as Parquet parts of 250,000 rows. The largest size is max_training_rows'
default, so every row is trained on: none is sampled away.

Prints seconds and peak RSS per task and per candidate, and rows per second. Goals, at the largest size: every
task's peak RSS at most 1.5 GiB (1536 MiB) and the whole run at most 10 minutes; and time that grows about linearly
with rows (at most 15x for 10x the rows). Exits 1 when a goal is missed; the tasks' own output goes to
.local/bench-scale.log.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import stage_command
from stages import TRAIN_STAGES

SIZES = (10_000, 100_000, 1_000_000)
COLUMNS, CATEGORICAL = 50, 10  # synthetic_table.py's defaults
PART_ROWS = 250_000
SETTINGS = {"target_column": "label"}  # synthetic_table.TARGET; to every task, as BENCH_SETTINGS
MAX_RSS_MIB = 1536
MAX_WHOLE_RUN_SECONDS = 600
MAX_GROWTH_PER_10X = 15.0  # linear is 10x; fixed costs (imports, MLflow) make small sizes relatively slower
STEPS = ("get_data", "train_model (mapped)", "persist_model", "whole run")


LOG = Path(__file__).resolve().parent.parent / ".local" / "bench-scale.log"


def _start(name: str, workdir: Path, source: Path) -> subprocess.Popen[str]:
    env = os.environ | {"BENCH_SOURCE": str(source), "BENCH_SETTINGS": json.dumps(SETTINGS)}
    with LOG.open("a") as log:  # the tasks' own output (MLflow's messages, warnings) goes to the log
        log.write(f"--- {name} on {source}\n")
        log.flush()
        process = subprocess.Popen(stage_command(name, workdir), env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    return process


def _finish(name: str, process: subprocess.Popen[str]) -> dict[str, float]:
    """The task's own time (its imports included), as the process measured it, and its peak RSS."""
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{name} exited with {process.returncode}; see {LOG}")
    measured = json.loads(output.strip().splitlines()[-1])
    return {"seconds": measured["import_seconds"] + measured["seconds"], "rss_mib": measured["rss_mib"]}


def pipeline(rows: int, workdir: Path) -> dict[str, dict[str, float]]:
    """One run on `rows` synthetic rows (a folder of Parquet parts); each task's and candidate's figures."""
    import synthetic_table  # from scripts/, which importing stages put on the path

    source = synthetic_table.write(
        rows, workdir / "source", parts=max(1, rows // PART_ROWS), columns=COLUMNS, categorical=CATEGORICAL
    )
    started = time.perf_counter()
    measured = {"get_data": _finish("get_data", _start("get_data", workdir, source))}
    training_started = time.perf_counter()
    running = {name: _start(name, workdir, source) for name in TRAIN_STAGES}
    measured |= {name: _finish(name, process) for name, process in running.items()}
    training = [measured[name] for name in TRAIN_STAGES]
    measured["train_model (mapped)"] = {
        "seconds": time.perf_counter() - training_started, "rss_mib": max(m["rss_mib"] for m in training),
    }  # fmt: skip
    measured["persist_model"] = _finish("persist_model", _start("persist_model", workdir, source))
    measured["whole run"] = {
        "seconds": time.perf_counter() - started, "rss_mib": max(m["rss_mib"] for m in measured.values()),
    }  # fmt: skip
    return measured


def table(results: dict[int, dict[str, dict[str, float]]]) -> list[str]:
    sizes = list(results)
    lines = [
        "| step | " + " | ".join(f"{rows:,} rows" for rows in sizes) + " | rows/s at the largest |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    for name in (*STEPS[:1], *TRAIN_STAGES, *STEPS[1:]):
        cells = [f"{results[rows][name]['seconds']:.1f} s, {results[rows][name]['rss_mib']:.0f} MiB" for rows in sizes]
        throughput = sizes[-1] / results[sizes[-1]][name]["seconds"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {throughput:,.0f} |")
    return lines


def missed_goals(results: dict[int, dict[str, dict[str, float]]]) -> list[str]:
    sizes, missed = list(results), []
    largest = results[sizes[-1]]
    missed += [f"{name} peaks at {m['rss_mib']:.0f} MiB (goal <= {MAX_RSS_MIB} MiB)"
               for name, m in largest.items() if m["rss_mib"] > MAX_RSS_MIB]  # fmt: skip
    if (seconds := largest["whole run"]["seconds"]) > MAX_WHOLE_RUN_SECONDS:
        missed.append(f"the whole run takes {seconds:.0f} s (goal <= {MAX_WHOLE_RUN_SECONDS} s)")
    for smaller, larger in itertools.pairwise(sizes):
        factor = (larger / smaller) / 10
        for name in STEPS:
            growth = results[larger][name]["seconds"] / results[smaller][name]["seconds"]
            if growth > MAX_GROWTH_PER_10X * factor:
                missed.append(
                    f"{name} grows {growth:.1f}x from {smaller:,} to {larger:,} rows "
                    f"(goal <= {MAX_GROWTH_PER_10X:g}x per 10x)"
                )
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="row counts, smallest first")
    args = parser.parse_args()
    LOG.parent.mkdir(exist_ok=True)
    LOG.write_text("")
    results = {}
    for rows in args.sizes:
        print(f"running the pipeline on {rows:,} rows ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            results[rows] = pipeline(rows, Path(tmp))
    print("\n".join(table(results)))
    print(f"\ntasks' own output: {LOG.relative_to(Path.cwd()) if LOG.is_relative_to(Path.cwd()) else LOG}")
    missed = missed_goals(results)
    for line in missed:
        print(f"missed: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
