"""The stack's MLflow answers only to the login in .env: without it no process can read or move @champion, and an
account without grants sees nothing either (default_permission NO_PERMISSIONS in docker/mlflow/basic_auth.ini)."""

from __future__ import annotations

import secrets

import pytest
import requests
from compose_stack import MODEL_NAME, ComposeStack
from mlflow import MlflowClient
from step_timing import step

pytestmark = pytest.mark.compose

ALIAS_PATH = "/api/2.0/mlflow/registered-models/alias"
HTTP_TIMEOUT = 30


@pytest.fixture(scope="module")
def champion(first_run: str, mlflow_client: MlflowClient) -> str:
    """The champion's version after the first run, read with the admin's login."""
    return mlflow_client.get_model_version_by_alias(MODEL_NAME, "champion").version


def champion_requests(version: str) -> dict[str, tuple[str, dict]]:
    """Reading, moving (to the version it holds, a no-op if allowed) and removing the champion alias."""
    alias = {"name": MODEL_NAME, "alias": "champion"}
    return {
        "read": ("GET", {"params": alias}),
        "move": ("POST", {"json": {**alias, "version": version}}),
        "remove": ("DELETE", {"json": alias}),
    }


def plain_session() -> requests.Session:
    """A session that sends only the credentials it is given (requests would otherwise read ~/.netrc)."""
    session = requests.Session()
    session.trust_env = False
    return session


def statuses(compose: ComposeStack, version: str, auth: tuple[str, str] | None) -> dict[str, int]:
    """Each champion request's HTTP status with `auth` (None: no credentials at all, not even from ~/.netrc)."""
    session = plain_session()
    return {
        what: session.request(
            method, f"{compose.mlflow_url}{ALIAS_PATH}", auth=auth, timeout=HTTP_TIMEOUT, **kwargs
        ).status_code
        for what, (method, kwargs) in champion_requests(version).items()
    }


def test_without_the_login_no_one_can_read_or_move_the_champion(compose, champion, mlflow_client):
    with step("check that MLflow refuses @champion to clients without the login from .env"):
        username, password = compose.mlflow_login
        refused = {
            "no credentials": statuses(compose, champion, None),
            "wrong password": statuses(compose, champion, (username, password + "x")),
            "unknown user": statuses(compose, champion, (f"nobody-{secrets.token_hex(4)}", password)),
        }
        assert all(set(codes.values()) == {401} for codes in refused.values()), refused
        ui = plain_session().get(f"{compose.mlflow_url}/", timeout=HTTP_TIMEOUT)
        assert ui.status_code == 401, f"the UI opened without a login: HTTP {ui.status_code}"
        assert ui.headers.get("WWW-Authenticate", "").startswith("Basic"), ui.headers
        assert mlflow_client.get_model_version_by_alias(MODEL_NAME, "champion").version == champion
        print(f"    401 for {', '.join(refused)} and the UI; champion still v{champion}", flush=True)


def test_an_account_without_grants_can_neither_read_nor_move_the_champion(compose, champion, mlflow_client):
    with step("check that a new MLflow account without grants gets 403 on @champion"):
        user = (f"compose-test-{secrets.token_hex(4)}", secrets.token_urlsafe(18))
        created = plain_session().post(
            f"{compose.mlflow_url}/api/2.0/mlflow/users/create",
            json={"username": user[0], "password": user[1]},
            auth=compose.mlflow_login,
            timeout=HTTP_TIMEOUT,
        )
        assert created.ok, f"the admin could not create {user[0]}: HTTP {created.status_code} {created.text[:300]}"
        codes = statuses(compose, champion, user)
        assert set(codes.values()) == {403}, codes
        assert mlflow_client.get_model_version_by_alias(MODEL_NAME, "champion").version == champion
        print(f"    403 for {user[0]}: {codes}", flush=True)
