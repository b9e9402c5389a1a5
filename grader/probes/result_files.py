"""Parsers for the result files test runners write: Jest/Vitest JSON, Mocha JSON, JUnit XML.

Every parser takes the file the grader asked the runner to write (never one from the
submission) and the copy's root, and returns a :class:`Tally` with repo-relative paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from grader.probes.suite_run import Tally, TestCase, rel_path

MESSAGE_LINES = 20
MESSAGE_CHARS = 2000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOISE_FRAME = re.compile(r"^\s*at .*(node_modules/|node:internal|\(<anonymous>\)$)")
_STACK_FRAME = re.compile(r"(?:\(|\s|^)((?:file://)?[^\s():]+\.[cm]?[jt]sx?):(\d+):\d+")
_JEST_STATUS = {"passed": "passed", "failed": "failed"}  # pending, skipped, todo, disabled -> skipped


_NO_TESTS = re.compile(r"No tests found|No test files found|collected 0 items|no tests ran", re.I)


def says_no_tests(output: str) -> bool:
    """Whether a runner's output says it found nothing to run (some then write no result file)."""
    return bool(_NO_TESTS.search(output))


class ResultFileError(ValueError):
    """The runner's result file is missing or malformed (the run crashed before writing it)."""


def trim_message(text: str | None) -> str | None:
    """A failure message without colour codes, cut to a readable size."""
    if not text:
        return None
    lines = [line for line in _ANSI.sub("", text).strip().splitlines() if not _NOISE_FRAME.match(line)]
    trimmed = "\n".join(lines[:MESSAGE_LINES])[:MESSAGE_CHARS]
    return trimmed + ("\n…" if len(lines) > MESSAGE_LINES or len(trimmed) == MESSAGE_CHARS else "")


def failure_location(message: str | None, base: Path) -> tuple[str | None, int | None]:
    """The first stack frame inside the copy (file, line), from a failure message."""
    for match in _STACK_FRAME.finditer(message or ""):
        path = rel_path(base / match.group(1).removeprefix("file://"), base)  # absolute paths stay absolute
        if path is not None and not path.startswith("node_modules/"):
            return path, int(match.group(2))
    return None, None


def load_json(path: Path) -> Any:
    """A result file's JSON, or ResultFileError."""
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as exc:
        raise ResultFileError(f"{path.name}: {exc}") from None


def parse_jest_json(path: Path, base: Path) -> Tally:
    """Jest's `--json` output (also what Vitest's json reporter writes)."""
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("testResults"), list):
        raise ResultFileError(f"{path.name}: no testResults")
    return Tally.of(case for suite in data["testResults"] for case in _jest_suite_cases(suite, base))


def _jest_suite_cases(suite: dict[str, Any], base: Path) -> Iterator[TestCase]:
    file = rel_path(suite.get("name") or suite.get("testFilePath") or "", base)
    assertions = suite.get("assertionResults") or []
    if not assertions and suite.get("status") == "failed":  # the file itself failed to load or compile
        yield TestCase("(test file failed to run)", file, None, "failed", None, trim_message(suite.get("message")))
    for a in assertions:
        location = a.get("location") or {}
        duration = a.get("duration")
        yield TestCase(
            name=str(a.get("fullName") or a.get("title") or "?"),
            file=file,
            line=location.get("line"),
            status=_JEST_STATUS.get(a.get("status"), "skipped"),
            duration_s=duration / 1000 if isinstance(duration, int | float) else None,
            message=trim_message("\n".join(a.get("failureMessages") or [])),
        )


def jest_coverage_map(path: Path) -> dict[str, Any] | None:
    """The istanbul coverage map Jest/Vitest embed in their JSON results, if any."""
    data = load_json(path)
    coverage = data.get("coverageMap") if isinstance(data, dict) else None
    return coverage if isinstance(coverage, dict) and coverage else None


def parse_mocha_json(path: Path, base: Path) -> Tally:
    """Mocha's json reporter output (passes, failures incl. hook failures, pending)."""
    data = load_json(path)
    if not isinstance(data, dict) or "stats" not in data:
        raise ResultFileError(f"{path.name}: not a mocha json report")
    groups = (("passes", "passed"), ("failures", "failed"), ("pending", "skipped"))
    return Tally.of(_mocha_case(t, status, base) for key, status in groups for t in data.get(key) or [])


def _mocha_case(test: dict[str, Any], status: str, base: Path) -> TestCase:
    err = test.get("err") or {}
    raw = str(err.get("stack") or err.get("message") or "") if status == "failed" else ""
    _, line = failure_location(raw, base)
    duration = test.get("duration")
    return TestCase(
        name=str(test.get("fullTitle") or test.get("title") or "?"),
        file=rel_path(test["file"], base) if test.get("file") else None,
        line=line,
        status=status,
        duration_s=duration / 1000 if isinstance(duration, int | float) else None,
        message=trim_message(raw),
    )


def parse_junit(path: Path, base: Path) -> Tally:
    """JUnit XML as pytest (xunit1: file and line attributes) or node:test writes it."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise ResultFileError(f"{path.name}: {exc}") from None
    return Tally.of(_junit_case(case, suites, base) for case, suites in _junit_cases(root, ()))


def _junit_cases(
    element: ElementTree.Element, suites: tuple[str, ...]
) -> Iterator[tuple[ElementTree.Element, tuple[str, ...]]]:
    for child in element:
        if child.tag == "testcase":
            yield child, suites
        elif child.tag == "testsuite":
            name = child.get("name", "")
            inner = (*suites, name) if name and name != "pytest" else suites
            yield from _junit_cases(child, inner)


def _junit_case(case: ElementTree.Element, suites: tuple[str, ...], base: Path) -> TestCase:
    problem = next((c for c in case if c.tag in ("failure", "error")), None)
    skipped = next((c for c in case if c.tag == "skipped"), None)
    raw = _element_text(problem) if problem is not None else ""
    file = rel_path(base / case.get("file", ""), base) if case.get("file") else None
    line = int(case.get("line", "")) + 1 if case.get("line", "").isdigit() else None  # pytest's line is 0-based
    if file is None and raw:
        file, line = failure_location(raw, base)
    return TestCase(
        name=" > ".join((*suites, _junit_name(case))),
        file=file,
        line=line,
        status="failed" if problem is not None else "skipped" if skipped is not None else "passed",
        duration_s=_float(case.get("time")),
        message=trim_message(raw),
    )


def _junit_name(case: ElementTree.Element) -> str:
    classname, name = case.get("classname", ""), case.get("name", "?")
    return f"{classname}.{name}" if classname and classname != "test" else name


def _element_text(element: ElementTree.Element) -> str:
    return (element.text or "").strip() or element.get("message", "")


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


_SUMMARY = {
    "passed": re.compile(r"(?:(\d+) (?:passed|passing)\b|[#\u2139] pass (\d+))", re.I),
    "failed": re.compile(r"(?:(\d+) (?:failed|failing)\b|[#\u2139] fail (\d+))", re.I),
    "skipped": re.compile(r"(?:(\d+) (?:skipped|pending)\b|[#\u2139] skipped (\d+))", re.I),
}
_SUITE_TOTALS = re.compile(r"^\s*Test (?:Suites|Files)\b.*$", re.M)  # jest/vitest count files there, not tests


def count_from_output(output: str) -> Tally:
    """Counts from a runner's closing summary (pytest, jest, vitest, mocha, node:test), last match wins.

    Used for a learner-supplied test command, whose result files the grader does not control.
    """
    text = _SUITE_TOTALS.sub("", _ANSI.sub("", output))
    counts: dict[str, int] = {}
    for key, pattern in _SUMMARY.items():
        matches = pattern.findall(text)
        counts[key] = sum(int(a or b) for a, b in matches[-1:]) if matches else 0
    return Tally(counts["passed"], counts["failed"], counts["skipped"])
