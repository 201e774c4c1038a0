"""The benchmarks' peak memory is the measured process's own, not that of the process that started it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"

# A parent that peaks at 400 MiB, frees it, then starts a worker that reports its own peak as the benches do.
PARENT = f"""
import json, subprocess, sys
sys.path.insert(0, {str(BENCH)!r})
from stages import max_rss_mib
block = bytearray(400 * 2**20)
for page in range(0, len(block), 4096):
    block[page] = 1
del block
child = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, {str(BENCH)!r}); "
                        "from stages import max_rss_mib; print(max_rss_mib())"], capture_output=True, text=True)
print(json.dumps({{"parent": max_rss_mib(), "child": float(child.stdout)}}))
"""


def test_a_worker_reports_its_own_peak_not_its_parents() -> None:
    peaks = json.loads(subprocess.run([sys.executable, "-c", PARENT], capture_output=True, text=True,
                                      check=True).stdout)  # fmt: skip
    assert peaks["parent"] >= 400
    assert peaks["child"] < 100
