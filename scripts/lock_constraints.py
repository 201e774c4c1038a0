"""Regenerate dags/constraints.txt: Airflow's official constraints plus pins for everything else.

MWAA installs requirements.txt under one constraint file. Airflow's official file pins Airflow and its
providers but not mlflow or the test tools, so we resolve those once here (with uv, under the official
pins) and append them. The local venv, the compose image and MWAA then all install exactly these versions,
and none of them needs the internet to decide which.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

REPO = Path(__file__).resolve().parent.parent
OFFICIAL_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-3.3.1/constraints-3.12.txt"
MARKER = "# ---- Project pins (not in Airflow's constraints), resolved by `make lock` ----"


def pinned_name(line: str) -> NormalizedName | None:
    """The package a `name==version` line pins, as pip compares names (Foo_Bar is foo-bar); None for other lines."""
    try:
        requirement = Requirement(line.partition("#")[0])
    except InvalidRequirement:  # blank, a comment or an option such as --index-url
        return None
    is_pin = [specifier.operator for specifier in requirement.specifier] == ["=="]
    return canonicalize_name(requirement.name) if is_pin else None


def read_official(source: str) -> str:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as response:  # noqa: S310 - fixed https URL
            return response.read().decode()
    return Path(source).read_text()


def without_constraint_lines(requirements: Path) -> str:
    return "".join(
        line for line in requirements.read_text().splitlines(keepends=True) if not line.startswith("--constraint")
    )


def resolve(official: Path, requirement_files: list[Path], python_version: str) -> str:
    """Resolve every requirement under the official pins and return uv's `name==version` lines."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs = []
        for index, path in enumerate(requirement_files):
            stripped = Path(tmp) / f"{index}-{path.name}"
            stripped.write_text(without_constraint_lines(path))
            inputs.append(str(stripped))
        result = subprocess.run(
            [
                "uv",
                "pip",
                "compile",
                "--quiet",
                "--no-header",
                "--no-annotate",
                "--python-version",
                python_version,
                "--python-platform",
                "linux",
                "--constraint",
                str(official),
                *inputs,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return result.stdout


def merge(official_text: str, resolved_text: str) -> str:
    """Official pins verbatim, then resolved pins for everything they miss (a previous lock's additions dropped)."""
    base = official_text.split(MARKER)[0].rstrip("\n")
    official_names = {pinned_name(line) for line in base.splitlines()} - {None}
    project_pins = sorted(
        (name, line.strip())
        for line in resolved_text.splitlines()
        if (name := pinned_name(line)) and name not in official_names
    )
    return f"{base}\n\n{MARKER}\n" + "\n".join(line for _, line in project_pins) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", default=OFFICIAL_URL, help="path or URL of Airflow's constraints file")
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--output", type=Path, default=REPO / "dags" / "constraints.txt")
    parser.add_argument(
        "requirements", nargs="*", type=Path, default=[REPO / "requirements.txt", REPO / "requirements-dev.txt"]
    )
    args = parser.parse_args()
    official_text = read_official(args.official)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as official_file:
        official_file.write(official_text)
        official_file.flush()
        resolved = resolve(Path(official_file.name), args.requirements, args.python_version)
    args.output.write_text(merge(official_text, resolved))
    print(f"wrote {args.output.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
