"""A local run's log file: where it is, and everything this process prints going to it; paths said short.

The console keeps the run id, the progress lines and the summary; Airflow, the tasks and their libraries write to
`<AIRFLOW_HOME>/run-logs/<dag_id>/<run_id>.log`, which the summary names.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def log_file(dag_id: str, run_id: str) -> Path:
    safe_run_id = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return Path(os.environ["AIRFLOW_HOME"]) / "run-logs" / dag_id / f"{safe_run_id}.log"


def shown(path: Path | str) -> str:
    """A path as short as it can be said from here."""
    path = Path(path)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


@contextmanager
def output_to(log_file: Path) -> Iterator[IO[str]]:
    """Send this process's stdout and stderr (Python and native) to `log_file`; yield the original console."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1)
    with log_file.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield console
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            console.close()
