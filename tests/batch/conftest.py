"""A small class of real submissions, graded once per session with a fast check selection."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fixtures.build import fixture_dir
from grader.batch.roster import load_roster
from grader.batch.runner import BatchRun, BatchSettings, run_batch
from grader.model import GradeRequest
from tests.probes.gitrepo import git, init

# Checks that read only the repository: a whole submission grades in a few seconds.
FAST_CHECKS = ("repo.readme", "secrets.history", "repo.gitignore")


def batch_settings(out: Path, **changes: Any) -> BatchSettings:
    """Phase 1 with the fast checks, two at a time."""
    request = GradeRequest(path=Path("."), phase=1, only=FAST_CHECKS)
    return replace(BatchSettings(request=request, out=out, jobs=2, timeout_s=120.0), **changes)


def clone(repo: Path, dest: Path) -> Path:
    """A git clone of a built fixture (which stays untouched)."""
    git(dest.parent, "clone", "-q", str(repo), dest.name)
    return dest


def processes_with(marker: str) -> list[str]:
    """Command lines of the live processes whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.fixture(scope="session")
def class_folder(built_fixture: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice and bob: git repositories; carol: a plain folder (with a link out of it and a FIFO);
    dan: a repository without a commit; erin: a folder whose grade.toml is malformed."""
    root = tmp_path_factory.mktemp("class")
    clone(built_fixture("python-flask"), root / "alice")
    clone(built_fixture("express-flawed"), root / "bob")
    carol = root / "carol"
    shutil.copytree(fixture_dir("python-flask"), carol)
    (carol / "stolen").symlink_to("/etc/passwd")
    os.mkfifo(carol / "pipe")
    init(root / "dan")
    erin = root / "erin"
    erin.mkdir()
    (erin / "README.md").write_text("# erin\n")
    (erin / "grade.toml").write_text("[service\nstart = \n")
    return root


@pytest.fixture(scope="session")
def graded_class(class_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> BatchRun:
    """The class graded once; its outputs are in `run.outputs[0].parent`."""
    out = tmp_path_factory.mktemp("batch-out")
    return run_batch(load_roster(class_folder), batch_settings(out), quiet=True)
