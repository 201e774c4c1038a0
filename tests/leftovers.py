"""Nothing a test makes may outlive it outside a temporary folder: the filesystem root and the repository's top
level are listed when the session starts and compared when it ends; anything new fails the session by name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
WATCHED = (Path("/"), REPOSITORY)
CACHES = frozenset({".pytest_cache", ".ruff_cache", ".mypy_cache", "__pycache__"})  # tools' own caches, git-ignored


def _entries() -> set[Path]:
    return {folder / name for folder in WATCHED for name in os.listdir(folder) if name not in CACHES}


BEFORE = _entries()


def left_behind() -> list[str]:
    return sorted(str(path) for path in _entries() - BEFORE)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if left_behind():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if left := left_behind():
        terminalreporter.write_line(
            f"FAILED: the tests left files outside their temporary folders: {', '.join(left)}", red=True
        )
