"""JUnit XML: parses, one test case per check, counts that match, learner text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from grader.reporters import REPORTERS
from grader.reporters.junit import JunitReporter, xml_safe
from tests.reporters.sample import hostile_report, sample_report

PAYLOAD = "<script>alert(1)</script> & \"quotes\" 'apos' ]]> \x00\x01\x1b\x7f \ud800 \ufffe\uffff end\n<!-- x -->"


def parse(text: str) -> ET.Element:
    """The root element of the rendered XML."""
    return ET.fromstring(text.encode("utf-8"))


def test_registered_as_junit_with_xml_suffix() -> None:
    assert REPORTERS["junit"].suffix == ".xml"


def test_one_suite_with_counts_that_match_its_cases() -> None:
    suite = parse(JunitReporter().render(sample_report()))
    assert suite.tag == "testsuite"
    assert suite.get("name") == "grade phase 1: Phase 1: Solidify Foundations"
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "")) == len(cases) == 12
    assert suite.get("failures") == "4" and suite.get("errors") == "1" and suite.get("skipped") == "3"
    assert float(suite.get("time", "")) == 23.71
    for attr, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        assert int(suite.get(attr, "")) == sum(1 for case in cases if case.find(tag) is not None)


def test_outcomes_map_to_failure_error_skipped_and_system_out() -> None:
    suite = parse(JunitReporter().render(sample_report()))
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    failure = cases["tests.coverage: Line coverage is at least 80%"].find("failure")
    assert failure is not None and failure.get("message") == "62.5% of lines covered across 14 files (threshold 80%)"
    assert "- 12/41 lines (29%) (src/routes/auth.js)" in (failure.text or "")
    assert "How to fix: Add tests that exercise" in (failure.text or "")
    assert cases["tests.coverage: Line coverage is at least 80%"].get("classname") == "Unit tests for critical paths"
    assert cases["secrets.history: No secrets anywhere in the history"].find("error") is not None
    warn = cases["repo.env_example: Configuration is documented in .env.example"]
    assert warn.find("failure") is None and (warn.findtext("system-out") or "").startswith("warning: ")
    manual = [c for c in suite.findall("testcase") if c.get("classname") == "Auth flow secure"]
    assert len(manual) == 1
    skipped = manual[0].find("skipped")
    assert skipped is not None and (skipped.get("message") or "").startswith("manual: Check that passwords")
    not_applicable = cases["docker.dockerfile: The Dockerfile follows good practice"].find("skipped")
    assert not_applicable is not None and (not_applicable.get("message") or "").startswith("not applicable: ")
    passed = cases["perf.p95: p95 latency of GET /tasks is at most 300 ms"]
    assert list(passed) == []


def test_hostile_text_is_escaped_and_illegal_characters_stripped() -> None:
    text = JunitReporter().render(hostile_report(PAYLOAD))
    assert "<script>" not in text and "<!-- x -->" not in text
    suite = parse(text)  # would raise on an unescaped payload or an illegal character
    safe = xml_safe(PAYLOAD)
    assert "\x00" not in safe and "\ud800" not in safe and "\ufffe" not in safe
    assert suite.get("name") == f"grade phase 1: Phase 1 {safe}"
    names = [case.get("classname") or "" for case in suite.findall("testcase")]
    assert all(name.endswith(safe) for name in names)
    failure = suite.find("testcase/failure")
    assert failure is not None and f"message {safe}" in (failure.text or "")
