"""Each task instance's log, written where the Airflow UI reads it, for the tasks `dag.test()` runs in this process.

On a worker, the supervisor writes a task's log to `[logging] base_log_folder` / `log_filename_template` as JSON
lines, and the UI reads that file. `dag.test()` runs tasks in-process without a supervisor, so their log only reaches
this process's output and the UI says "Log file not found on worker". Between Airflow's task-instance listener hooks
(running, then success / failed / skipped), `TaskLogs` copies every log event of this process, from structlog and
from the standard library alike, to that file through the supervisor's own JSON processors; the run's log file
still gets everything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import structlog
from airflow.listeners import hookimpl
from structlog.stdlib import NAME_TO_LEVEL
from structlog.typing import EventDict


class TaskLogs(logging.Handler):
    """A task-instance listener that opens the running task's log, and the log sinks that copy events to it."""

    def __init__(self) -> None:
        super().__init__()
        self.file: BinaryIO | None = None
        self.task_log: Any = None  # a structlog logger writing JSON lines to `file`, while a task runs
        self.begun: set[str] = set()  # task instances whose file this process started: a resumed one appends

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        from .airflow_internals import init_log_file, log_filename_template_renderer, logging_processors

        self.end_task()  # a deferred task ends without a hook
        # The path a worker is given (the executors render it the same way), created as the supervisor creates it.
        path = init_log_file(log_filename_template_renderer()(ti=task_instance))
        # A try starts its file afresh: a rerun DAG run replaces the old one (dag.test()), whose files have its paths.
        self.file = path.open("ab" if str(task_instance.id) in self.begun else "wb")
        self.begun.add(str(task_instance.id))
        *processors, render = logging_processors(json_output=True)
        self.task_log = structlog.wrap_logger(
            structlog.BytesLogger(self.file),
            processors=[*processors, as_error_detail, render],
            wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),  # what reaches here is wanted
        )

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self.end_task()

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        self.end_task()

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        self.end_task()

    def end_task(self) -> None:
        if self.file is not None:
            self.task_log, file, self.file = None, self.file, None
            file.close()

    def copy_event(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        """A structlog processor: the event, as this process logs it, goes to the running task's log too."""
        if self.task_log is not None:
            event = dict(event_dict)
            level = NAME_TO_LEVEL.get(event.pop("level", method_name), logging.INFO)
            self.task_log.log(level, event.pop("event", None), **event)
        return event_dict

    def emit(self, record: logging.LogRecord) -> None:
        """Standard-library records (the pipeline's, MLflow's) go to the running task's log too."""
        if self.task_log is None:
            return
        try:
            self.task_log.log(record.levelno, record.getMessage(), logger=record.name, exc_info=record.exc_info)
        except Exception:
            self.handleError(record)


def as_error_detail(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """The supervisor stores a task's exception as `error_detail`, which the UI shows as a traceback."""
    if exception := event_dict.pop("exception", None):
        event_dict["error_detail"] = exception
    return event_dict


@contextmanager
def written_per_task() -> Iterator[None]:
    """While in this block, each task this process runs has its log file, as a worker's task would.

    The copying processor goes into the processor list Airflow configured structlog with, in place and before the
    renderer: loggers made earlier (and cached) keep that very list, so they are copied too.
    """
    from .airflow_internals import get_listener_manager

    task_logs = TaskLogs()
    processors = structlog.get_config()["processors"]
    processors.insert(len(processors) - 1, task_logs.copy_event)
    logging.getLogger().addHandler(task_logs)
    listeners = get_listener_manager()
    listeners.add_listener(task_logs)
    try:
        yield
    finally:
        listeners.pm.unregister(task_logs)
        logging.getLogger().removeHandler(task_logs)
        processors.remove(task_logs.copy_event)
        task_logs.end_task()
