"""Fail the image build if any installed distribution differs from its pin in the constraints file.

This is what makes the stack's Python environment the one of the local venv and of MWAA: both install
requirements.txt under the same dags/constraints.txt.
"""

from __future__ import annotations

import sys
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier
from packaging.utils import NormalizedName, canonicalize_name


def pin(line: str) -> tuple[NormalizedName, Specifier] | None:
    """The package a `name==version` line pins and that `==version`; None for comments, options and ranges."""
    try:
        requirement = Requirement(line.partition("#")[0])
    except InvalidRequirement:
        return None
    specifiers = list(requirement.specifier)
    if len(specifiers) != 1 or specifiers[0].operator != "==":
        return None
    return canonicalize_name(requirement.name), specifiers[0]


def main(constraints_path: str) -> int:
    lines = Path(constraints_path).read_text(encoding="utf-8").splitlines()
    pins = dict(found for line in lines if (found := pin(line)))
    installed = {canonicalize_name(dist.metadata["Name"]): dist.version for dist in distributions()}
    drift = sorted(
        f"{name}: installed {version}, pinned {pins[name].version}"
        for name, version in installed.items()
        if name in pins and not pins[name].contains(version, prereleases=True)
    )
    for line in drift:
        print(line, file=sys.stderr)
    pinned = sum(1 for name in installed if name in pins)
    print(f"{pinned} installed distributions checked against {constraints_path}: {len(drift)} differ")
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
