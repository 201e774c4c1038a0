"""Fail the image build if any installed distribution differs from its pin in the constraints file.

This is what makes the stack's Python environment the one of the local venv and of MWAA: both install
requirements.txt under the same dags/constraints.txt.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions
from pathlib import Path


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(constraints_path: str) -> int:
    pins: dict[str, str] = {}
    for line in Path(constraints_path).read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line.strip())
        if match:
            pins[canonical(match[1])] = match[2]
    installed = {canonical(dist.metadata["Name"]): dist.version for dist in distributions()}
    drift = sorted(
        f"{name}: installed {version}, pinned {pins[name]}"
        for name, version in installed.items()
        if name in pins and pins[name] != version
    )
    for line in drift:
        print(line, file=sys.stderr)
    pinned = sum(1 for name in installed if name in pins)
    print(f"{pinned} installed distributions checked against {constraints_path}: {len(drift)} differ")
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
