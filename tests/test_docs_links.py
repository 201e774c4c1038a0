"""Every link between README.md and docs/*.md, and every citation of a README or docs section in the code, points at
a file and a heading that exist.

Markdown links are `[text](#anchor)`, `[text](docs/page.md#anchor)`, `[text](page.md#anchor)` and links to other
files of the repository. In code and configuration files a citation names the file, then the section in quotes
(`docs/page.md, "Section"`, also with "README's" or without the comma) or in parentheses without quotes; a bare
`docs/page.md` must name a file that exists. Anchors follow GitHub's rules: the heading's text, lowercase, spaces
to hyphens, punctuation dropped.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")

# Where the code may cite the docs, and how.
CODE_FILES = ("*.py", "*.yaml", "*.yml", "*.sh", "*.toml", "*.txt", "*.ini", "Makefile", "Dockerfile")
SKIPPED_DIRS = {"__pycache__", "node_modules", "mlruns", "mlartifacts", "spark-warehouse"}
VISIBLE_DOT_DIRS = {".ci", ".github"}
DOC = r"(README(?:\.md)?|docs/[\w.-]+\.md)"
QUOTED = re.compile(DOC + r"(?:'s)?,?[\s#]+\"([^\"\n]+)\"")  # docs/page.md, "Section"  /  README's "Section"
PARENTHESISED = re.compile(r"\((?:see\s+)?" + DOC + r",\s*([^)\"\n]+)\)")  # (docs/page.md, Section)
DOC_FILE = re.compile(r"(?<![\w/.-])(docs/[\w.-]+\.md)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = CODE_SPAN.sub(lambda match: match.group(0)[1:-1], heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def outside_code(path: Path) -> list[tuple[int, str]]:
    """The page's lines with their numbers, leaving out fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


@cache
def anchors(path: Path) -> frozenset[str]:
    """Each heading's anchor; a repeated one gets -1, -2, ... as on GitHub."""
    seen: Counter[str] = Counter()
    found = set()
    for _, line in outside_code(path):
        if match := HEADING.match(line):
            anchor = slug(match.group(2))
            found.add(f"{anchor}-{seen[anchor]}" if seen[anchor] else anchor)
            seen[anchor] += 1
    return frozenset(found)


def link_problem(page: Path, target: str) -> str | None:
    if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
        return None
    path_part, _, anchor = target.partition("#")
    path = (page.parent / path_part).resolve() if path_part else page
    if not path.exists():
        return f"no file {os.path.relpath(path, REPO)}"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"no heading with anchor #{anchor} in {os.path.relpath(path, REPO)}"
    return None


def cited_file(name: str) -> Path:
    return REPO / ("README.md" if name.startswith("README") else name)


def citation_problem(name: str, section: str) -> str | None:
    path = cited_file(name)
    if not path.exists():
        return f"no file {os.path.relpath(path, REPO)}"
    if slug(section) not in anchors(path):
        headings = ", ".join(sorted(anchors(path)))
        return f"no section {section!r} in {os.path.relpath(path, REPO)} (its anchors: {headings})"
    return None


def code_files() -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [
            name for name in dirs
            if name not in SKIPPED_DIRS and (not name.startswith(".") or name in VISIBLE_DOT_DIRS)
        ]  # fmt: skip
        for name in files:
            path = Path(folder, name)
            if path.parent.name == ".ci" or any(path.match(pattern) for pattern in CODE_FILES):
                found.append(path)
    return [path for path in found if path != Path(__file__).resolve()]


def citations(text: str) -> list[tuple[int, str, str | None]]:
    """(line, file, section) for each citation in `text`; section None when only the file is named."""
    line = lambda match: text.count("\n", 0, match.start()) + 1  # noqa: E731
    found = [(line(m), m.group(1), m.group(2).strip()) for m in QUOTED.finditer(text)]
    found += [(line(m), m.group(1), m.group(2).strip()) for m in PARENTHESISED.finditer(text)]
    found += [(line(m), m.group(1), None) for m in DOC_FILE.finditer(text)]
    return found


def test_anchors_follow_githubs_rules():
    assert slug("What get_data refuses") == "what-get_data-refuses"
    assert slug("`make compose-test`") == "make-compose-test"
    assert slug("A full disk is the machine's failure, not a candidate's") == (
        "a-full-disk-is-the-machines-failure-not-a-candidates"
    )
    assert slug("Browse > MLflow") == "browse--mlflow"
    assert slug("a) A packaged virtualenv (venv-pack), built on Amazon Linux 2023") == (
        "a-a-packaged-virtualenv-venv-pack-built-on-amazon-linux-2023"
    )


def test_citations_are_found_in_each_form():
    text = (
        '# see docs/how-it-works.md, "Every wait is bounded".\n'
        "x = 1  # (README, Batch predictions)\n"
        '# the README\'s "Time to fail"; docs/tests.md\n'
    )
    assert citations(text) == [
        (1, "docs/how-it-works.md", "Every wait is bounded"),
        (3, "README", "Time to fail"),
        (2, "README", "Batch predictions"),
        (1, "docs/how-it-works.md", None),
        (3, "docs/tests.md", None),
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: os.path.relpath(page, REPO))
def test_every_link_of_the_readme_and_the_docs_points_at_a_file_and_heading_that_exist(page):
    problems = [
        f"{os.path.relpath(page, REPO)}:{number}: ({target}) {problem}"
        for number, line in outside_code(page)
        for target in LINK.findall(CODE_SPAN.sub("", line))
        if (problem := link_problem(page, target))
    ]
    assert not problems, "\n".join(problems)


def test_every_citation_of_the_docs_in_the_code_names_a_section_that_exists():
    problems, cited = [], 0
    for path in code_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for number, name, section in citations(text):
            cited += 1
            problem = citation_problem(name, section) if section else link_problem(REPO / "README.md", name)
            if problem:
                shown = f'{name}, "{section}"' if section else name
                problems.append(f"{os.path.relpath(path, REPO)}:{number}: {shown}: {problem}")
    assert cited, "no citation found at all: the patterns no longer match how the code cites the docs"
    assert not problems, "\n".join(problems)
