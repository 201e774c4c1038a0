"""`make bench-score`: batch_predictions' engines on 10^6 and 10^7 synthetic rows, against plain pandas.

The plain process reads the whole Parquet file with pandas, puts it in the form the model reads (the schema's
model_input, as the engines do) and calls the model's predict; the local engine streams the same file in record
batches, checks every row, computes the class and its probabilities and writes the output. Each runs in its own
process (peak RSS is its own); the model is a hist_gradient_boosting pipeline registered by the pipeline's own
get_data, train_model and persist_model functions on Wine, so it carries the data set's schema as the DAG's do. The
local engine is also run without counting drift (mode no-drift). Goals: the local engine at least 0.7x the plain
process's rows per second, its peak RSS flat (10^7 rows within 1.2x of 10^6) while the plain process's grows, and
counting drift adding at most 10% to its time at the largest size. Spark (local mode, 2 cores) is reported: start-up
and rows per second. Exits 1 when a goal is missed; the engines' own output goes to .local/bench-score.log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "dags"))
sys.path.insert(0, str(REPO / "scripts"))

import synthetic_wine  # noqa: E402
from score_worker import MODEL  # noqa: E402
from stages import register_champion  # noqa: E402

WORKER = Path(__file__).resolve().parent / "score_worker.py"
LOG = REPO / ".local" / "bench-score.log"
SIZES = (1_000_000, 10_000_000)
MIN_THROUGHPUT_RATIO = 0.7
MAX_RSS_GROWTH = 1.2
MAX_DRIFT_OVERHEAD = 0.10  # counting drift adds at most this share to the local engine's time at the largest size
REPEATS = 2


def register_model(root: Path) -> str:
    """A hist_gradient_boosting pipeline trained on Wine, the champion of a throwaway registry in `root` (artifacts
    beside its database, nothing in ./mlruns); returns its tracking URI."""
    tracking_uri, _ = register_champion(root, MODEL, "hist_gradient_boosting")
    return tracking_uri


def measure(mode: str, source: Path, output: Path, tracking_uri: str) -> dict:
    with LOG.open("a") as log:
        log.write(f"--- {mode} on {source}\n")
        log.flush()
        done = subprocess.run([sys.executable, str(WORKER), mode, str(source), str(output), tracking_uri],
                              stdout=subprocess.PIPE, stderr=log, text=True, check=True, timeout=7200)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark measurements")
    args = parser.parse_args(argv)
    LOG.parent.mkdir(exist_ok=True)
    LOG.write_text("")
    results: dict[int, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-score-") as work:
        work_dir = Path(work)
        with LOG.open("a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            tracking_uri = register_model(work_dir / "registry")  # MLflow's messages and warnings go to the log
        modes = ("plain", "no-drift", "engine") + (() if args.no_spark else ("spark",))
        if not args.no_spark:  # start-up cost: the smallest input
            tiny = synthetic_wine.write(1_000, work_dir / "tiny.parquet")
            startup = measure("spark", tiny, work_dir / "out-tiny", tracking_uri)["seconds"]
        for rows in args.sizes:
            print(f"{rows:>12,} rows: generating", flush=True)
            source = synthetic_wine.write(rows, work_dir / f"rows-{rows}.parquet")
            results[rows] = {}
            for mode in modes:
                # The faster of REPEATS runs of the goals' measurements: this shared VM's timings vary by up to 40%.
                repeats = 1 if mode == "spark" else REPEATS
                tries = [measure(mode, source, work_dir / f"out-{mode}-{rows}", tracking_uri) for _ in range(repeats)]
                results[rows][mode] = result = min(tries, key=lambda measured: measured["seconds"])
                rss = f"{result['rss_mib']:7.0f} MiB" if result["rss_mib"] else "    (JVM)  "
                print(f"{rows:>12,} rows: {mode:<7} {result['seconds']:8.1f} s  "
                      f"{result['rows'] / result['seconds']:>12,.0f} rows/s  peak RSS {rss}", flush=True)  # fmt: skip
            source.unlink()
    if not args.no_spark:
        print(f"Spark start-up (1,000 rows, spark-submit to exit): {startup:.1f} s")
    return report(results)


def report(results: dict[int, dict[str, dict]]) -> int:
    missed = []
    for rows, by_mode in results.items():
        ratio = (by_mode["engine"]["rows"] / by_mode["engine"]["seconds"]) / (
            by_mode["plain"]["rows"] / by_mode["plain"]["seconds"]
        )
        print(f"{rows:>12,} rows: local engine throughput {ratio:.2f}x plain (goal >= {MIN_THROUGHPUT_RATIO}x)")
        if ratio < MIN_THROUGHPUT_RATIO:
            missed.append(f"throughput at {rows:,} rows: {ratio:.2f}x plain")
    small, large = min(results), max(results)
    overhead = results[large]["engine"]["seconds"] / results[large]["no-drift"]["seconds"] - 1
    goal = f"goal <= {MAX_DRIFT_OVERHEAD:.0%}"
    print(f"{large:>12,} rows: drift counting adds {overhead:.1%} to the local engine ({goal})")
    if overhead > MAX_DRIFT_OVERHEAD:
        missed.append(f"drift counting adds {overhead:.1%} at {large:,} rows")
    if small != large:
        for mode in ("engine", "plain"):
            growth = results[large][mode]["rss_mib"] / results[small][mode]["rss_mib"]
            print(f"peak RSS {mode}: {growth:.2f}x from {small:,} to {large:,} rows")
        growth = results[large]["engine"]["rss_mib"] / results[small]["engine"]["rss_mib"]
        if growth > MAX_RSS_GROWTH:
            missed.append(f"local engine peak RSS grew {growth:.2f}x (goal <= {MAX_RSS_GROWTH}x)")
    print(f"log: {LOG.relative_to(REPO)}")
    for line in missed:
        print(f"goal missed: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
