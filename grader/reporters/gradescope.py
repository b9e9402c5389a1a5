"""Gradescope autograder results, exactly in the ``results.json`` format Gradescope documents.

Gradescope reads ``/autograder/results/results.json``. ``grade --format gradescope`` names the file
like every other format, ``grade-<project>-phase<N>.gradescope.json`` (a plain ``.json`` suffix would
overwrite the canonical JSON report of the same run); the instructor's ``run_autograder`` script (or
the Action) copies it to ``/autograder/results/results.json``. :meth:`GradescopeReporter.render`
returns exactly that file's text.

Points: the criteria that count towards the score share 100 points in proportion to their
weights, and each one's points are shared among its scored checks in proportion to the checks'
weights, so the tests' ``max_score`` sum to 100 and their ``score`` to ``report.score``
(which is also the top-level ``score``). Errors, manual, not-run and not-applicable results are
listed with ``max_score`` 0 and an output saying why they carry no points.
"""

from __future__ import annotations

import json
import math
from typing import Any

from grader.model import CheckResult, CriterionResult, Outcome, Report
from grader.reporters.html import plain_details, points, verdict
from grader.reporters.json_report import scrub_surrogates

_UNSCORED_WHY = {
    Outcome.ERROR: "not scored: the grader failed to judge this (not the learner's fault)",
    Outcome.MANUAL: "not scored: a person judges this",
    Outcome.NOT_RUN: "not scored: this check could not run here",
    Outcome.NOT_APPLICABLE: "not scored: this does not apply to the project",
}


class GradescopeReporter:
    """Renders Gradescope's results.json."""

    name = "gradescope"
    suffix = ".gradescope.json"  # not ".json": it would overwrite the canonical JSON report of the same run

    def render(self, report: Report) -> str:
        """Pretty-printed results.json, UTF-8 safe."""
        return scrub_surrogates(json.dumps(to_results(report), indent=2, ensure_ascii=False)) + "\n"


def to_results(report: Report) -> dict[str, Any]:
    """The results as plain data."""
    shares = criterion_points(report)
    tests = [
        test
        for number, criterion in enumerate(report.criteria, 1)
        for test in _tests(number, criterion, shares.get(number - 1, 0.0))
    ]
    return {
        "score": _round(report.score or 0.0),
        "max_score": 100.0,
        "execution_time": max(0, round(report.duration_s)) if math.isfinite(report.duration_s) else 0,
        "output": _summary(report),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {
            "grader_version": report.grader_version,
            "phase": report.phase,
            "project": report.target.name,
            "path": report.target.path,
            "commit": report.target.commit,
            "passed": report.passed,
            "incomplete": report.incomplete,
        },
        "tests": tests,
    }


def criterion_points(report: Report) -> dict[int, float]:
    """Points out of 100 for each criterion that counts towards the score, by index (as phase_score counts)."""
    counted = {
        i: c.weight
        for i, c in enumerate(report.criteria)
        if c.weight > 0 and c.outcome.scored and c.score is not None and _scored_checks(c)
    }
    total = sum(counted.values())
    return {i: 100 * w / total for i, w in counted.items()} if total > 0 else {}


def _scored_checks(criterion: CriterionResult) -> list[CheckResult]:
    """The checks whose scores make up the criterion's score."""
    return [k for k in criterion.checks if k.outcome.scored and k.weight > 0 and k.score is not None]


def _tests(number: int, criterion: CriterionResult, share: float) -> list[dict[str, Any]]:
    """The criterion's test entries: one per check, or one for a criterion without checks."""
    if not criterion.checks:
        why = _UNSCORED_WHY.get(criterion.outcome, "not scored")
        reason = criterion.manual_reason or ("not yet automated" if criterion.outcome is Outcome.NOT_RUN else "")
        return [_test(f"{number}.1", criterion.text, 0.0, 0.0, None, f"{why}. {reason}".strip(), [])]
    scored = _scored_checks(criterion)
    weights = sum(k.weight for k in scored)
    tests = []
    for sub, check in enumerate(criterion.checks, 1):
        counted = share > 0 and check in scored
        max_points = share * check.weight / weights if counted else 0.0
        earned = max_points * min(max(check.score or 0.0, 0.0), 1.0)
        output = _output(check) if check.outcome.scored else f"{_UNSCORED_WHY[check.outcome]}.\n{_output(check)}"
        status = {Outcome.PASS: "passed", Outcome.WARN: "passed", Outcome.FAIL: "failed", Outcome.ERROR: "failed"}
        name = f"{criterion.text}: {check.title}"
        tests.append(_test(f"{number}.{sub}", name, earned, max_points, status.get(check.outcome), output,
                           [check.check_id]))  # fmt: skip
    return tests


def _test(
    number: str, name: str, score: float, max_score: float, status: str | None, output: str, tags: list[str]
) -> dict[str, Any]:
    """One Gradescope test entry (no status for unscored ones: Gradescope then shows no pass or fail)."""
    test: dict[str, Any] = {
        "name": name,
        "number": number,
        "score": _round(score),
        "max_score": _round(max_score),
        "output": output,
        "visibility": "visible",
        "tags": tags,
    }
    if status is not None:
        test["status"] = status
    return test


def _output(check: CheckResult) -> str:
    """Summary, measurement, evidence lines, then how to fix it."""
    details = plain_details(check, remedy=check.outcome is not Outcome.ERROR)
    return f"{check.outcome.label.upper()}: {check.summary}" + (f"\n{details}" if details else "")


def _summary(report: Report) -> str:
    """A short summary of the whole submission."""
    text = (
        f"grade {report.grader_version}: {report.phase_title} of {report.curriculum}: "
        f"{points(report.score)}/100 (pass mark {points(report.pass_mark)}), {verdict(report).upper()}."
    )
    if report.incomplete:
        text += " Some checks failed because of the grader (marked ERROR); the score is not final."
    return text


def _round(value: float) -> float:
    """Points to four decimals (finite)."""
    return round(value, 4) if math.isfinite(value) else 0.0
