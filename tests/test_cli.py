"""The CLI: exit codes, one-line errors without tracebacks, and the catalogue commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import __version__
from tests.probes.gitrepo import commit, init

ROOT = Path(__file__).resolve().parent.parent


def grade(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `python -m grader` as a user would."""
    env = {**os.environ, "COLUMNS": "200"}  # wide enough that rich does not wrap table cells
    return subprocess.run(
        [sys.executable, "-m", "grader", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/dir", "--phase", "1"], "path does not exist: /no/such/dir"),
        (["pyproject.toml", "--phase", "1"], "not a directory: pyproject.toml"),
        ([".", "--phase", "42"], "unknown phase 42"),
        ([".", "--phase", "one"], "argument --phase: invalid int value: 'one'"),
        ([".", "--phase", "1", "--only", "tests.cov"], "unknown check id 'tests.cov'"),
        ([".", "--phase", "1", "--format", "pdf"], "unknown format pdf"),
        ([".", "--phase", "1", "--set", "tests.coverage.minimum=1"], "has no option 'minimum'"),
        ([".", "--phase", "1", "--set", "oops"], "expected CHECK.OPTION=VALUE"),
        ([".", "--phase", "1", "--min-score", "120"], "--min-score must be between 0 and 100"),
        ([".", "--phase", "1", "--curriculum", "missing.toml"], "cannot read curriculum missing.toml"),
        (["."], "the following arguments are required: --phase"),
        (["explain", "tests.nope"], "unknown check id 'tests.nope'"),
        (["checks", "--phase", "11"], "unknown phase 11"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    assert_usage_error(grade(*args), message)


def test_a_curriculum_with_a_typo_in_a_check_id_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text(
        'name = "x"\n[[phase]]\nid = 1\ntitle = "t"\n[[phase.criterion]]\ntext = "t"\nchecks = ["tests.pas"]\n'
    )
    assert_usage_error(grade(".", "--phase", "1", "--curriculum", bad), "did you mean 'tests.pass'?")


def test_a_malformed_grade_toml_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "grade.toml").write_text("[tests]\ntimeout = -3\n")
    assert_usage_error(grade(tmp_path, "--phase", "0", "--out", tmp_path / "r"), "[tests] timeout must be a positive")


def test_version_checks_and_explain() -> None:
    assert grade("--version").stdout.strip() == f"grade {__version__}"
    listing = grade("checks", "--phase", "1")
    assert listing.returncode == 0
    for expected in ("50+ unit tests passing", "tests.count (min=50)", "service.start; api.crud", "Swagger docs"):
        assert expected in listing.stdout
    explained = grade("explain", "tests.coverage")
    assert explained.returncode == 0
    assert "threshold option: min" in explained.stdout and "How to fix a failure" in explained.stdout
    assert "phase 7: All projects >80% test coverage" in explained.stdout
    measured = grade("explain", "perf.latency_p95")
    assert measured.returncode == 0 and "phase 5: API response time < 200ms" in measured.stdout


def test_an_empty_directory_gets_an_honest_failing_report(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = grade(empty, "--phase", "1", "--out", tmp_path / "out", "--format", "json,md,html")
    assert result.returncode == 1, result.stderr
    assert "FAILED: phase 1" in result.stdout
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["grade-empty-phase1.html", "grade-empty-phase1.json", "grade-empty-phase1.md"]


def test_a_corrupted_git_directory_is_graded_without_a_crash(tmp_path: Path) -> None:
    repo = init(tmp_path / "p")
    commit(repo, "one", {"README.md": "# x", "package.json": '{"name": "p", "scripts": {}}'})
    (repo / ".git" / "HEAD").write_text("garbage")
    result = grade(repo, "--phase", "0", "--out", tmp_path / "out", "-q")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
