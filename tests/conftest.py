"""Shared test helpers: tools that may be missing, and fixture repositories built at test time."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.build import build_repo

REPO_ROOT = Path(__file__).resolve().parent.parent


def in_ci() -> bool:
    """True under CI, where a missing tool is a failure, not a skip."""
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip the test locally when `condition` is false; fail it under CI=true."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """The path of an executable, or skip (locally) / fail (CI) naming it."""
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def fixture_repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every sample learner project, built once per session into a real git repository."""
    base = tmp_path_factory.mktemp("fixture-repos")
    names = ("express-good", "express-flawed", "python-flask")
    return {name: build_repo(name, base / name) for name in names}


@pytest.fixture(scope="session")
def built_fixture(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Build any sample learner project into a real git repository on first use (once per session)."""
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            built[name] = build_repo(name, tmp_path_factory.mktemp("fixture") / name)
        return built[name]

    return build


@pytest.fixture(autouse=True)
def _not_inside_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that want GitHub Actions behaviour set it themselves; a CI runner's own variables must not leak in."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
