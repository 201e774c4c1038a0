"""Which files ship to MWAA: what git tracks, minus the patterns in .mwaaignore.

Starting from git's index (not from the folder) means nothing untracked or git-ignored (caches, local stores,
secrets, a half-written DAG) can reach S3. `.mwaaignore` (gitignore syntax, paths from the repository root) then
keeps out tracked files MWAA must not see, such as tests. A tracked file deleted locally does not ship.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

from deploy.aws import DeployError

REPO_ROOT = Path(__file__).resolve().parents[1]
IGNORE_FILE = ".mwaaignore"
SHIPPED_FOLDERS = ("dags", "plugins")


def _git_paths(repo: Path, *args: str) -> list[str]:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), "ls-files", "-z", *args], capture_output=True, text=True, check=False, timeout=60
        )
    except FileNotFoundError as error:
        raise DeployError("git is not installed: the deploy ships exactly the files git tracks") from error
    if result.returncode != 0:
        raise DeployError(
            f"{repo} is not a git work tree ({result.stderr.strip()}): the deploy ships only files git tracks; "
            "deploy from a clone of the repository"
        )
    return [path for path in result.stdout.split("\0") if path]


def ignore_spec(repo: Path) -> pathspec.GitIgnoreSpec:
    """The repository's .mwaaignore patterns (none when the file is absent)."""
    path = repo / IGNORE_FILE
    return pathspec.GitIgnoreSpec.from_lines(path.read_text().splitlines() if path.is_file() else [])


@dataclass(frozen=True)
class RepoFiles:
    """The repository's shippable files (posix paths from the root) and the untracked ones a user may have forgotten."""

    root: Path
    ignored: pathspec.GitIgnoreSpec
    shipped: frozenset[str]
    untracked: tuple[str, ...]

    @classmethod
    def read(cls, repo: Path) -> RepoFiles:
        ignored = ignore_spec(repo)
        shipped = frozenset(
            path
            for path in _git_paths(repo, "--cached")
            if not ignored.match_file(path) and _is_regular_file(repo / path)
        )
        untracked = tuple(sorted(_git_paths(repo, "--others", "--exclude-standard", "--", *SHIPPED_FOLDERS)))
        return cls(repo, ignored, shipped, untracked)

    def under(self, folder: str) -> Iterator[tuple[str, Path]]:
        """Shipped files in `folder` as (path relative to it, local path), sorted."""
        prefix = f"{folder}/"
        for path in sorted(p for p in self.shipped if p.startswith(prefix)):
            yield path.removeprefix(prefix), self.root / path

    def ships(self, path: str) -> bool:
        return path in self.shipped

    def why_not_shipped(self, path: str) -> str:
        """A note for a file the deploy would ship if git tracked it."""
        if not (self.root / path).is_file():
            return f"{path}: not in the repo"
        if self.ignored.match_file(path):
            return f"{path}: matched by {IGNORE_FILE}"
        return f"{path}: not tracked by git (git add it to ship it)"


def _is_regular_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()
