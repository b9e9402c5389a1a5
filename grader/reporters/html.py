"""One self-contained HTML page: score up front, failures first, every criterion with its evidence.

Measured values are shown exactly as the check reported them, followed by its unit
("62.5 % (threshold 80 %)"): a check that names the unit "%" reports 0-100, not a fraction.
Check and criterion scores (0-1) are shown out of 100, like the report's score. Scores are
rounded down, so a score just under the pass mark never reads as reaching it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined

from grader.model import OUTCOME_SEVERITY, CheckResult, CriterionResult, Distribution, Outcome, Report
from grader.reporters.json_report import scrub_surrogates

GAUGE_RADIUS = 52
GAUGE_CIRCUMFERENCE = 2 * math.pi * GAUGE_RADIUS

T = TypeVar("T", CriterionResult, CheckResult)


class HtmlReporter:
    """Renders the report page."""

    name = "html"
    suffix = ".html"

    def render(self, report: Report) -> str:
        """The whole page, escaped by jinja2's autoescape."""
        template = template_environment().get_template("report.html.j2")
        return scrub_surrogates(template.render(report=report, outcomes=OUTCOME_SEVERITY))


@cache
def template_environment() -> Environment:
    """The jinja2 environment of every HTML page (report, class overview): autoescape, the formatting filters."""
    env = Environment(
        loader=PackageLoader("grader.reporters", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=number,
        points=points,
        score100=score_out_of_100,
        duration=duration,
        measure=measure,
        by_severity=by_severity,
        short_sha=short_sha,
    )
    env.globals.update(bar=bar, curve=curve, gauge_dash=gauge_dash, unmet_required=unmet_required, verdict=verdict)
    return env


def number(value: float) -> str:
    """A number with at most three decimals and thousands separators: 1,234.5, 0.625, 80."""
    if value != 0 and abs(value) < 0.001:
        return f"{value:.2e}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def floor_to(value: float, decimals: int) -> float:
    """Round down to ``decimals`` places."""
    factor = 10.0**decimals
    return math.floor(value * factor + 1e-9) / factor


def points(score: float | None) -> str:
    """A 0-100 score rounded down to one decimal, or '—' when there is none."""
    return "—" if score is None else number(floor_to(score, 1))


def score_out_of_100(score: float | None) -> str:
    """A check's or criterion's 0-1 score out of 100, or '—'."""
    return points(None if score is None else score * 100)


def duration(seconds: float) -> str:
    """'850 ms', '4.2 s' or '3 min 05 s'."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def with_unit(value: float, unit: str) -> str:
    """'62.5 %', '412 ms', or the bare number when there is no unit."""
    return f"{number(value)} {unit}" if unit else number(value)


def measure(check: CheckResult) -> str:
    """What was measured, against the threshold: '62.5 % (threshold 80 %)'; '' if nothing was."""
    if check.value is None:
        return ""
    text = with_unit(check.value, check.unit)
    if check.threshold is None:
        return text
    return f"{text} (threshold {with_unit(check.threshold, check.unit)})"


def plain_details(check: CheckResult, remedy: bool = True) -> str:
    """Plain text for text-only formats: the measurement, the evidence (locations, details), how to fix it."""
    lines = []
    if measured := measure(check):
        lines.append(f"measured: {measured}")
    for evidence in check.evidence:
        lines.append(f"- {evidence.message}" + (f" ({evidence.location})" if evidence.location else ""))
        if evidence.detail:
            lines += [f"    {line}" for line in evidence.detail.splitlines()]
    if remedy and check.remediation:
        lines.append(f"How to fix: {check.remediation}")
    return "\n".join(lines)


def by_severity(items: Iterable[T]) -> list[T]:
    """Worst outcome first, keeping the curriculum's order among equals."""
    return sorted(items, key=lambda item: OUTCOME_SEVERITY.index(item.outcome))


def short_sha(commit: str) -> str:
    """The first ten hex digits, as in evidence locations."""
    return commit[:10]


@dataclass(frozen=True, slots=True)
class Bar:
    """A horizontal bar: the value's and the threshold's positions, in percent of the width."""

    value_pct: float
    threshold_pct: float


def bar(check: CheckResult) -> Bar | None:
    """The bar for a check that has both a value and a threshold, else None."""
    if check.value is None or check.threshold is None:
        return None
    value, threshold = max(check.value, 0.0), max(check.threshold, 0.0)
    top = max(value, threshold)
    full = 100.0 if check.unit == "%" and top <= 100 else (top * 1.25 or 1.0)
    marker = min(max(threshold / full * 100, 0.5), 99.5)  # keep the whole marker line inside the bar
    return Bar(round(value / full * 100, 2), round(marker, 2))


# The drawing area of a distribution chart inside its SVG viewBox (0 0 CHART_W CHART_H).
CHART_W, CHART_H, CHART_LEFT, CHART_BOTTOM, CHART_TOP = 600, 190, 44, 160, 8


@dataclass(frozen=True, slots=True)
class Curve:
    """A cumulative distribution laid out in SVG coordinates: its polyline, markers and axis ticks."""

    points: str  # "x,y x,y ..." for <polyline>
    threshold_x: float | None
    threshold_label: str
    quantile_y: float | None
    quantile_label: str
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]


def curve(dist: Distribution) -> Curve | None:
    """Lay out a cumulative distribution: x up to past the threshold and the 99th percentile, y 0-100 %."""
    if not dist.points:
        return None
    p99 = next((x for x, y in dist.points if y >= 0.99), dist.points[-1][0])
    x_max = max(p99, (dist.threshold or 0.0) * 1.25, 1e-9)
    width, height = CHART_W - CHART_LEFT - 10, CHART_BOTTOM - CHART_TOP

    def x_of(value: float) -> float:
        return round(CHART_LEFT + min(value, x_max) / x_max * width, 1)

    def y_of(fraction: float) -> float:
        return round(CHART_BOTTOM - fraction * height, 1)

    line = [(x_of(0.0), y_of(0.0)), *((x_of(x), y_of(y)) for x, y in dist.points)]
    threshold = dist.threshold
    return Curve(
        points=" ".join(f"{x},{y}" for x, y in line),
        threshold_x=None if threshold is None else x_of(threshold),
        threshold_label="" if threshold is None else f"limit {number(threshold)} {dist.unit}",
        quantile_y=None if dist.quantile is None else y_of(dist.quantile),
        quantile_label="" if dist.quantile is None else f"{number(dist.quantile * 100)} %",
        x_ticks=tuple((x_of(x_max * i / 4), f"{number(round(x_max * i / 4))} {dist.unit}") for i in range(5)),
        y_ticks=tuple((y_of(f), f"{round(f * 100)} %") for f in (0.0, 0.5, 1.0)),
    )


def gauge_dash(score: float | None) -> str:
    """The stroke-dasharray that fills the score gauge's ring to ``score`` percent."""
    filled = GAUGE_CIRCUMFERENCE * min(max(score or 0.0, 0.0), 100.0) / 100
    return f"{filled:.2f} {GAUGE_CIRCUMFERENCE:.2f}"


def unmet_required(report: Report) -> list[CriterionResult]:
    """The required criteria that failed: each one fails the phase whatever the score."""
    return [c for c in report.criteria if c.required and c.outcome is Outcome.FAIL]


def verdict(report: Report) -> str:
    """'incomplete', 'passed' or 'failed': the CSS class and label of the result."""
    if report.incomplete:
        return "incomplete"
    return "passed" if report.passed else "failed"
