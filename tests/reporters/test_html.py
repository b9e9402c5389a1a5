"""The HTML page: escaped learner text, nothing fetched from anywhere, failures first, the facts up front."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from markupsafe import escape

from grader.model import OUTCOME_SEVERITY, CheckResult, Outcome
from grader.reporters.html import Bar, HtmlReporter, bar, duration, measure, number, points, score_out_of_100
from tests.reporters.sample import hostile_report, sample_report

PAYLOADS = (
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    '"><svg onload=alert(1)>',
)


def render_sample(**changes: object) -> str:
    """The sample report, with some fields replaced, as HTML."""
    return HtmlReporter().render(replace(sample_report(), **changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_learner_text_is_escaped_everywhere(payload: str) -> None:
    html = HtmlReporter().render(hostile_report(payload))
    assert payload not in html
    assert html.count(str(escape(payload))) >= 10  # name, path, branch, criteria, checks, evidence, probes...
    assert "<script" not in html.lower() and "<img" not in html.lower() and "<svg onload" not in html.lower()


def test_no_external_reference_of_any_kind() -> None:
    html = HtmlReporter().render(sample_report())
    assert "http://" not in html and "https://" not in html
    references = re.findall(r"""(?:src|href|action|xlink:href)\s*=\s*["']?([^"'\s>]*)""", html, re.I)
    references += re.findall(r"""url\(\s*["']?([^"')]*)""", html, re.I)
    assert all(ref.startswith("#") for ref in references), references
    assert "<link" not in html and "@import" not in html


def test_criteria_come_worst_first() -> None:
    report = sample_report()
    assert report.criteria[0].outcome is Outcome.PASS  # the curriculum's order is not the report's
    html = HtmlReporter().render(report)
    shown = [Outcome(o) for o in re.findall(r'<article class="criterion o-(\w+)"', html)]
    assert len(shown) == len(report.criteria)
    assert shown == sorted(shown, key=OUTCOME_SEVERITY.index)
    assert shown[0] is Outcome.ERROR and shown[-1] is Outcome.NOT_APPLICABLE


def test_checks_inside_a_criterion_come_worst_first() -> None:
    html = HtmlReporter().render(sample_report())
    carried = html[html.index("Push project to GitHub, add README") :]
    assert carried.index("No secrets anywhere in the history") < carried.index("The project has a real commit history")


def test_score_verdict_and_banners_up_front() -> None:
    html = HtmlReporter().render(sample_report())
    head = html[: html.index("Criteria by outcome")]
    assert 'id="score">85.8<' in head
    assert ">INCOMPLETE<" in head and "pass mark 70" in head
    assert 'id="incomplete"' in head
    assert "Required criterion not met:</strong> “50+ unit tests passing”" in head


@pytest.mark.parametrize(("passed", "label"), [(True, "PASSED"), (False, "FAILED")])
def test_verdict_of_a_complete_report(passed: bool, label: str) -> None:
    html = render_sample(incomplete=False, passed=passed)
    assert f'id="verdict">{label}<' in html
    assert 'id="incomplete"' not in html


def test_no_score_shows_a_dash() -> None:
    assert 'id="score">—<' in render_sample(score=None)


def test_commit_curriculum_and_run_facts() -> None:
    html = HtmlReporter().render(sample_report())
    for fact in ("/home/ada/projects/task-api", "<code>3f9c2b7e41</code>", "<code>main</code>",
                 "uncommitted changes", "sha256 9b74c9897bac", "grade 0.4.0", "2026-03-02T14:05:09+00:00",
                 "23.7 s", "Backend Bootcamp to Pro Roadmap 2026"):  # fmt: skip
        assert fact in html, fact
    assert "uncommitted changes" not in render_sample(target=replace(sample_report().target, dirty=False))


def test_counts_probes_and_plugin_errors() -> None:
    html = HtmlReporter().render(sample_report())
    assert '<li class="o-fail"><strong>2</strong>fail</li>' in html
    assert "<code>secrets.history</code></td>" in html and "scanner not found on PATH" in html
    assert "8.4 s" in html and "jest 29.7.0, coverage on" in html
    assert "ImportError: cannot import name &#39;check&#39;" in html


def test_evidence_measurement_and_remediation() -> None:
    html = HtmlReporter().render(sample_report())
    assert "Measured: 62.5 % (threshold 80 %)" in html
    assert "<code>tests/tasks.test.js:12 @ 3f9c2b7e41</code>" in html
    assert "<details><summary>Details</summary><pre>uncovered lines: 14-30, 52, 60-71</pre></details>" in html
    assert html.count('class="remedy"') == 5  # four failing checks and one warning, none for passing ones
    assert html.count('<svg class="bar"') == 6  # the checks with both a value and a threshold


def test_manual_and_not_yet_automated_criteria_say_why() -> None:
    html = HtmlReporter().render(sample_report())
    assert "For an instructor to check:</strong> Check that passwords are hashed" in html
    assert "not yet automated: a later release of grade will judge this" in html


@pytest.mark.parametrize(
    ("value", "threshold", "unit", "text"),
    [
        (62.5, 80.0, "%", "62.5 % (threshold 80 %)"),
        (212.4, 300, "ms", "212.4 ms (threshold 300 ms)"),
        (1234.5678, None, "", "1,234.568"),
        (None, 5, "tests", ""),
    ],
)
def test_measure_shows_value_and_threshold_as_given(
    value: float | None, threshold: float | None, unit: str, text: str
) -> None:
    check = CheckResult("x", "X", Outcome.FAIL, 0.0, "s", 1.0, value=value, threshold=threshold, unit=unit)
    assert measure(check) == text


def test_scores_round_down_so_they_never_reach_the_pass_mark_by_rounding() -> None:
    assert [points(s) for s in (85.8, 69.96, 100, None)] == ["85.8", "69.9", "100", "—"]
    assert [score_out_of_100(s) for s in (0.858, 0.7881, 1.0, None)] == ["85.8", "78.8", "100", "—"]


def test_number_and_duration_formats() -> None:
    assert [number(x) for x in (80, 0.625, 0.0001, 0)] == ["80", "0.625", "1.00e-04", "0"]
    assert [duration(s) for s in (0.85, 4.24, 185)] == ["850 ms", "4.2 s", "3 min 05 s"]


def test_bar_scales_percentages_to_100_and_other_units_to_the_larger_value() -> None:
    def check(value: float, threshold: float, unit: str) -> CheckResult:
        return CheckResult("x", "X", Outcome.PASS, 1.0, "s", 1.0, value=value, threshold=threshold, unit=unit)

    assert bar(check(62.5, 80, "%")) == Bar(62.5, 80.0)
    assert bar(check(200, 100, "ms")) == Bar(80.0, 40.0)
    assert bar(check(3, 0, "failing tests")) == Bar(80.0, 0.5)
    assert bar(CheckResult("x", "X", Outcome.PASS, 1.0, "s", 1.0, value=3)) is None
