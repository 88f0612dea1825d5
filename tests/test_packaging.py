"""pyproject.toml states the same dependencies as the requirements files pip installs from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _normalized(requirement: str) -> tuple[str, str]:
    """(canonical name, bounds without spaces).

    'Pydantic_Settings >= 2.16, <3' -> ('pydantic-settings', '>=2.16,<3')
    """
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", requirement)
    assert match, requirement
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    return name, re.sub(r"\s+", "", match.group(2))


def _requirements(name: str) -> set[tuple[str, str]]:
    lines = (ROOT / name).read_text().splitlines()
    return {_normalized(line) for line in lines if line.strip() and not line.strip().startswith(("#", "-r"))}


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def test_project_dependencies_match_requirements_txt() -> None:
    dependencies = _project()["dependencies"]
    assert isinstance(dependencies, list)
    assert {_normalized(d) for d in dependencies} == _requirements("requirements.txt")


def test_the_dev_extra_matches_requirements_dev_txt() -> None:
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    assert {_normalized(d) for d in extras["dev"]} == _requirements("requirements-dev.txt")
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
