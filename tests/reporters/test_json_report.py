"""The canonical JSON: valid against its schema, an exact round trip, never crashing on odd text."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from grader.model import SCHEMA_VERSION, Evidence, Location, Outcome, Report
from grader.reporters.json_report import JsonReporter, from_dict, load_schema, to_dict
from tests.reporters.sample import hostile_report, sample_report


def validate(document: Any) -> None:
    """Validate against the shipped schema (draft 2020-12), failing on any error."""
    jsonschema.Draft202012Validator(load_schema()).validate(document)


def with_odd_path(report: Report, path: str) -> Report:
    """The report with one more evidence item at ``path`` and the target at ``path``."""
    first = report.criteria[1]
    check = replace(first.checks[0], evidence=(Evidence("odd file", Location(path, 1)),))
    criterion = replace(first, checks=(check, *first.checks[1:]))
    target = replace(report.target, path=path)
    return replace(report, target=target, criteria=(report.criteria[0], criterion, *report.criteria[2:]))


def test_the_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_the_schema_names_the_models_version_and_outcomes() -> None:
    schema = load_schema()
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    assert schema["$defs"]["outcome"]["enum"] == [o.value for o in Outcome]


@pytest.mark.parametrize("report", [sample_report(), hostile_report("<b>|`x`|</b>")], ids=["sample", "hostile"])
def test_rendered_json_validates_against_the_schema(report: Report) -> None:
    validate(json.loads(JsonReporter().render(report)))


def test_round_trip_is_exact() -> None:
    report = sample_report()
    assert from_dict(to_dict(report)) == report
    assert from_dict(json.loads(JsonReporter().render(report))) == report


def test_outcomes_are_strings_tuples_lists_locations_objects_and_counts_included() -> None:
    data = to_dict(sample_report())
    check = data["criteria"][1]["checks"][0]
    assert check["outcome"] == "fail"
    assert isinstance(check["evidence"], list)
    assert check["evidence"][0]["location"] == {"path": "tests/tasks.test.js", "line": 42, "commit": None}
    assert data["counts"] == sample_report().counts()


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.update(surprise=1),
        lambda d: d["criteria"][0].update(outcome="great"),
        lambda d: d["criteria"][0]["checks"][0]["evidence"].append({"message": "m"}),
        lambda d: d["target"].pop("commit"),
    ],
    ids=["unknown-field", "unknown-outcome", "evidence-missing-fields", "target-missing-commit"],
)
def test_the_schema_rejects_malformed_reports(breakage: Any) -> None:
    data = json.loads(JsonReporter().render(sample_report()))
    breakage(data)
    with pytest.raises(jsonschema.ValidationError):
        validate(data)


def test_lone_surrogates_in_paths_never_crash_the_encoding() -> None:
    undecodable = b"src/caf\xe9.js".decode("utf-8", "surrogateescape")
    text = JsonReporter().render(with_odd_path(sample_report(), undecodable))
    text.encode("utf-8")  # would raise UnicodeEncodeError on a lone surrogate
    data = json.loads(text)
    assert data["target"]["path"] == "src/caf\ufffd.js"
    validate(data)


def test_non_finite_numbers_become_null_so_the_json_stays_valid() -> None:
    report = sample_report()
    first = report.criteria[0]
    criterion = replace(first, checks=(replace(first.checks[0], value=float("inf")),))
    text = JsonReporter().render(replace(report, criteria=(criterion, *report.criteria[1:])))
    data = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert data["criteria"][0]["checks"][0]["value"] is None
    validate(data)
