"""`make bench-segments`: one model per segment trained three ways on the same generated table, side by side.

- sequential: the airflow engine's split and training functions in one process, one segment after another
  (what a plain script does; the baseline);
- airflow: plan_segments, then the train_segments groups as separate processes, SLOTS at a time (mapped instances
  on free worker slots);
- spark: plan_segments with segment_engine spark: `groupBy(segment).applyInPandas` in local Spark (all cores).

The table has SEGMENTS x ROWS rows (tests/tables.py's shape: each store with its own rule for the label), one
candidate (logistic_regression) per segment. get_data runs once per size, outside the comparison; registering in
MLflow (persist_segments) is the same for every engine and is left out. Memory is sampled from each process tree:
the largest process, and the largest process that trains (Spark's Python workers; the airflow engine's
train_segments steps; the sequential process itself).

Goals: at 1,000 segments Spark takes at most half the sequential time; its Python workers' peak does not grow with
the table (at most 1.25x from 1,000 to 10,000 segments); 10,000 segments complete. Exits 1 when a goal is missed.
The steps' own output goes to .local/bench-segments.log.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

REPO = Path(__file__).resolve().parent.parent
WORKER = REPO / "bench" / "segments_worker.py"
LOG = REPO / ".local" / "bench-segments.log"
SEGMENT_COUNTS, LARGE, ROWS = (10, 100, 1000), 10_000, 1000
SLOTS = os.cpu_count() or 2
SETTINGS = {"target_column": "bought", "segment_column": "store", "classifier": "logistic_regression",
            "max_training_rows": 100_000_000, "max_segments": 20_000, "segment_worker_slots": SLOTS}  # fmt: skip
WAYS = ("sequential", "airflow", "spark")
MAX_SPARK_RATIO, MAX_WORKER_GROWTH = 0.5, 1.25


def table(segments: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` rows per store; each store's label follows its own weights (opposite signs in half of them)."""
    rng = np.random.default_rng(seed)
    sign = np.where(np.arange(segments) % 2 == 1, 1.0, -1.0)[:, None]
    weights = (rng.normal(0, 1, (segments, 3)) + np.array([2.0, 0, 0])) * sign
    x = rng.normal(0, 1, (segments, rows, 3))
    channel = rng.choice(np.array(["web", "shop", "phone"]), (segments, rows))
    logit = np.einsum("srf,sf->sr", x, weights) + 0.7 * (channel == "web") + rng.normal(0, 0.5, (segments, rows))
    store = np.repeat(np.array([f"store {number:05d}" for number in range(segments)]), rows)
    label = np.where(logit > 0, "yes", "no")
    return pd.DataFrame({"x1": x[..., 0].ravel(), "x2": x[..., 1].ravel(), "x3": x[..., 2].ravel(),
                         "channel": channel.ravel(), "store": store, "bought": label.ravel()})  # fmt: skip


@dataclass
class Measured:
    seconds: float
    largest_mib: float  # the largest process of the tree at its peak (a step that holds the table, Spark's JVM)
    trainer_mib: float  # the largest process that trains models: Spark's Python workers, or the training step
    largest_is: str = ""  # what the largest process runs
    models: int = 0


class TreeMemory(threading.Thread):
    """Samples the RSS of a process and all its descendants until it exits; `trainers` marks the command lines of the
    processes that train (None: the process itself)."""

    def __init__(self, pid: int, trainers: str | None) -> None:
        super().__init__(daemon=True)
        self.root, self.trainers, self.largest, self.trainer = psutil.Process(pid), trainers, 0.0, 0.0
        self.largest_is = ""

    def run(self) -> None:
        while True:
            try:
                if self.root.status() == psutil.STATUS_ZOMBIE:
                    return
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return  # it has ended and been waited for
            for process in tree:
                try:
                    rss, command = process.memory_info().rss / 2**20, process.cmdline()
                except psutil.Error:
                    continue  # it ended between the listing and the reading
                trains = self.trainers in " ".join(command) if self.trainers else process == self.root
                if rss > self.largest:
                    self.largest, self.largest_is = rss, program(command)
                self.trainer = max(self.trainer, rss) if trains else self.trainer
            time.sleep(0.2)


def program(command: list[str]) -> str:
    """A process's program as people know it: java, pyspark.daemon, segments_worker.py plan, train_segments.py."""
    words = [str(word) for word in command]
    if words and Path(words[0]).name == "java":
        return "Spark's JVM"
    if "-m" in words:
        return words[words.index("-m") + 1]
    scripts = [index for index, word in enumerate(words) if word.endswith(".py")]
    if not scripts:
        return Path(words[0]).name if words else "?"
    script = Path(words[scripts[0]]).name
    return f"{script} {words[scripts[0] + 1]}" if script == WORKER.name else script


def start(
    step: str, root: Path, *arguments: str, trainers: str | None = None
) -> tuple[subprocess.Popen[str], TreeMemory]:
    with LOG.open("a") as log:
        log.write(f"--- {step} {root} {' '.join(arguments)}\n")
        log.flush()
        process = subprocess.Popen([sys.executable, str(WORKER), step, str(root), *arguments],
                                   stdout=subprocess.PIPE, stderr=log, text=True)  # fmt: skip
    memory = TreeMemory(process.pid, trainers)
    memory.start()
    return process, memory


def finish(process: subprocess.Popen[str], memory: TreeMemory) -> Measured:
    output, _ = process.communicate()
    memory.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, process.args[2:4]))} exited with {process.returncode}; see {LOG}")
    measured = json.loads(output.strip().splitlines()[-1])
    trainer = memory.trainer if memory.trainers else max(memory.trainer, measured["rss_mib"])
    largest_is = memory.largest_is if memory.largest >= measured["rss_mib"] else program(list(process.args))
    return Measured(measured["seconds"], max(memory.largest, measured["rss_mib"]), trainer, largest_is)


def in_parallel(root: Path, steps: list[tuple[str, ...]], slots: int) -> Measured:
    """The steps, at most `slots` at a time, as mapped instances on free worker slots; the wall time of all."""
    started, waiting = time.perf_counter(), list(steps)
    running: list[tuple[subprocess.Popen[str], TreeMemory]] = []
    done: list[Measured] = []
    while waiting or running:
        while waiting and len(running) < slots:
            step, *arguments = waiting.pop(0)
            running.append(start(step, root, *arguments))
        ended = [entry for entry in running if entry[0].poll() is not None]
        for entry in ended:
            running.remove(entry)
            done.append(finish(*entry))
        time.sleep(0 if ended else 0.1)
    largest = max(done, key=lambda step: step.largest_mib)
    trainer = max(step.trainer_mib for step in done)
    return Measured(time.perf_counter() - started, largest.largest_mib, trainer, largest.largest_is)


def train(way: str, root: Path) -> Measured:
    if way == "sequential":
        measured = finish(*start("sequential", root))
    elif way == "spark":
        measured = finish(*start("plan", root, "spark", "1024", trainers="pyspark.daemon"))
    else:
        plan = finish(*start("plan", root, "airflow", "1024"))
        groups = json.loads((root / "airflow" / "groups.json").read_text())["groups"]
        trained = in_parallel(root, [("train", "airflow", str(index)) for index in range(len(groups))], SLOTS)
        largest = max(plan, trained, key=lambda step: step.largest_mib)
        seconds = plan.seconds + trained.seconds
        measured = Measured(seconds, largest.largest_mib, trained.trainer_mib, largest.largest_is)
    measured.models = models_trained(root / way)
    return measured


def models_trained(run: Path) -> int:
    results = [json.loads(path.read_text()) for path in (run / "segments" / "_results").glob("group-*.json")]
    return sum(len(trained["trainings"]) for group in results for trained in group)


def prepare(segments: int, rows: int, workdir: Path) -> Path:
    root = workdir / f"{segments}-segments"
    root.mkdir()
    table(segments, rows).to_parquet(root / "table.parquet", index=False)
    (root / "settings.json").write_text(json.dumps(SETTINGS | {"source_uri": str(root / "table.parquet")}))
    seconds = finish(*start("get_data", root)).seconds
    print(f"{segments:>6,} segments x {rows:,} rows: get_data {seconds:.1f} s", flush=True)
    return root


def bench(
    segment_counts: list[int], large: int, rows: int, ways: list[str], workdir: Path
) -> dict[int, dict[str, Measured]]:
    results: dict[int, dict[str, Measured]] = {}
    for segments in [*segment_counts, *([large] if large else [])]:
        root = prepare(segments, rows, workdir)
        results[segments] = {}
        for way in ("spark",) if segments == large else ways:
            measured = results[segments][way] = train(way, root)
            if measured.models != segments:
                raise RuntimeError(f"{way} trained {measured.models} of {segments} segments; see {LOG}")
            print(f"  {way:<10} {measured.seconds:8.1f} s  {1000 * measured.seconds / segments:7.1f} ms/model  "
                  f"largest process {measured.largest_mib:6.0f} MiB ({measured.largest_is})  "
                  f"trainer {measured.trainer_mib:5.0f} MiB",
                  flush=True)  # fmt: skip
    return results


def crossover(results: dict[int, dict[str, Measured]], way: str) -> str:
    """Where `way` starts to beat sequential: the segment count at which their straight-line times meet."""
    counts = sorted(count for count in results if len(results[count]) == len(WAYS))
    fits = {name: np.polyfit(counts, [results[count][name].seconds for count in counts], 1)
            for name in (way, "sequential")}  # fmt: skip
    (slope, fixed), (base_slope, base_fixed) = fits[way], fits["sequential"]
    if slope >= base_slope:
        return f"{way} never catches up with sequential (per model {slope * 1000:.0f} ms vs {base_slope * 1000:.0f})"
    return f"{way} beats sequential from about {max(0.0, (fixed - base_fixed) / (base_slope - slope)):,.0f} segments"


def report(results: dict[int, dict[str, Measured]], compared: int, large: int) -> int:
    print("\nsegments | way | wall | per model | vs sequential | largest process | largest trainer")
    print("---|---|---|---|---|---|---")
    for segments, ways in results.items():
        for way, measured in ways.items():
            base = ways.get("sequential")
            against = f"{measured.seconds / base.seconds:.2f}x" if base else "-"
            print(f"{segments:,} | {way} | {measured.seconds:.1f} s | {1000 * measured.seconds / segments:.1f} ms | "
                  f"{against} | {measured.largest_mib:.0f} MiB ({measured.largest_is}) | "
                  f"{measured.trainer_mib:.0f} MiB")  # fmt: skip
    missed = 0
    if len([count for count in results if len(results[count]) == len(WAYS)]) >= 2:
        print("\n" + crossover(results, "spark") + "; " + crossover(results, "airflow"))
    if {"spark", "sequential"} <= set(results[compared]):
        ratio = results[compared]["spark"].seconds / results[compared]["sequential"].seconds
        missed += goal(f"spark at {compared:,} segments <= {MAX_SPARK_RATIO}x sequential", ratio <= MAX_SPARK_RATIO,
                       f"{ratio:.2f}x")  # fmt: skip
    if large in results and "spark" in results[compared]:
        growth = results[large]["spark"].trainer_mib / results[compared]["spark"].trainer_mib
        missed += goal(f"Spark's Python workers' peak, {compared:,} -> {large:,} segments <= {MAX_WORKER_GROWTH}x",
                       growth <= MAX_WORKER_GROWTH, f"{growth:.2f}x")  # fmt: skip
        print(f"{large:,} segments on spark: completed in {results[large]['spark'].seconds:.0f} s")
    return 1 if missed else 0


def goal(name: str, met: bool, now: str) -> int:
    print(f"{name}: {now} {'ok' if met else 'goal missed'}")
    return 0 if met else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", default=",".join(map(str, SEGMENT_COUNTS)), help="segment counts, all ways")
    parser.add_argument("--large", type=int, default=LARGE, help="a count for spark alone (0: none)")
    parser.add_argument("--rows", type=int, default=ROWS, help="rows per segment")
    parser.add_argument("--ways", default=",".join(WAYS), help="which of sequential,airflow,spark (for --segments)")
    args = parser.parse_args(argv)
    counts = [int(count) for count in args.segments.split(",")]
    LOG.parent.mkdir(exist_ok=True)
    LOG.write_text("")
    with tempfile.TemporaryDirectory(prefix="bench-segments-") as workdir:
        results = bench(counts, args.large, args.rows, args.ways.split(","), Path(workdir))
    return report(results, max(counts), args.large)


if __name__ == "__main__":
    sys.exit(main())
