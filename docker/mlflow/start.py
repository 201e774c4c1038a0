"""Prepares MLflow's basic-auth store, then runs its arguments (`mlflow server ...`) in its place.

    mlflow-start mlflow server --app-name basic-auth ...

`mlflow server` creates the admin only when the auth store has none and ignores the configured password afterwards,
so a .env generated anew for an existing Postgres volume would leave the Airflow worker with a password MLflow
refuses; this resets it to MLFLOW_AUTH_ADMIN_PASSWORD, as airflow-init does for Airflow's admin. It also creates the
schema basic_auth.ini's database_uri puts the auth tables in, which a volume made before auth lacks.
"""

from __future__ import annotations

import os
import sys

from mlflow.server.auth.config import read_auth_config
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore
from sqlalchemy import create_engine, text

SCHEMA = "auth"  # the search_path of basic_auth.ini's database_uri


def prepare_auth_store() -> None:
    config = read_auth_config()
    engine = create_engine(config.database_uri)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    engine.dispose()
    store = SqlAlchemyStore()
    store.init_db(config.database_uri)  # MLflow's own migrations of the auth tables
    username, password = config.admin_username, config.admin_password
    # No admin yet: `mlflow server` creates it (and says what is wrong with the configured password, if anything).
    if (
        username
        and password
        and store.has_user(username, use_primary=True)
        and not store.authenticate_user(username, password, use_primary=True)
    ):
        store.update_user(username, password=password)
        print(f"mlflow-start: reset the password of MLflow admin {username!r} to MLFLOW_AUTH_ADMIN_PASSWORD")
    store.engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    prepare_auth_store()
    sys.stdout.flush()
    os.execvp(sys.argv[1], sys.argv[1:])  # noqa: S606 (the server becomes PID 1, which gets the signals)
