"""Every Airflow name outside its public interface that the harness uses: why, and which public API falls short.

Airflow's public interface is `airflow.sdk`, the REST API and its client, the CLI, listeners, plugins and the
documented configuration (https://airflow.apache.org/docs/apache-airflow/stable/public-airflow-interface.html).
`dag.test()`, which runs the DAG here, is public, but the harness also follows the run while it happens, without
an API server: it reads and writes the metadata database and uses the task-logging internals itself. Each such name
is in INTERNALS and is imported from here only; tests/test_airflow_internals.py imports every one by its path and
checks what the harness passes to it or reads from it, so an upgrade that moves one fails by name, not silently.

A name loads on first use (`from local_airflow.airflow_internals import DagRun` inside a function): importing
Airflow reads its configuration, which must wait until `home.use_repository_airflow()` has set AIRFLOW_HOME.
"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from typing import Any

NO_API_SERVER = "the REST API and its Python client need an API server, which `make run` does not start"
NO_SUPERVISOR = "airflow.sdk reaches the metadata only from inside a running task, through its supervisor"
MIGRATE_CLI = (
    "`airflow db check-migrations` and `airflow db migrate` (CLI) do the same in a new process that imports Airflow "
    "again: seconds more on every `make run`"
)
NO_LOG_API = (
    "none: airflow.sdk exports no logging helper; only the settings ([logging] base_log_folder, "
    "log_filename_template) are public"
)


@dataclass(frozen=True)
class Internal:
    """An Airflow name the harness uses although it is not public."""

    path: str  # where Airflow defines it, dotted (pkgutil.resolve_name)
    why: str  # what the harness needs it for
    public: str  # the public APIs checked, and why none of them does this job
    uses: tuple[str, ...] = ()  # the parameters the harness passes (a function) or what it reads (a class)


# By the name the harness uses; a method the harness calls is listed as Class.method.
INTERNALS: dict[str, Internal] = {
    "check_migrations": Internal(
        "airflow.utils.db.check_migrations",
        "tell at once whether the metadata database is at this Airflow's revision (home.migrate_if_needed)",
        MIGRATE_CLI,
        ("timeout",),
    ),
    "upgradedb": Internal(
        "airflow.utils.db.upgradedb", "create or upgrade the metadata database when it is not", MIGRATE_CLI
    ),
    "create_session": Internal(
        "airflow.utils.session.create_session",
        "read a run's task instances and XComs, and fail an interrupted run (metadata)",
        f"{NO_API_SERVER}; {NO_SUPERVISOR}",
    ),
    "TaskInstance": Internal(
        "airflow.models.taskinstance.TaskInstance",
        "poll the run's task instances for the progress lines and the summary's task states (metadata)",
        "the listener hooks on_task_instance_* (public) run inside the task and miss the states dag.test() sets "
        f"between tasks (up_for_retry, upstream_failed); {NO_API_SERVER}",
        (
            "dag_id",
            "run_id",
            "task_id",
            "map_index",
            "rendered_map_index",
            "state",
            "try_number",
            "updated_at",
            "trigger_timeout",
        ),
    ),
    "XComModel": Internal(
        "airflow.models.xcom.XComModel",
        "read each task's return value (the summary) and its one-line failure reason (metadata)",
        f"airflow.sdk's XCom.get_one and get_many: {NO_SUPERVISOR}; {NO_API_SERVER}",
        ("get_many", "deserialize_value", "task_id", "map_index"),
    ),
    "XComModel.get_many": Internal(
        "airflow.models.xcom.XComModel.get_many",
        "select one run's XComs with a key (metadata)",
        "as XComModel",
        ("run_id", "key", "dag_ids"),
    ),
    "DagRun": Internal(
        "airflow.models.dagrun.DagRun",
        "fail a run an interruption left unfinished (metadata); give a run the time it is created as its start, "
        "through a SQLAlchemy before_insert hook on the mapped class (run_start)",
        "the DagRun dag.test() returns exists only once the run has ended; the listener hook on_dag_run_running "
        f"(public) is called by the scheduler, never by dag.test(); {NO_API_SERVER}",
        ("__mapper__", "dag_id", "run_id", "state", "start_date", "get_task_instances"),
    ),
    "DagRun.get_task_instances": Internal(
        "airflow.models.dagrun.DagRun.get_task_instances",
        "list the run's task instances, to fail the unfinished ones (metadata)",
        "as DagRun",
        ("session",),
    ),
    "generate_run_id": Internal(
        "airflow.models.dagrun.DagRun.generate_run_id",
        "know the run id dag.test() gives the run (it calls this function) before the run starts: the console's "
        "first line, the log file, the run lock and the progress lines need it (metadata.manual_run_id)",
        "the DagRun dag.test() returns has it only after the run; dag.test() takes no run id",
        ("run_type", "logical_date", "run_after"),
    ),
    "DagBag": Internal(
        "airflow.dag_processing.dagbag.DagBag",
        "load the DAG as the DAG processor does, with the import errors when it cannot (dag_test.load_dag)",
        "airflow.sdk loads no DAG file; importing the file directly would skip what DagBag applies (cluster "
        "policies, the file's bookkeeping) and lose its import errors",
        ("dag_folder", "dags", "import_errors"),
    ),
    "log_filename_template_renderer": Internal(
        "airflow.utils.helpers.log_filename_template_renderer",
        "render a task instance's log path from log_filename_template as the executors do (task_logs)",
        NO_LOG_API,
    ),
    "init_log_file": Internal(
        "airflow.sdk.log.init_log_file",
        "create the task's log file as a worker's supervisor does (folders, permissions) (task_logs)",
        NO_LOG_API,
        ("local_relative_path",),
    ),
    "logging_processors": Internal(
        "airflow.sdk.log.logging_processors",
        "use the supervisor's structlog processors, so the file holds the JSON lines the UI's log reader expects "
        "(task_logs)",
        NO_LOG_API,
        ("json_output",),
    ),
    "get_listener_manager": Internal(
        "airflow.sdk.listener.get_listener_manager",
        "register the task-log listener in this process only while dag.test() runs (task_logs)",
        "listeners are public, but registered through a plugin's `listeners`, which every Airflow process that "
        "loads plugins/ would run (make ui's scheduler, MWAA)",
    ),
    "ListenerManager": Internal(
        "airflow.sdk._shared.listeners.listener.ListenerManager",
        "add the listener to what get_listener_manager returns, and remove it through its pluggy manager `pm` (it "
        "has no method to remove one) (task_logs)",
        "as get_listener_manager",
        ("add_listener", "pm"),
    ),
    "SchedulerJobRunner": Internal(
        "airflow.jobs.scheduler_job_runner.SchedulerJobRunner",
        "apply a human-in-the-loop task's timeout during a local run, with the scheduler's own sweep "
        "(awaiting_input): dag.test() runs no scheduler, so a run waiting for an answer would never end",
        "none: the timeout is applied by the scheduler only (check_awaiting_input_timeouts); the REST API can "
        f"answer, not time out, and {NO_API_SERVER}",
        ("job", "check_awaiting_input_timeouts"),
    ),
    "Job": Internal(
        "airflow.jobs.job.Job",
        "the job record SchedulerJobRunner is made with (awaiting_input); it is never started or saved",
        "as SchedulerJobRunner",
    ),
    "SimpleAuthManager": Internal(
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "run make ui's components with the auth manager `airflow standalone` forces: one admin, its password in a "
        "file (ui_servers)",
        "auth managers are public and this path is the documented default of [core] auth_manager; it is listed "
        "because the harness names it by path",
    ),
}


def __getattr__(name: str) -> Any:
    """Import an internal on first use, by the path INTERNALS gives, so importing this module imports no Airflow."""
    if name not in INTERNALS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = pkgutil.resolve_name(INTERNALS[name].path)
    return value
