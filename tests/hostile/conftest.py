"""Hostile submissions graded for real: builders, a canary token, and the checks that nothing leaked or survived."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import grader
import grader.api
from fixtures.hostile.build import build_case
from grader.api import grade
from grader.isolation import Isolation, Limits, bwrap_problem, open_isolation
from grader.model import GradeRequest, Report
from grader.reporters import write_reports
from tests.conftest import require
from tests.containers.conftest import docker_host  # noqa: F401  # the engine for --isolation docker

CANARY = "ghp_canaryTokenThatMustNeverLeak0123456789"
SECRET_VARS = ("GITHUB_TOKEN", "GH_TOKEN", "NPM_TOKEN", "ACTIONS_RUNTIME_TOKEN", "AWS_SECRET_ACCESS_KEY", "MY_SECRET")
NEIGHBOUR_SECRET = "neighbour-secret-5f1c"
TEST_LIMITS = Limits(processes=128)  # gentler than the default on a shared machine; the fork bomb reaches it
GRADER_DIR = Path(grader.__file__).resolve().parent  # the grader's install: nothing may appear in it


@dataclass
class Graded:
    """One hostile submission graded: the report, its files, and the run's isolation."""

    report: Report
    reports: list[Path]
    isolation: Isolation
    texts: list[str] = field(default_factory=list)

    def check(self, check_id: str) -> tuple[str, str, str]:
        """(outcome, summary, evidence text) of one check."""
        for criterion in self.report.criteria:
            for result in criterion.checks:
                if result.check_id == check_id:
                    evidence = "\n".join(f"{e.message}\n{e.detail or ''}" for e in result.evidence)
                    return result.outcome.value, result.summary, evidence
        raise AssertionError(f"{check_id} was not judged")


@dataclass
class Workbench:
    """Where hostile cases are built and graded, and what they try to reach."""

    root: Path
    reports: Path
    neighbour: Path
    isolations: list[Isolation]

    def build(self, case: str, **values: str) -> Path:
        """Materialise a case as a git repository (its placeholders filled with this bench's paths)."""
        defaults = {
            "GRADER_DIR": str(GRADER_DIR),
            "REPORTS_DIR": str(self.reports),
            "NEIGHBOUR_DIR": str(self.neighbour),
        }
        return build_case(case, self.root / case, {**defaults, **values})

    def grade(self, project: Path, *only: str, isolation: str = "auto", **kw: object) -> Graded:
        """Grade with only these checks, write the HTML and JSON reports, and check nothing was left behind."""
        before = len(self.isolations)
        request = GradeRequest(path=project, phase=1, only=only, isolation=isolation, **kw)  # type: ignore[arg-type]
        report = grade(request)
        paths = write_reports(report, self.reports, ("html", "json"))
        (used,) = self.isolations[before:]
        graded = Graded(report, paths, used, [p.read_text(encoding="utf-8") for p in paths])
        assert_nothing_left(graded)
        return graded


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workbench]:
    """A workbench; the grader's environment carries canary secrets, and every isolation used is recorded."""
    for name in SECRET_VARS:
        monkeypatch.setenv(name, CANARY)
    neighbour = tmp_path / "neighbour-submission"
    neighbour.mkdir()
    (neighbour / "secret.txt").write_text(NEIGHBOUR_SECRET + "\n", encoding="utf-8")
    reports = tmp_path / "reports"
    reports.mkdir()
    used: list[Isolation] = []

    @contextlib.contextmanager
    def recording(level: str, limits: Limits | None = None) -> Iterator[Isolation]:
        with open_isolation(level, limits or TEST_LIMITS) as isolation:
            used.append(isolation)
            yield isolation

    monkeypatch.setattr(grader.api, "open_isolation", recording)
    before = set(GRADER_DIR.iterdir())
    yield Workbench(tmp_path / "submissions", reports, neighbour, used)
    planted = set(GRADER_DIR.iterdir()) - before
    for path in planted:
        path.unlink()
    assert not planted, f"a submission wrote into the grader's install: {planted}"


def assert_nothing_left(graded: Graded) -> None:
    """No learner process survives, no secret or neighbour's file is in a report, only reports were written."""
    assert not left_running(graded.isolation), "a learner process outlived the grading"
    for text in graded.texts:
        assert CANARY not in text
        assert NEIGHBOUR_SECRET not in text
        assert "root:x:0:0" not in text  # /etc/passwd
    folder = graded.reports[0].parent
    assert {p.name for p in folder.iterdir()} >= {p.name for p in graded.reports}
    assert all(p.name.startswith("grade-") for p in folder.iterdir()), list(folder.iterdir())
    json.loads(graded.texts[[p.suffix for p in graded.reports].index(".json")])


def left_running(isolation: Isolation, grace_s: float = 2.0) -> list[int]:
    """The run's processes still alive after a short grace (SIGKILLed processes take a moment to go)."""
    deadline = time.monotonic() + grace_s
    while (found := processes_of(isolation)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def processes_of(isolation: Isolation) -> list[int]:
    """Live processes started for this run: their environment names the run's private folder."""
    marker = str(isolation.home).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            if stat[stat.rfind(")") + 2] not in "ZX" and marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
    return found


def require_bwrap() -> None:
    """Skip (locally) or fail (CI) when bubblewrap cannot confine commands here."""
    problem = bwrap_problem()
    require(problem is None, f"bubblewrap is not usable here: {problem}")


def traversable_dir() -> Path:
    """A fresh folder under the system temp dir that the sandbox user can get through (pytest's tmp is 0700)."""
    return Path(tempfile.mkdtemp(prefix="grade-hostile-"))
