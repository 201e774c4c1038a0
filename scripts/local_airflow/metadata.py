"""What the metadata database holds of a local run: its task instances and their XComs, and the run's id.

Read while the run goes on (the progress lines) and after it (the summary), and written only to fail a run an
interruption left unfinished. The run has no API server, so the Airflow models are read directly
(airflow_internals says why each is needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TaskRow:
    label: str  # the task id, or `task[map index name]` for a mapped instance
    task_id: str
    map_index: int
    state: str
    attempt: int
    named: bool  # a mapped instance's label has its rendered name rather than its index


def manual_run_id(logical_date: datetime) -> str:
    """The id `dag.test()` gives the run: a function of the date, so a given date is always the same DAG run."""
    from .airflow_internals import generate_run_id

    # "manual": the run type dag.test() gives its runs (as the REST API names it); run_after = logical_date as in
    # dag_test.run_dag.
    return generate_run_id(run_type="manual", logical_date=logical_date, run_after=logical_date)


def task_instances(dag_id: str, run_id: str) -> list[TaskRow]:
    """The run's task instances, in the order they last changed."""
    from sqlalchemy import select

    from .airflow_internals import TaskInstance as TI
    from .airflow_internals import create_session

    query = select(TI.task_id, TI.map_index, TI.rendered_map_index, TI.state, TI.try_number).where(
        TI.dag_id == dag_id, TI.run_id == run_id
    )
    with create_session() as session:
        rows = session.execute(query.order_by(TI.updated_at, TI.map_index)).all()
    return [
        TaskRow(
            task_id if index < 0 else f"{task_id}[{rendered or index}]",
            task_id,
            index,
            str(state),
            attempt,
            rendered not in (None, "", str(index)),  # the scheduler may store the index itself until it is named
        )
        for task_id, index, rendered, state, attempt in rows
    ]


def awaiting_input(dag_id: str, run_id: str) -> list[tuple[str, datetime]]:
    """The run's tasks that wait for a person's answer, with the time their wait ends (UTC)."""
    from sqlalchemy import select

    from .airflow_internals import TaskInstance as TI
    from .airflow_internals import create_session

    query = select(TI.task_id, TI.trigger_timeout).where(
        TI.dag_id == dag_id, TI.run_id == run_id, TI.state == "awaiting_input"
    )
    with create_session() as session:
        return [(task_id, deadline) for task_id, deadline in session.execute(query).all()]


def task_states(dag_id: str, run_id: str) -> dict[str, str]:
    return {row.label: row.state for row in task_instances(dag_id, run_id)}


def xcom_values(dag_id: str, run_id: str, key: str) -> dict[str, Any]:
    """Each task instance's XCom `key` in this run (return_value, failure, ...), by its label."""
    from .airflow_internals import XComModel, create_session

    labels = {(row.task_id, row.map_index): row.label for row in task_instances(dag_id, run_id)}
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run_id, key=key, dag_ids=dag_id)).all()
        return {labels.get((row.task_id, row.map_index), row.task_id): XComModel.deserialize_value(row) for row in rows}


def fail_unfinished(dag_id: str, run_id: str) -> None:
    """After an interruption outside a task, leave no task or run looking as if it were still running."""
    from airflow.sdk import DagRunState, TaskInstanceState
    from sqlalchemy import select

    from .airflow_internals import DagRun, create_session

    with create_session() as session:
        dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if dag_run is None:
            return
        for ti in dag_run.get_task_instances(session=session):
            if ti.state not in (TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, TaskInstanceState.SKIPPED):
                ti.state = TaskInstanceState.FAILED if ti.state else TaskInstanceState.UPSTREAM_FAILED
        dag_run.state = DagRunState.FAILED
