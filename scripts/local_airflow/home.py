"""The repository's Airflow for a local run: its home, DAGs and plugins folders, and a current metadata database.

The Makefile sets the same settings; a script run directly (`python scripts/run_pipeline.py`) gets them here, and
the environment wins over both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def use_repository_airflow() -> None:
    """Default Airflow settings for a local run (the Makefile sets the same); the environment wins."""
    defaults = {
        "AIRFLOW_HOME": str(REPO / ".local" / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def migrate_if_needed() -> None:
    """Create or upgrade the metadata database only when it is not at Airflow's current revision."""
    from .airflow_internals import check_migrations, upgradedb

    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    try:
        check_migrations(timeout=0)
    except TimeoutError:
        upgradedb()
