"""One console line per task state change of a local run, with the seconds since it started."""

from __future__ import annotations

import threading
import time
from typing import IO

from .metadata import task_instances

POLL_SECONDS = 0.3


class Progress(threading.Thread):
    """Prints each task's state changes by polling the metadata database (dag.test() runs in the main thread)."""

    def __init__(self, dag_id: str, run_id: str, console: IO[str], quiet: tuple[str, ...] = ()) -> None:
        super().__init__(name="progress", daemon=True)
        self.dag_id, self.run_id, self.console = dag_id, run_id, console
        self.quiet = quiet  # tasks whose running and skipped say nothing: only waiting, success or failure is news
        self.started = time.monotonic()
        self.states: dict[tuple[str, int], str] = {}  # task instance -> state last printed
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(POLL_SECONDS):
            self.report()

    def report(self) -> None:
        for row in task_instances(self.dag_id, self.run_id):
            seen = (
                f"{row.state} (attempt {row.attempt})" if row.attempt > 1 or row.state == "up_for_retry" else row.state
            )
            key = (row.task_id, row.map_index)
            if row.state == "running" and row.map_index >= 0 and not row.named:
                continue  # its name follows within moments; "task[0] running" would say little
            # A task skipped before it was tried (a branch not taken) says nothing; one that ran, then skipped, says so.
            hidden = ("None", "scheduled", "queued") + (("skipped",) if row.attempt == 0 else ())
            hidden += ("running", "skipped") if row.task_id in self.quiet else ()
            if seen != self.states.get(key) and row.state not in hidden:
                self.states[key] = seen
                self.console.write(f"  {time.monotonic() - self.started:6.1f}s  {row.label:<20} {seen}\n")

    def stop(self) -> None:
        self.done.set()
        self.join()
        self.report()
