"""What a scheduler does for a task that waits for a person (Airflow's human-in-the-loop), done for `make run`,
which has none: say once where to answer, and apply the task's timeout when nobody answers in time.

Without this, a local run with `require_approval` would wait for ever unless someone answered; with it, no answer
within approval_timeout_hours is the task's default (Reject), as on MWAA.
"""

from __future__ import annotations

import threading
from typing import IO, Any

from .metadata import awaiting_input

SWEEP_SECONDS = 2.0
AIRFLOW_UI = "http://127.0.0.1:8080"  # make ui's default (AIRFLOW_PORT)


class AnswerDeadlines(threading.Thread):
    """Tells where to answer each task that waits for input, then resolves it when its deadline has passed."""

    def __init__(self, dag_id: str, run_id: str, console: IO[str]) -> None:
        super().__init__(name="awaiting-input", daemon=True)
        self.dag_id, self.run_id, self.console = dag_id, run_id, console
        self.told: set[str] = set()
        self.done = threading.Event()
        self.scheduler: Any = None  # made when a task first waits

    def run(self) -> None:
        while not self.done.wait(SWEEP_SECONDS):
            self.sweep()

    def sweep(self) -> None:
        waiting = awaiting_input(self.dag_id, self.run_id)
        for task_id, deadline in waiting:
            if task_id not in self.told:
                self.told.add(task_id)
                page = f"{AIRFLOW_UI}/dags/{self.dag_id}/runs/{self.run_id}/tasks/{task_id}/required_actions"
                self.console.write(
                    f"  {task_id} waits for your answer until {deadline:%Y-%m-%d %H:%M} UTC: start `make ui` in "
                    f"another terminal and answer at {page}\n"
                )
                self.console.flush()
        if waiting:
            self.resolve_timed_out()

    def stop(self) -> None:
        self.done.set()
        self.join()

    def resolve_timed_out(self) -> None:
        """The scheduler's own sweep: a task past its deadline resumes with its defaults (or fails without any)."""
        from .airflow_internals import Job, SchedulerJobRunner

        if self.scheduler is None:  # a runner that is never started: its sweep reads and writes the database only
            self.scheduler = SchedulerJobRunner(job=Job())
        self.scheduler.check_awaiting_input_timeouts()
