"""Testing checks: the suite passes, enough real tests, coverage, and tests that assert something."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks._evidence import capped, display, line_ranges
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.test_static import TestInventory
from grader.probes.testsuite import TestRun
from grader.scoring import ratio_credit


def _did_not_run(run: TestRun) -> Verdict:
    """The verdict when the suite could not produce results: why, with the log tail."""
    detail = run.log_tail or None
    evidence = (*tuple(Evidence(f"ran: {cmd}") for cmd in run.commands), Evidence(run.reason, detail=detail))
    if run.status == "unsupported" and run.language is not None:
        return Verdict.not_run(f"not run: {run.reason}", evidence=evidence)
    return Verdict.failed(f"tests did not run: {run.reason}", evidence=evidence)


@check(
    "tests.pass",
    title="The test suite runs and every test passes",
    requires=("tests.run",),
    remediation="Run the tests locally with the command shown in the evidence, fix each failing test "
    "(or the code it exposes), and make sure a fresh `npm ci && npm test` (or `pip install -r requirements.txt "
    "&& pytest`) works from a clean clone.",
)
def tests_pass(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Installs the dependencies from the lockfile, runs the suite in a fresh copy and counts results."""
    run = facts.get("tests.run", TestRun)
    if run.status != "ran":
        return _did_not_run(run)
    found = run.found
    if found == 0 or run.passed == 0:
        return Verdict.failed(f"the {run.runner} run found no passing test", evidence=(Evidence(run.reason),))
    summary = f"{run.passed} passed, {run.failed} failed, {run.skipped} skipped ({run.runner}, {run.duration_s:.1f} s)"
    if run.failed == 0:
        return Verdict.passed(summary, value=run.passed, unit="tests")
    failures = [c for c in run.cases if c.status == "failed"]
    evidence = capped(
        (
            Evidence(f"failed: {display(c.name)}", Location(display(c.file), c.line) if c.file else None, c.message)
            for c in failures
        ),
        len(failures),
        "failing tests",
    )
    return Verdict.failed(
        summary,
        score=run.passed / (run.passed + run.failed),
        value=run.failed,
        threshold=0,
        unit="failing tests",
        evidence=evidence,
    )


@check(
    "tests.count",
    title="At least {min} passing tests that assert something",
    requires=("tests.run", "tests.static"),
    defaults={"min": 50},
    threshold="min",
    remediation="Write more tests for the critical paths (each route's success and error cases, auth, "
    "validation). Every test must assert something: tests without assertions are not counted.",
)
def tests_count(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Counts passing tests, minus the tests that assert nothing (found by reading the test files)."""
    run = facts.get("tests.run", TestRun)
    inventory = facts.get("tests.static", TestInventory)
    minimum = int(options["min"])
    if run.status != "ran":
        verdict = _did_not_run(run)
        return (
            verdict
            if not verdict.outcome.scored
            else Verdict.failed(
                f"0 of {minimum} passing tests: {run.reason}",
                value=0,
                threshold=minimum,
                unit="tests",
                evidence=verdict.evidence,
            )
        )
    empty = len(inventory.empty)
    counted = max(0, run.passed - empty)
    summary = f"{counted} passing tests that assert something (threshold {minimum})"
    evidence = (Evidence(f"{run.passed} tests passed; {empty} test(s) assert nothing and are not counted"),)
    kw: dict[str, Any] = {"value": counted, "threshold": minimum, "unit": "tests", "evidence": evidence}
    if counted >= minimum:
        return Verdict.passed(summary, **kw)
    return Verdict.failed(summary, score=ratio_credit(counted, minimum), **kw)


@check(
    "tests.coverage",
    title="Line coverage is at least {min:.0%}",
    requires=("tests.run",),
    defaults={"min": 0.80},
    threshold="min",
    remediation="Add tests that exercise the files with the least coverage (listed with their uncovered "
    "lines). Coverage is measured by the grader while your tests run; a committed coverage report is ignored.",
)
def tests_coverage(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Measures line coverage of the project's source files while the grader runs the suite."""
    run = facts.get("tests.run", TestRun)
    minimum = float(options["min"])
    if run.status != "ran":
        return _did_not_run(run)
    ratio = run.line_coverage
    if ratio is None or run.coverage is None:
        return Verdict.not_run(
            f"not run: coverage could not be measured for {run.runner}", evidence=tuple(Evidence(n) for n in run.notes)
        )
    files = sorted(run.coverage, key=lambda f: (f.lines_covered / f.lines_total if f.lines_total else 1.0, f.path))
    worst = [f for f in files if f.lines_total and f.lines_covered < f.lines_total]
    evidence = capped(
        (
            Evidence(
                f"{f.lines_covered}/{f.lines_total} lines ({f.lines_covered / f.lines_total:.0%})",
                Location(display(f.path)),
                f"uncovered lines: {line_ranges(f.missing)}" if f.missing else None,
            )
            for f in worst
        ),
        len(worst),
        "files below 100%",
    )
    summary = f"{ratio:.1%} of lines covered across {len(files)} files (threshold {minimum:.0%})"
    kw: dict[str, Any] = {
        "value": round(ratio * 100, 1),
        "threshold": round(minimum * 100, 1),
        "unit": "%",
        "evidence": evidence,
    }
    if ratio >= minimum:
        return Verdict.passed(summary, **kw)
    return Verdict.failed(summary, score=ratio_credit(ratio, minimum), **kw)


@check(
    "tests.assertions",
    title="Every test asserts something",
    requires=("tests.static",),
    remediation="Give each listed test an assertion on the behaviour it exercises (e.g. "
    "`expect(res.status).toBe(201)` or `.expect(201)` with supertest, `assert response.status_code == 201` "
    "in pytest), or delete it. A test that asserts nothing passes whatever the code does.",
)
def tests_assertions(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads every test file and flags test cases whose body contains no assertion."""
    inventory = facts.get("tests.static", TestInventory)
    active = [t for t in inventory.tests if not t.skipped]
    notes = tuple(Evidence(f"could not parse {display(e)}") for e in inventory.parse_errors)
    if not active:
        return Verdict.failed("no test cases found in the repository", evidence=notes)
    empty = inventory.empty
    summary = f"{len(active) - len(empty)} of {len(active)} tests assert something"
    if not empty:
        return Verdict.passed(summary, evidence=notes)
    evidence = capped(
        (Evidence(f"no assertion in test {display(t.name)!r}", Location(display(t.file), t.line)) for t in empty),
        len(empty),
        "tests without assertions",
    )
    return Verdict.failed(
        summary,
        score=1 - len(empty) / len(active),
        value=len(empty),
        threshold=0,
        unit="tests without assertions",
        evidence=evidence + notes,
    )
