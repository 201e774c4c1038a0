"""The local-run harness: a DAG run in this process on the embedded Airflow, told to a person; and `make ui`.

`make run` and `make score` (scripts/run_pipeline.py, scripts/run_scoring.py) go through command_line, run_report
and dag_test; `make ui` (scripts/local_ui.py) through ui_servers. One module per concern:

- home: the repository's Airflow home, DAGs and plugins folders; a current metadata database
- run_dates: a logical date of its own for each run; the lock that refuses the same run twice at once
- run_log: the run's log file, which gets all output; paths as short as they can be said
- dag_test: the run itself (`dag.test()`), with stop_signals (Ctrl-C, SIGTERM), task_logs (each task's log where
  the UI reads it), run_start (the run's start), progress (a line per task state change) and awaiting_input (a
  task that waits for a person: where to answer, and its timeout)
- metadata: what the metadata database holds of a run: task states, XComs, its run id
- run_report, command_line: the outcome, the summary's shared parts, and the command line of both scripts
- ui_servers, process_groups: make ui's servers, stopped in a bounded time
- airflow_internals: every Airflow name the harness uses that is not public, and why
"""
