"""`grade diff`: pure comparison of two reports, and the CLI on two JSON files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from grader.diff import classify, diff_reports
from grader.model import CheckResult, CriterionResult, Outcome, Report
from grader.reporters.json_report import to_dict
from tests.reporters.sample import sample_report
from tests.test_cli import assert_usage_error, grade


def _with_check(report: Report, check_id: str, **changes: object) -> Report:
    """The report with every occurrence of `check_id` changed."""
    criteria = tuple(
        replace(c, checks=tuple(replace(k, **changes) if k.check_id == check_id else k for k in c.checks))  # type: ignore[arg-type]
        for c in report.criteria
    )
    return replace(report, criteria=criteria)


def _without_check(report: Report, check_id: str) -> Report:
    criteria = tuple(replace(c, checks=tuple(k for k in c.checks if k.check_id != check_id)) for c in report.criteria)
    return replace(report, criteria=criteria)


def _newer() -> Report:
    """The sample a week later: coverage up, latency worse, one check gone, one new, a value-only change."""
    new = sample_report()
    new = _with_check(new, "tests.coverage", outcome=Outcome.PASS, score=1.0, value=84.0)
    new = _with_check(new, "perf.p95", outcome=Outcome.FAIL, score=0.5, value=450.0)
    new = _with_check(new, "repo.history", value=31)
    new = _without_check(new, "repo.env_example")
    lint = CheckResult("lint.eslint", "ESLint passes", Outcome.FAIL, 0.0, "12 problems", 1.0)
    extra = CriterionResult("Lint", "", "feature", Outcome.FAIL, 0.0, 1.0, False, (lint,))
    return replace(new, score=80.2, criteria=(*new.criteria, extra))


def test_identical_reports_have_no_changes() -> None:
    diff = diff_reports(sample_report(), sample_report())
    assert diff.changes == () and diff.warnings == () and diff.score_delta == 0.0


def test_changes_are_classified_and_sorted_worst_first() -> None:
    diff = diff_reports(sample_report(), _newer())
    assert diff.score_delta == -5.6
    assert [(c.kind, c.check_id) for c in diff.changes] == [
        ("worse", "perf.p95"),
        ("gone", "repo.env_example"),
        ("new", "lint.eslint"),
        ("changed", "repo.history"),
        ("better", "tests.coverage"),
    ]
    worse = diff.changes[0]
    assert worse.old is not None and worse.new is not None
    assert (worse.old.outcome, worse.new.outcome) == (Outcome.PASS, Outcome.FAIL)


def test_a_score_change_within_one_outcome_counts_and_value_only_changes_are_neutral() -> None:
    base = CheckResult("x", "x", Outcome.FAIL, 0.5, "s", 1.0, value=3)
    assert classify(base, replace(base, score=0.7)) == "better"
    assert classify(base, replace(base, score=0.2)) == "worse"
    assert classify(base, replace(base, value=4)) == "changed"
    assert classify(base, replace(base, summary="other words")) is None
    assert classify(base, replace(base, outcome=Outcome.ERROR, score=None)) == "worse"
    assert classify(None, base) == "new" and classify(base, None) == "gone"


def test_different_phases_and_curricula_are_warned_about() -> None:
    old = sample_report()
    diff = diff_reports(old, replace(old, phase=2, curriculum_sha256="ab" * 32))
    assert len(diff.warnings) == 2 and "different phases (1 and 2)" in diff.warnings[0]


def _write(path: Path, report: Report) -> Path:
    path.write_text(json.dumps(to_dict(report)), encoding="utf-8")
    return path


def test_the_cli_prints_the_score_change_and_the_checks(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.json", sample_report())
    new = _write(tmp_path / "new.json", _newer())
    result = grade("diff", old, new)
    assert result.returncode == 0, result.stderr
    assert "85.8 -> 80.2 (-5.6)" in result.stdout
    lines = result.stdout.splitlines()
    order = [next(i for i, line in enumerate(lines) if check_id in line) for check_id in ("perf.p95", "tests.coverage")]
    assert order == sorted(order)
    assert "pass -> fail" in result.stdout
    assert result.stderr == ""


def test_the_cli_warns_about_a_different_phase_but_still_compares(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.json", sample_report())
    new = _write(tmp_path / "new.json", replace(sample_report(), phase=2))
    result = grade("diff", old, new)
    assert result.returncode == 0
    assert "grade: warning: the reports grade different phases (1 and 2)" in result.stderr
    assert "No check changed." in result.stdout


def test_the_cli_rejects_what_is_not_a_comparable_report(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.json", sample_report())
    (tmp_path / "text.json").write_text("hello")
    (tmp_path / "other.json").write_text('{"name": "not a report"}')
    future = to_dict(sample_report()) | {"schema_version": "9.0"}
    (tmp_path / "future.json").write_text(json.dumps(future))
    broken = to_dict(sample_report())
    del broken["target"]
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    assert_usage_error(grade("diff", good, tmp_path / "missing.json"), "cannot read")
    assert_usage_error(grade("diff", tmp_path / "text.json", good), "not a grade report (not JSON)")
    assert_usage_error(grade("diff", good, tmp_path / "other.json"), "not a grade report")
    assert_usage_error(grade("diff", good, tmp_path / "future.json"), "schema mismatch")
    assert_usage_error(grade("diff", good, tmp_path / "broken.json"), "not a grade report (malformed")
    assert_usage_error(grade("diff", good), "the following arguments are required: new")
