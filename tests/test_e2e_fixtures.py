"""End to end: the bundled learner projects, built into real git repositories, graded at phase 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.build import FAKE_SECRETS
from grader.api import grade
from grader.model import CheckResult, GradeRequest, Outcome, Report
from tests.conftest import require_tool

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reports(fixture_repos: dict[str, Path]) -> dict[str, Report]:
    """Each fixture graded once at phase 1 (the suites really install and run)."""
    require_tool("node")
    require_tool("npm")
    return {name: grade(GradeRequest(path=path, phase=1)) for name, path in fixture_repos.items()}


def results(report: Report) -> dict[str, CheckResult]:
    """Check id -> its first result in the report."""
    out: dict[str, CheckResult] = {}
    for criterion in report.criteria:
        for result in criterion.checks:
            out.setdefault(result.check_id, result)
    return out


OUR_CHECKS = (
    "tests.pass",
    "tests.count",
    "tests.coverage",
    "tests.assertions",
    "secrets.history",
    "repo.gitignore",
    "repo.env_example",
    "repo.readme",
    "repo.history",
)


def test_the_good_express_project_passes_every_check(reports: dict[str, Report]) -> None:
    report = reports["express-good"]
    by_id = results(report)
    assert {cid: by_id[cid].outcome for cid in OUR_CHECKS} == dict.fromkeys(OUR_CHECKS, Outcome.PASS), {
        cid: by_id[cid].summary for cid in OUR_CHECKS
    }
    assert by_id["tests.count"].value is not None and by_id["tests.count"].value >= 50
    assert by_id["tests.coverage"].value is not None and by_id["tests.coverage"].value > 85
    assert report.passed and report.score == 100.0 and not report.incomplete
    assert report.target.commit is not None and len(report.target.commit) == 40
    # Every criterion passes; schemathesis may leave an auth operation untested once the app's own
    # 20-per-15-minutes auth limit is spent by the grader's traffic, which is a warning, never a fail.
    outcomes = {c.text: c.outcome for c in report.criteria}
    assert set(outcomes.values()) <= {Outcome.PASS, Outcome.WARN}, outcomes
    assert all(c.outcome is Outcome.PASS or "rate limited" in str(c.checks) for c in report.criteria)


def test_the_flawed_express_project_fails_each_flaw_with_evidence(reports: dict[str, Report]) -> None:
    report = reports["express-flawed"]
    by_id = results(report)
    assert {cid: by_id[cid].outcome for cid in OUR_CHECKS} == dict.fromkeys(OUR_CHECKS, Outcome.FAIL)
    assert by_id["tests.pass"].value == 1  # exactly one failing test
    assert any(e.location and e.location.line for e in by_id["tests.pass"].evidence)
    empty = [e for e in by_id["tests.assertions"].evidence if e.message.startswith("no assertion")]
    assert len(empty) == 3 and all(e.location and e.location.line for e in empty)
    coverage = by_id["tests.coverage"].value
    assert coverage is not None and coverage < 80  # the committed 100% summary is ignored
    secrets = by_id["secrets.history"]
    assert any(e.location and e.location.commit for e in secrets.evidence)
    assert "deleted later" in " ".join(e.message for e in secrets.evidence)
    rendered = json.dumps([e.message + (e.detail or "") for e in secrets.evidence])
    assert all(value not in rendered for value in FAKE_SECRETS.values())
    assert ".env is tracked by git" in by_id["repo.env_example"].summary
    assert by_id["service.start"].outcome is Outcome.PASS
    for live_check in ("api.errors", "api.validation", "api.openapi"):
        result = by_id[live_check]
        assert result.outcome is Outcome.FAIL, (live_check, result.summary)
        assert any(e.detail and e.detail.startswith("> ") for e in result.evidence), live_check  # request shown
    assert not report.passed and report.score is not None and report.score < report.pass_mark


def test_the_python_project_runs_under_pytest_and_coverage(reports: dict[str, Report]) -> None:
    by_id = results(reports["python-flask"])
    assert by_id["tests.pass"].outcome is Outcome.PASS, by_id["tests.pass"].summary
    assert "pytest" in by_id["tests.pass"].summary
    assert by_id["tests.coverage"].outcome is Outcome.PASS
    assert by_id["tests.assertions"].outcome is Outcome.PASS
    assert by_id["tests.count"].outcome is Outcome.FAIL  # fewer than 50 tests, partial credit
    assert by_id["tests.count"].score is not None and 0 < by_id["tests.count"].score < 1


def test_the_cli_writes_reports_and_exits_by_verdict(fixture_repos: dict[str, Path], tmp_path: Path) -> None:
    require_tool("npm")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            fixture_repos["express-flawed"],
            "--phase",
            "1",
            "--out",
            tmp_path,
            "--format",
            "json,md,html",
            "--only",
            "secrets.history",
            "--only",
            "repo.readme",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 1, run.stderr
    assert "FAILED: phase 1" in run.stdout and "No secret was ever committed" not in run.stderr
    data = json.loads((tmp_path / "grade-express-flawed-phase1.json").read_text())
    assert {r["check_id"] for c in data["criteria"] for r in c["checks"]} == {"secrets.history", "repo.readme"}
    good = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            fixture_repos["express-good"],
            "--phase",
            "1",
            "--out",
            tmp_path,
            "-q",
            "--only",
            "repo.readme",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("PASSED: phase 1 100.0/100")


def test_a_service_that_crashes_at_start_gives_one_clear_failure_and_no_wall_of_errors(tmp_path: Path) -> None:
    require_tool("node")
    project = tmp_path / "crashy"
    project.mkdir()
    (project / "package.json").write_text(
        json.dumps({"name": "crashy", "scripts": {"start": "node server.js"}, "dependencies": {}})
    )
    (project / "package-lock.json").write_text(
        json.dumps({"name": "crashy", "lockfileVersion": 3, "requires": True, "packages": {"": {"name": "crashy"}}})
    )
    (project / "server.js").write_text("console.error('boom: cannot connect to database'); process.exit(3);\n")
    report = grade(GradeRequest(path=project, phase=1, only=("service.start", "api.crud", "auth.flow")))
    by_id = results(report)
    start = by_id["service.start"]
    assert start.outcome is Outcome.FAIL
    assert any("boom: cannot connect to database" in (e.detail or "") for e in start.evidence)
    for live in ("api.crud", "auth.flow"):
        assert by_id[live].outcome is Outcome.NOT_RUN
        assert by_id[live].summary.startswith("not run: service did not start")
    assert not report.passed and not report.incomplete
