"""A realistic, hand-made report for the reporter tests (phase 1 of the default curriculum)."""

from __future__ import annotations

from dataclasses import replace

from grader.model import (
    SCHEMA_VERSION,
    CheckResult,
    CriterionResult,
    Distribution,
    Evidence,
    Location,
    Outcome,
    ProbeRecord,
    Report,
    Target,
)

COMMIT = "3f9c2b7e41d08a5c6e2f9b1d7a4c8e0f2b6d9a13"


def _not_yet_automated(check_id: str) -> CheckResult:
    """A planned check, as the runner reports it."""
    return CheckResult(check_id, check_id, Outcome.NOT_RUN, None,
                       "not yet automated: a later release of grade will judge this", 0.0)  # fmt: skip


def _tests_criterion() -> CriterionResult:
    """'50+ unit tests passing': required, and failing on three counts."""
    checks = (
        CheckResult(
            "tests.pass", "The test suite runs and every test passes", Outcome.FAIL, 40 / 43,
            "40 passed, 3 failed, 0 skipped (jest, 8.4 s)", 2.0, value=3, threshold=0, unit="failing tests",
            evidence=(
                Evidence("failed: POST /tasks rejects an empty title", Location("tests/tasks.test.js", 42),
                         "Expected: 400\nReceived: 201\n\n  at Object.<anonymous> (tests/tasks.test.js:47:28)"),
                Evidence("failed: GET /tasks/:id returns 404 for a missing task", Location("tests/tasks.test.js", 88)),
                Evidence("failed: login locks the account after 5 attempts", Location("tests/auth.test.js", 120)),
            ),
            remediation="Run the tests locally with `npm test`, fix each failing test (or the code it exposes).",
            duration_ms=1.8,
        ),
        CheckResult(
            "tests.count", "At least 50 passing tests that assert something", Outcome.FAIL, 0.62,
            "31 passing tests that assert something (threshold 50)", 2.0, value=31, threshold=50, unit="tests",
            evidence=(Evidence("40 tests passed; 9 test(s) assert nothing and are not counted"),),
            remediation="Write more tests for the critical paths (each route's success and error cases).",
            duration_ms=0.4,
        ),
        CheckResult(
            "tests.assertions", "Every test asserts something", Outcome.FAIL, 0.84,
            "6 of 37 tests assert nothing", 1.0, value=6, threshold=0, unit="tests without assertions",
            evidence=(
                Evidence("test 'creates a task' has no assertion", Location("tests/tasks.test.js", 12, COMMIT)),
                Evidence("test 'lists tasks' has no assertion", Location("tests/tasks.test.js", 25, COMMIT)),
            ),
            remediation="Give each listed test an assertion, e.g. `expect(res.status).toBe(201)`.",
            duration_ms=0.2,
        ),
    )  # fmt: skip
    return CriterionResult("50+ unit tests passing", "", "completion", Outcome.FAIL, 0.7881, 3.0, True, checks)


def _coverage_criterion() -> CriterionResult:
    """'Unit tests for critical paths': coverage below the threshold, with the worst files."""
    check = CheckResult(
        "tests.coverage", "Line coverage is at least 80%", Outcome.FAIL, 0.78125,
        "62.5% of lines covered across 14 files (threshold 80%)", 1.0, value=62.5, threshold=80.0, unit="%",
        evidence=(
            Evidence("12/41 lines (29%)", Location("src/routes/auth.js"), "uncovered lines: 14-30, 52, 60-71"),
            Evidence("30/52 lines (58%)", Location("src/middleware/validate.js"), "uncovered lines: 8-19, 33-42"),
            Evidence("44/61 lines (72%)", Location("src/routes/tasks.js"), "uncovered lines: 77-93"),
        ),
        remediation="Add tests that exercise the files with the least coverage (listed with their uncovered lines).",
        duration_ms=0.6,
    )  # fmt: skip
    return CriterionResult("Unit tests for critical paths", "Project: Complete Task Management API", "feature",
                           Outcome.FAIL, 0.78125, 1.0, False, (check,))  # fmt: skip


def _carried_criterion() -> CriterionResult:
    """'Push project to GitHub, add README': one check errored because a probe failed."""
    checks = (
        CheckResult("repo.history", "The project has a real commit history", Outcome.PASS, 1.0,
                    "27 commits over 9 days by 1 author", 1.0, value=27, threshold=5, unit="commits", duration_ms=0.1),
        CheckResult("repo.readme", "A README explains the project", Outcome.PASS, 1.0,
                    "README.md has 6 sections, including setup and usage", 1.0,
                    evidence=(Evidence("README found", Location("README.md")),), duration_ms=0.1),
        CheckResult("secrets.history", "No secrets anywhere in the history", Outcome.ERROR, None,
                    "could not gather facts: probe 'secrets.history' failed: scanner not found on PATH", 1.0),
    )  # fmt: skip
    return CriterionResult("Push project to GitHub, add README", "Day 6: Git & Deployment Basics", "carried",
                           Outcome.ERROR, None, 1.0, False, checks)  # fmt: skip


def _passing_criterion() -> CriterionResult:
    """A measured criterion that passes."""
    cdf = ((40.0, 0.1), (95.5, 0.5), (180.0, 0.9), (212.4, 0.95), (290.0, 0.99), (612.0, 1.0))
    chart = Evidence("p50 95.5 ms, p95 212.4 ms", distribution=Distribution("ms", cdf, threshold=300, quantile=0.95))
    latency = CheckResult("perf.p95", "p95 latency of GET /tasks is at most 300 ms", Outcome.PASS, 1.0,
                          "p95 212.4 ms over 2,000 requests", 1.0, value=212.4, threshold=300, unit="ms",
                          evidence=(chart,), duration_ms=0.3)  # fmt: skip
    return CriterionResult("API responds quickly under load", "Project: Complete Task Management API", "feature",
                           Outcome.PASS, 1.0, 1.0, False, (latency,))  # fmt: skip


def _warning_criterion() -> CriterionResult:
    """A criterion that counts but is worth a look."""
    env = CheckResult("repo.env_example", "Configuration is documented in .env.example", Outcome.WARN, 1.0,
                      ".env.example lacks 2 variables the code reads", 1.0,
                      evidence=(Evidence("process.env.JWT_SECRET is read but not documented",
                                         Location("src/config.js", 9)),),
                      remediation="List every variable the code reads in .env.example, with a safe example value.",
                      duration_ms=0.2)  # fmt: skip
    return CriterionResult("Configuration through environment variables", "", "feature", Outcome.WARN, 1.0, 1.0,
                           False, (env,))  # fmt: skip


def _unscored_criteria() -> tuple[CriterionResult, ...]:
    """Not yet automated, manual, and not applicable."""
    docker = CheckResult("docker.dockerfile", "The Dockerfile follows good practice", Outcome.NOT_APPLICABLE, None,
                         "no Dockerfile: this phase does not ask for one", 0.0)  # fmt: skip
    return (
        CriterionResult("All CRUD operations working", "", "completion", Outcome.NOT_RUN, None, 2.0, False,
                        (_not_yet_automated("api.crud"),)),
        CriterionResult("Auth flow secure", "", "completion", Outcome.MANUAL, None, 2.0, False,
                        manual_reason="Check that passwords are hashed with bcrypt or argon2 and tokens expire."),
        CriterionResult("Container image", "", "feature", Outcome.NOT_APPLICABLE, None, 1.0, False, (docker,)),
    )  # fmt: skip


def sample_report() -> Report:
    """Phase 1 of a learner's task API: 85.8/100, but a required criterion failed and one check errored."""
    return Report(
        schema_version=SCHEMA_VERSION,
        grader_version="0.4.0",
        curriculum="Backend Bootcamp to Pro Roadmap 2026",
        curriculum_sha256="9b74c9897bac770ffc029102a200c5de1e2f4e5c0d3a6a1e0b8f5d2c7e9a4b61",
        phase=1,
        phase_title="Phase 1: Solidify Foundations",
        target=Target("/home/ada/projects/task-api", "Ada's Task API", COMMIT, "main", True),
        started_at="2026-03-02T14:05:09+00:00",
        duration_s=23.71,
        score=85.8,
        pass_mark=70.0,
        passed=False,
        incomplete=True,
        criteria=(
            _passing_criterion(),
            _tests_criterion(),
            _coverage_criterion(),
            _carried_criterion(),
            _warning_criterion(),
            *_unscored_criteria(),
        ),
        probes=(
            ProbeRecord("repo.files", True, 41.2, notes=("142 files tracked, 3 ignored by .gitignore",)),
            ProbeRecord("repo.history", True, 512.9),
            ProbeRecord("tests.run", True, 8421.0, notes=("npm ci (package-lock.json)", "jest 29.7.0, coverage on")),
            ProbeRecord("secrets.history", False, 3.1, error="scanner not found on PATH"),
        ),
        plugin_errors=("grade-extra: ImportError: cannot import name 'check' from 'grader.plugin'",),
        options={"min_score": None, "only": [], "skip": ["perf.load"]},
    )


def hostile_report(payload: str) -> Report:
    """The sample with ``payload`` in every piece of learner-controlled text."""
    report = sample_report()
    evidence = (Evidence(f"message {payload}", Location(f"src/{payload}.js", 3, COMMIT), f"detail {payload}"),)
    criteria = tuple(
        replace(c, text=f"{c.text} {payload}",
                checks=tuple(replace(k, title=f"{k.title} {payload}", summary=f"{k.summary} {payload}",
                                     evidence=k.evidence + evidence) for k in c.checks))
        for c in report.criteria
    )  # fmt: skip
    target = replace(report.target, name=f"Task API {payload}", path=f"/home/ada/{payload}", branch=payload)
    probes = (*report.probes, ProbeRecord(f"probe {payload}", False, 1.0, error=payload, notes=(payload,)))
    return replace(report, target=target, criteria=criteria, probes=probes, plugin_errors=(payload,),
                   phase_title=f"Phase 1 {payload}")  # fmt: skip
