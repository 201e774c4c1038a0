"""The command line `make run` and `make score` share: --conf and --logical-date, then the script's summary."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from datetime import UTC, datetime
from typing import Any

from . import home, run_dates


def main(
    dag_id: str,
    description: str,
    run: Any,
    conf_example: str,
    argv: list[str] | None = None,
    shortcuts: dict[str, str] | None = None,
) -> int:
    """The command line shared by `make run` and `make score`: --conf and --logical-date, then `run`'s summary.

    `shortcuts` are options that set one configuration key each (`--engine spark` for `scoring_engine`).
    """

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--conf", type=json.loads, default={}, help=f"run conf as JSON, e.g. '{conf_example}'")
    parser.add_argument(
        "--logical-date",
        type=datetime.fromisoformat,
        default=None,
        help="reuse a logical date to rerun that DAG run (default: now, i.e. a new run; runs started in the same "
        "second get the next free second)",
    )
    for option, key in (shortcuts or {}).items():
        parser.add_argument(option, dest=key, help=f"sets {key} in the run conf")
    args = parser.parse_args(argv)
    if not isinstance(args.conf, dict):
        parser.error("--conf must be a JSON object")
    args.conf |= {key: getattr(args, key) for key in (shortcuts or {}).values() if getattr(args, key) is not None}
    home.use_repository_airflow()
    logical_date = args.logical_date or run_dates.new_logical_date(dag_id)
    if logical_date.tzinfo is None:
        logical_date = logical_date.replace(tzinfo=UTC)
    from airflow.sdk.exceptions import ParamValidationError  # once AIRFLOW_HOME is set

    try:
        code, text = run(args.conf, logical_date, sys.stdout)
    except ParamValidationError as error:  # the DAG's trigger form refused a value: no run was created
        reason = str(error).splitlines()[0].removeprefix("Invalid input for param ")
        print(f"Invalid configuration: {reason} (from run conf); no run was started", file=sys.stderr)
        return 2
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


def tuned_exit(main_function: Any) -> None:
    """Run `main_function` and exit with its code, with the collector tuned for Airflow's long-lived objects.

    Airflow, pydantic and MLflow leave about a million of them: with Python's default thresholds the collector scans
    them again and again (about 4 s of a run) and once more at exit
    (docs/benchmarks.md, "make run against a plain process").
    """

    gc.set_threshold(100_000, 20, 100)
    code = main_function()
    gc.freeze()
    sys.exit(code)
