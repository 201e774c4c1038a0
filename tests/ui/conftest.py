"""The browser tests' world: `make ui`'s servers on free 127.0.0.1 ports with this session's Airflow home and a
throwaway MLflow store, Debian's Chromium driven by Playwright, and a screenshot of every step.

Screenshots go to `.local/ui-screenshots/<test>/` and are kept only when the test fails. `UI_SCREENSHOTS_DOCS=1`
also copies the ones docs/ui.md shows into docs/.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow_rest import AirflowRest
from local_ui import LocalUi, running_ui
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's; Playwright never downloads a browser here
SHOTS = REPO / ".local" / "ui-screenshots"
DOCS = REPO / "docs"
VIEWPORT = {"width": 1400, "height": 900}


@dataclass
class Stack:
    ui: LocalUi
    user: str
    password: str
    api: AirflowRest


@pytest.fixture(scope="session")
def stack(airflow_home: str, tmp_path_factory: pytest.TempPathFactory, free_port: Any) -> Iterator[Stack]:
    """Airflow (scheduler and all) and the MLflow UI, started once and always stopped. Only triggered runs run."""
    stores = tmp_path_factory.mktemp("ui-stores")
    tracking_uri = f"sqlite:///{stores}/mlflow.db"
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.startswith(("ML_PIPELINE_", "MLFLOW_", "AWS_"))]:
            env.delenv(name)
        env.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        env.setenv("ML_PIPELINE_ARTIFACT_ROOT", str(stores / "artifacts"))
        env.setenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
        env.setenv("AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE", "False")  # no scheduled or Asset-triggered runs
        with running_ui(Path(airflow_home), free_port(), free_port(), tracking_uri=tracking_uri) as ui:
            user, password = next(iter(json.loads(ui.password_file.read_text()).items()))
            api = AirflowRest.login(ui.airflow_url, user, password)
            for dag_id in ("classification_pipeline", "batch_predictions"):
                api.wait_for_dag(dag_id, timeout=180)
            yield Stack(ui, user, password, api)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


class Shots:
    """Numbered screenshots of each step; `docs` names the copy docs/ui.md shows (with UI_SCREENSHOTS_DOCS=1)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.count = folder, 0
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def take(self, target: Page | Any, step: str, docs: str | None = None) -> None:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        target.screenshot(path=path)
        if docs and os.environ.get("UI_SCREENSHOTS_DOCS") == "1":
            DOCS.mkdir(exist_ok=True)
            shutil.copy(path, DOCS / docs)


@pytest.fixture
def shots(request: pytest.FixtureRequest, page: Page) -> Iterator[Shots]:
    taken = Shots(SHOTS / request.node.name)
    yield taken
    if request.node.stash.get(FAILED, True):
        page.screenshot(path=taken.folder / "failure.png")  # where the Airflow tab was when it failed
    else:
        shutil.rmtree(taken.folder)
        for made in (SHOTS, SHOTS.parent):  # the folders it made, if nothing else is in them
            with suppress(OSError):
                made.rmdir()


@pytest.fixture
def page(stack: Stack, browser: Any) -> Iterator[Page]:
    """A browser tab logged in to Airflow as the simple auth manager's admin."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    tab.goto(stack.ui.airflow_url)
    tab.fill("input[name=username]", stack.user)
    tab.fill("input[name=password]", stack.password)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(lambda url: "/auth/login" not in url)
    yield tab
    context.close()
