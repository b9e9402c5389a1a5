"""End to end: platform-good and platform-flawed, built into real git repositories, graded at phases 6, 7 and 9."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from grader.api import grade
from grader.model import CheckResult, GradeRequest, Outcome, Report
from tests.conftest import require_tool

pytestmark = pytest.mark.slow

OUR_CHECKS = {
    6: ("design.docs",),
    7: ("obs.error_tracking", "obs.alerts", "obs.dashboards", "tests.layers"),
    9: ("infra.iac", "infra.ha", "infra.backups", "infra.budget"),
}


@pytest.fixture(scope="module")
def reports(built_fixture: Callable[[str], Path]) -> dict[tuple[str, int], Report]:
    """Each platform fixture graded once per phase, on this issue's checks only (nothing is installed or started)."""
    require_tool("node")  # Mermaid's own parser runs in Node (installed with npm on first use)
    return {
        (name, phase): grade(GradeRequest(path=built_fixture(name), phase=phase, only=checks))
        for name in ("platform-good", "platform-flawed")
        for phase, checks in OUR_CHECKS.items()
    }


def results(report: Report) -> dict[str, list[CheckResult]]:
    """Check id -> its results in the report, in criterion order."""
    out: dict[str, list[CheckResult]] = {}
    for criterion in report.criteria:
        for result in criterion.checks:
            out.setdefault(result.check_id, []).append(result)
    return out


def test_the_good_platform_passes_every_check_of_phases_6_7_and_9(reports: dict[tuple[str, int], Report]) -> None:
    for phase, checks in OUR_CHECKS.items():
        by_id = results(reports["platform-good", phase])
        outcomes = {cid: [r.outcome for r in by_id[cid]] for cid in checks}
        summaries = {cid: [r.summary for r in by_id[cid]] for cid in checks}
        assert all(o == [Outcome.PASS] * len(o) for o in outcomes.values()), summaries
    designs = results(reports["platform-good", 6])["design.docs"]
    assert len(designs) == 2 and [r.value for r in designs] == [5, 5]  # in full, and for scalability
    assert any("Mermaid's own parser" in e.message for e in designs[0].evidence)


def evidence_at(result: CheckResult) -> list[str]:
    return [f"{e.message} @ {e.location}" for e in result.evidence]


def test_the_flawed_platform_fails_each_flaw_with_evidence(reports: dict[tuple[str, int], Report]) -> None:
    designs = results(reports["platform-flawed", 6])["design.docs"]
    full, scalability = designs
    assert (full.outcome, full.value, full.score) == (Outcome.FAIL, 1, pytest.approx(0.52))
    assert "Rate Limiter: missing a Trade-offs section @ docs/system-design.md:41" in evidence_at(full)
    broken = [e for e in full.evidence if "does not parse" in e.message]
    assert len(broken) == 1 and str(broken[0].location) == "docs/system-design.md:73"
    assert (scalability.outcome, scalability.value, scalability.score) == (Outcome.FAIL, 3, pytest.approx(0.6))

    phase7 = {cid: found[0] for cid, found in results(reports["platform-flawed", 7]).items()}
    sentry = phase7["obs.error_tracking"]
    assert (sentry.outcome, sentry.score) == (Outcome.FAIL, pytest.approx(2 / 3))
    literal = "@sentry/node initialised; DSN from literal: 'https://***@o0.ingest.sentry.io/0' @ src/app.js:7"
    assert literal in evidence_at(sentry)
    assert (phase7["obs.alerts"].outcome, phase7["obs.alerts"].score) == (Outcome.FAIL, 0.5)
    unknown = "alert TooManyErrors queries http_request_errors_total, which nothing in the repository defines"
    assert f"{unknown} @ monitoring/alerts.yml:9" in evidence_at(phase7["obs.alerts"])
    assert (phase7["obs.dashboards"].outcome, phase7["obs.dashboards"].score) == (Outcome.FAIL, 0.0)
    assert (phase7["tests.layers"].outcome, phase7["tests.layers"].summary) == (
        Outcome.FAIL,
        "no integration and no end-to-end tests",
    )

    phase9 = {cid: found[0] for cid, found in results(reports["platform-flawed", 9]).items()}
    assert all(phase9[cid].outcome is Outcome.FAIL for cid in OUR_CHECKS[9]), {c: r.summary for c, r in phase9.items()}
    assert any(str(e.location) == "infra/cdn.tf:14" for e in phase9["infra.iac"].evidence)
    assert "subnets in 1 availability zone(s); a multi-AZ setup needs 2+ @ None" in evidence_at(phase9["infra.ha"])
    assert phase9["infra.backups"].score == 0.0 and phase9["infra.budget"].score == 0.0
    assert not reports["platform-flawed", 9].passed
