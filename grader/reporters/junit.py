"""JUnit XML, for CI systems that show test results (GitHub test reporters, GitLab, Jenkins).

One ``<testsuite>`` for the phase; one ``<testcase>`` per check result of each criterion, with the
criterion's text as ``classname``. A manual criterion is one skipped test case; ``not_run`` and
``not_applicable`` are skipped; ``fail`` is a ``<failure>``, ``error`` an ``<error>`` (the grader's
fault), and ``warn`` passes with a ``<system-out>`` noting the warning. ElementTree escapes markup;
characters XML 1.0 cannot hold at all (most control characters, U+FFFE/U+FFFF) are stripped first and
lone surrogates (undecodable file names) become U+FFFD.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from grader.model import CheckResult, CriterionResult, Outcome, Report
from grader.reporters.html import plain_details, points, verdict
from grader.reporters.json_report import scrub_surrogates

# Everything outside XML 1.0's Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_SKIPPED = (Outcome.NOT_RUN, Outcome.NOT_APPLICABLE, Outcome.MANUAL)


def xml_safe(value: str) -> str:
    """``value`` without the characters XML 1.0 forbids (ElementTree escapes the rest)."""
    return _ILLEGAL_XML.sub("", scrub_surrogates(value))


class JunitReporter:
    """Renders JUnit XML."""

    name = "junit"
    suffix = ".xml"

    def render(self, report: Report) -> str:
        """One test suite, one test case per check result."""
        cases = [case for criterion in report.criteria for case in _cases(criterion)]
        suite = ET.Element("testsuite", _attrs(name=f"grade phase {report.phase}: {report.phase_title}"))
        suite.set("tests", str(len(cases)))
        for attr, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
            suite.set(attr, str(sum(1 for case in cases if case.find(tag) is not None)))
        suite.set("time", f"{max(report.duration_s, 0.0):.3f}")
        suite.set("timestamp", xml_safe(report.started_at))
        suite.append(_properties(report))
        suite.extend(cases)
        ET.indent(suite)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _attrs(**values: str) -> dict[str, str]:
    """Attribute values made XML-safe."""
    return {key: xml_safe(value) for key, value in values.items()}


def _properties(report: Report) -> ET.Element:
    """What was graded and the verdict, as suite properties."""
    target = report.target
    values = {
        "grade.version": report.grader_version,
        "grade.curriculum": report.curriculum,
        "grade.project": target.name,
        "grade.path": target.path,
        "grade.commit": target.commit or "",
        "grade.score": points(report.score),
        "grade.pass_mark": points(report.pass_mark),
        "grade.verdict": verdict(report),
    }
    props = ET.Element("properties")
    for name, value in values.items():
        ET.SubElement(props, "property", _attrs(name=name, value=value))
    return props


def _cases(criterion: CriterionResult) -> list[ET.Element]:
    """The criterion's test cases: one per check, or one standing for the whole criterion."""
    if criterion.checks:
        return [_case(criterion, check) for check in criterion.checks]
    case = ET.Element("testcase", _attrs(classname=criterion.text, name=criterion.outcome.label, time="0.000"))
    if criterion.outcome is Outcome.MANUAL:
        message = f"manual: {criterion.manual_reason or 'judged by a person, not by grade'}"
    else:
        message = f"{criterion.outcome.label}: not yet automated"
    ET.SubElement(case, "skipped", _attrs(message=message))
    return [case]


def _case(criterion: CriterionResult, check: CheckResult) -> ET.Element:
    """One check result as a test case."""
    name = f"{check.check_id}: {check.title}"
    time = f"{max(check.duration_ms, 0.0) / 1000:.3f}"
    case = ET.Element("testcase", _attrs(classname=criterion.text, name=name, time=time))
    if check.outcome in _SKIPPED:
        ET.SubElement(case, "skipped", _attrs(message=f"{check.outcome.label}: {check.summary}"))
    elif check.outcome is Outcome.FAIL:
        failure = ET.SubElement(case, "failure", _attrs(message=check.summary, type="fail"))
        failure.text = xml_safe(plain_details(check))
    elif check.outcome is Outcome.ERROR:
        error = ET.SubElement(case, "error", _attrs(message=check.summary, type="grader error"))
        error.text = xml_safe(plain_details(check, remedy=False))
    elif check.outcome is Outcome.WARN:
        ET.SubElement(case, "system-out").text = xml_safe(f"warning: {check.summary}\n{plain_details(check)}".rstrip())
    return case
