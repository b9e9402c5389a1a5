"""A Markdown summary for ``$GITHUB_STEP_SUMMARY``: the verdict, a table of criteria, then the failures.

Every piece of text that comes from the report is escaped (:func:`text`, :func:`code`), so a
test name or evidence message cannot add links, images, HTML, tables or headings.
"""

from __future__ import annotations

import re

from grader.model import CheckResult, CriterionResult, Outcome, Report
from grader.reporters.html import (
    by_severity,
    duration,
    measure,
    number,
    points,
    score_out_of_100,
    unmet_required,
    verdict,
)
from grader.reporters.json_report import scrub_surrogates

FAILING = (Outcome.ERROR, Outcome.FAIL, Outcome.WARN)

_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$])")
_LEADING_BLOCK = re.compile(r"^([#+\-=])|^(\d+)([.)])(?=\s|$)")
_LINE_BREAKS = re.compile(r"\s*[\r\n\t\f\v]+\s*")


class MarkdownReporter:
    """Renders the Markdown summary."""

    name = "md"
    suffix = ".md"

    def render(self, report: Report) -> str:
        """Title, criteria table, failures."""
        parts = [_title(report), _about(report), *_failed_assertions(report), _table(report), *_failures(report)]
        return scrub_surrogates("\n\n".join(parts)) + "\n"


def text(value: str) -> str:
    """Learner text made inert: one line, Markdown and HTML specials backslash-escaped."""
    one_line = _LINE_BREAKS.sub(" ", value).strip()
    escaped = _INLINE_SPECIAL.sub(r"\\\1", one_line)
    return _LEADING_BLOCK.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", escaped)


def code(value: str) -> str:
    """An inline code span that no backtick inside ``value`` can close early."""
    one_line = _LINE_BREAKS.sub(" ", value)
    longest = max((len(run) for run in re.findall("`+", one_line)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") else ""
    return f"{fence}{pad}{one_line}{pad}{fence}"


def _title(report: Report) -> str:
    """The heading: project, phase, score against the pass mark, verdict."""
    return (
        f"## grade: {text(report.target.name)}, {text(report.phase_title)}: "
        f"{points(report.score)}/100 (pass mark {number(report.pass_mark)}), {verdict(report).upper()}"
    )


def _about(report: Report) -> str:
    """What was graded, by what, and how long it took."""
    target = report.target
    commit = f"commit {code(target.commit[:10])}" if target.commit else "no commit"
    branch = f" on {code(target.branch)}" if target.branch else ""
    dirty = " with uncommitted changes" if target.dirty else ""
    about = (
        f"{code(target.path)}, {commit}{branch}{dirty}. Curriculum: {text(report.curriculum)} "
        f"(sha256 {code(report.curriculum_sha256[:12])}); grade {text(report.grader_version)}, "
        f"{duration(report.duration_s)}."
    )
    if unmet := unmet_required(report):
        about += "\n\n**Required criteria not met:** " + "; ".join(text(c.text) for c in unmet) + "."
    if report.incomplete:
        about += "\n\n**Incomplete:** some checks failed because of the grader (marked ERROR); the score is not final."
    return about


def _failed_assertions(report: Report) -> list[str]:
    """One line per asserted check that did not pass; an `error` one fails the run whatever the score."""
    failed = [a for a in report.assertions if a.failed]
    if not failed:
        return []
    lines = [
        f"- **{a.level.upper()}** {code(a.check_id)}: {a.outcome.label.upper()}, {text(a.summary)} ({text(a.source)})"
        for a in failed
    ]
    return ["**Failed assertions:**\n\n" + "\n".join(lines)]


def _table(report: Report) -> str:
    """One row per criterion, worst first."""
    rows = ["| Outcome | Criterion | Score (of 100) | Summary |", "| --- | --- | --- | --- |"]
    for c in by_severity(report.criteria):
        score = score_out_of_100(c.score)
        rows.append(f"| {c.outcome.label.upper()} | {text(c.text)} | {score} | {text(_criterion_summary(c))} |")
    return "\n".join(rows)


def _criterion_summary(criterion: CriterionResult) -> str:
    """The manual reason, or the summaries of the checks that decided the outcome."""
    if criterion.manual_reason:
        return criterion.manual_reason
    if not criterion.checks:
        return "not yet automated" if criterion.outcome is Outcome.NOT_RUN else ""
    return "; ".join(dict.fromkeys(k.summary for k in criterion.checks if k.outcome is criterion.outcome))


def _failures(report: Report) -> list[str]:
    """The 'Failures' section: every error, failing or warning check with its evidence and remedy."""
    failing = [(c, k) for c in by_severity(report.criteria) for k in by_severity(c.checks) if k.outcome in FAILING]
    if not failing:
        return []
    return ["### Failures", *(_failure(c, k) for c, k in failing)]


def _failure(criterion: CriterionResult, check: CheckResult) -> str:
    """One failing check: heading, summary and measurement, evidence bullets, remediation."""
    measured = measure(check)
    lines = [
        f"#### {check.outcome.label.upper()}: {text(check.title)} ({code(check.check_id)})",
        "",
        f"Criterion: {text(criterion.text)}",
        "",
        text(check.summary) + (f" (measured: {text(measured)})" if measured else ""),
    ]
    if check.evidence:
        lines.append("")
        lines += [f"- {text(e.message)}" + (f" {code(str(e.location))}" if e.location else "") for e in check.evidence]
    if check.remediation and check.outcome is not Outcome.ERROR:
        lines += ["", f"**How to fix:** {text(check.remediation)}"]
    return "\n".join(lines)
