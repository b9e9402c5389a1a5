"""Gradescope results.json: valid against its documented format, points that add up to the score."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from grader.model import Outcome, Report
from grader.reporters import REPORTERS
from grader.reporters.gradescope import GradescopeReporter
from tests.reporters.sample import hostile_report, sample_report

SCHEMA = json.loads((Path(__file__).parent / "gradescope.schema.json").read_text(encoding="utf-8"))
PAYLOAD = '<script>alert(1)</script> "q" \x00 \ud800 \n# heading'


def render(report: Report) -> dict[str, Any]:
    """The rendered results, parsed and validated against the documented format."""
    results: dict[str, Any] = json.loads(GradescopeReporter().render(report))
    jsonschema.Draft202012Validator(SCHEMA).validate(results)
    return results


def test_the_schema_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_registered_as_gradescope_json() -> None:
    assert REPORTERS["gradescope"].suffix == ".gradescope.json"


def test_top_level_fields() -> None:
    results = render(sample_report())
    assert results["score"] == 85.8 and results["max_score"] == 100
    assert results["execution_time"] == 24
    assert results["visibility"] == "visible" and results["stdout_visibility"] == "hidden"
    assert "85.8/100" in results["output"] and "INCOMPLETE" in results["output"]


@pytest.mark.parametrize("make", [sample_report, lambda: replace(sample_report(), incomplete=False)])
def test_points_sum_to_100_and_to_the_score(make: Any) -> None:
    report = make()
    tests = render(report)["tests"]
    assert sum(t["max_score"] for t in tests) == pytest.approx(100, abs=0.01)
    assert sum(t["score"] for t in tests) == pytest.approx(report.score, abs=0.1)
    assert all(0 <= t["score"] <= t["max_score"] for t in tests)


def test_one_test_per_check_with_status_tags_and_output() -> None:
    tests = render(sample_report())["tests"]
    assert len(tests) == 12
    by_tag = {t["tags"][0]: t for t in tests if t["tags"]}
    coverage = by_tag["tests.coverage"]
    assert coverage["name"] == "Unit tests for critical paths: Line coverage is at least 80%"
    assert coverage["status"] == "failed"
    assert coverage["max_score"] == pytest.approx(100 / 6, abs=0.001)
    assert coverage["score"] == pytest.approx(100 / 6 * 0.78125, abs=0.001)
    assert "- 12/41 lines (29%) (src/routes/auth.js)" in coverage["output"]
    assert "How to fix: Add tests" in coverage["output"]
    assert by_tag["repo.env_example"]["status"] == "passed"
    assert by_tag["perf.p95"]["status"] == "passed"


def test_unscored_results_carry_no_points_and_say_why() -> None:
    tests = render(sample_report())["tests"]
    manual = next(t for t in tests if t["name"] == "Auth flow secure")
    assert manual["max_score"] == 0 and manual["output"].startswith("not scored: a person judges this")
    assert "status" not in manual
    by_tag = {t["tags"][0]: t for t in tests if t["tags"]}
    for tag, why in (("api.crud", "could not run"), ("docker.dockerfile", "does not apply"),
                     ("secrets.history", "grader failed")):  # fmt: skip
        assert by_tag[tag]["max_score"] == 0 and by_tag[tag]["score"] == 0 and why in by_tag[tag]["output"]
    # a passing check of a criterion that errored does not count either
    assert by_tag["repo.readme"]["max_score"] == 0


def test_nothing_scored_gives_zero_without_crashing() -> None:
    report = sample_report()
    criteria = tuple(replace(c, outcome=Outcome.MANUAL, score=None, checks=()) for c in report.criteria)
    results = render(replace(report, criteria=criteria, score=None))
    assert results["score"] == 0 and all(t["max_score"] == 0 for t in results["tests"])


def test_hostile_text_round_trips_as_plain_json_strings() -> None:
    text = GradescopeReporter().render(hostile_report(PAYLOAD))
    text.encode("utf-8")
    results = render(hostile_report(PAYLOAD))
    assert all(t["name"].endswith(PAYLOAD.replace("\ud800", "\ufffd")) for t in results["tests"])
