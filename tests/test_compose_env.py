"""The compose stack's secrets: generated per machine into .env, never committed, and required by docker-compose.yaml,
so that MLflow, like Airflow, only answers to the login written there (make compose-test checks it on a real stack)."""

from __future__ import annotations

import configparser
import stat
from pathlib import Path

import yaml
from compose_env import EXAMPLE, GENERATORS, generated_env, main

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yaml"
MLFLOW_SECRETS = ("MLFLOW_ADMIN_PASSWORD", "MLFLOW_FLASK_SECRET_KEY")


def test_the_mlflow_login_and_secret_key_are_generated_fresh_on_every_machine():
    first, second = generated_env(), generated_env()
    for name in MLFLOW_SECRETS:
        assert first[name], f"{name} is not generated"
        assert first[name] != second[name], f"{name} is the same on two machines"
    assert len(first["MLFLOW_ADMIN_PASSWORD"]) >= 12, "MLflow refuses admin passwords shorter than 12 characters"
    assert first["MLFLOW_ADMIN_PASSWORD"] != first["AIRFLOW_ADMIN_PASSWORD"]
    assert first["MLFLOW_ADMIN_USERNAME"] == "admin"


def test_the_written_env_holds_the_mlflow_login_and_only_its_owner_can_read_it(tmp_path, capsys):
    target = tmp_path / ".env"
    assert main([str(target)]) == 0
    values = assignments(target.read_text())
    assert all(values[name] for name in MLFLOW_SECRETS), values.keys()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_the_example_commits_no_secret():
    values = assignments(EXAMPLE.read_text())
    assert {name: values.get(name) for name in GENERATORS} == dict.fromkeys(GENERATORS, "")


def assignments(env_file: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in env_file.splitlines() if line and not line.startswith("#"))


def test_compose_refuses_to_start_with_an_env_that_lacks_a_generated_secret():
    text = COMPOSE.read_text()
    missing = [name for name in GENERATORS if f"${{{name}:?is not set - make up writes .env" not in text]
    assert not missing, f"docker-compose.yaml does not require {missing} with the usual message"


def test_mlflow_requires_a_login_and_the_worker_has_it():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    mlflow = services["mlflow"]
    assert "--app-name=basic-auth" in mlflow["command"]
    assert mlflow["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"].startswith("${MLFLOW_ADMIN_PASSWORD:?")
    worker = services["airflow-worker"]["environment"]
    assert worker["MLFLOW_TRACKING_USERNAME"] == mlflow["environment"]["MLFLOW_AUTH_ADMIN_USERNAME"]
    assert worker["MLFLOW_TRACKING_PASSWORD"] == mlflow["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"]
    config = configparser.ConfigParser()
    config.read(ROOT / "docker" / "mlflow" / "basic_auth.ini")
    assert config["mlflow"]["default_permission"] == "NO_PERMISSIONS", "an account without grants must see nothing"
