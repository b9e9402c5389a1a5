"""Small real git repositories of source files, read through the `repo` probe as every probe reads them."""

from __future__ import annotations

from pathlib import Path

from grader.facts import FactStore, ProbeContext
from grader.probes.repo import RepoFacts, repo_facts
from grader.project_config import ProjectConfig
from tests.probes.gitrepo import commit, init


def repo_with(root: Path, files: dict[str, str]) -> RepoFacts:
    """A one-commit git repository holding `files`, as the `repo` probe sees it."""
    contents: dict[str | bytes, str | bytes] = {name: text for name, text in files.items()}
    commit(init(root), "learner's work", contents)
    return read_repo(root)


def read_repo(root: Path) -> RepoFacts:
    """The `repo` fact of an existing directory."""
    store = FactStore({}, lambda s: ProbeContext(root, ProjectConfig(), root, s, 10))
    return repo_facts(ProbeContext(root, ProjectConfig(), root, store, 10))
