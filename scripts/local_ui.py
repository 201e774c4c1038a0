"""Start the Airflow UI (and the MLflow UI when tracking is local) on 127.0.0.1 until Ctrl-C; `make ui` runs this.

The servers, how they start and how they stop: local_airflow/ui_servers.py.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from local_airflow.home import REPO
from local_airflow.ui_servers import GRACE_SECONDS, LocalUi, running_ui

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_on_signal(signum: int, _frame: object) -> None:
    """The first of Ctrl-C, SIGTERM, SIGHUP exits through the cleanup; later ones are ignored so it can finish
    (it is bounded). SystemExit, unlike KeyboardInterrupt, ends without a traceback."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    os.write(sys.stdout.fileno(), b"\nStopping the UIs...\n")
    raise SystemExit(128 + signum)


def announce(ui: LocalUi) -> None:
    """Where to open the UIs and log in, and where their logs are."""
    print(f"Airflow UI: {ui.airflow_url}  user admin, password in {ui.password_file}")
    print(f"MLflow UI:  {ui.mlflow_url}" if ui.mlflow_url else "MLflow:     remote tracking URI, no local UI")
    print(f"Logs:       {ui.logs['api-server'].parent}/ ({', '.join(p.name for p in ui.logs.values())})")
    print("Ctrl-C stops them.", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("AIRFLOW_HOME", REPO / ".local" / "airflow")))
    parser.add_argument("--airflow-port", type=int, default=8080)
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--grace", type=float, default=GRACE_SECONDS, help="seconds to stop cleanly before killing")
    args = parser.parse_args(argv)
    for sig in STOP_SIGNALS:
        signal.signal(sig, stop_on_signal)
    print("Starting the UIs (about a minute)...", flush=True)
    try:
        with running_ui(args.home, args.airflow_port, args.mlflow_port, grace=args.grace) as ui:
            announce(ui)
            while not (name := ui.exited()):
                time.sleep(1)
            print(f"{name} stopped unexpectedly (exit {ui.processes[name].returncode}); see {ui.logs[name]}")
            return 1
    except SystemExit:
        print("Stopped.")
        raise
    except RuntimeError as error:
        print(f"Could not start the UIs: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
