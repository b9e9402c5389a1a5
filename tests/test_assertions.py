"""Assertions: gates on single checks that can fail a run but never change a score."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from grader.api import grade
from grader.assertions import Assertion, merge_assertions, parse_assertions
from grader.curriculum import load_curriculum, validate_assertions
from grader.errors import ConfigError, CurriculumError, UsageError
from grader.model import GradeRequest, Outcome
from grader.project_config import parse_project_config
from grader.reporters.html import HtmlReporter
from grader.reporters.json_report import from_dict, load_schema, to_dict
from grader.reporters.markdown import MarkdownReporter
from grader.runner import judge_assertions, judge_phase
from tests.probes.gitrepo import commit, init
from tests.test_runner import CALLS, crit, phase, ref, registry, store

README = "# Tasks\n\n## Setup\n\n    npm ci\n\n## Run\n\n    npm start\n\n## Test\n\n    npm test\n"


def test_dotted_and_quoted_keys_levels_and_options_are_parsed() -> None:
    table = {"tests": {"coverage": ["error", {"min": 0.85}]}, "security.headers": "warn", "repo.readme": ["off"]}
    parsed = parse_assertions(table, "grade.toml: [assertions]", "grade.toml", ConfigError)
    assert parsed == (
        Assertion("tests.coverage", "error", {"min": 0.85}, "grade.toml"),
        Assertion("security.headers", "warn", {}, "grade.toml"),
        Assertion("repo.readme", "off", {}, "grade.toml"),
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"t.sum": "fatal"}, "unknown level 'fatal'"),
        ({"t.sum": 3}, "expected a level"),
        ({"t.sum": ["error", 5]}, "got options 5"),
        ({"t.sum": ["error", {}, "extra"]}, "expected a level"),
    ],
)
def test_malformed_entries_are_config_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_project_config({"assertions": table}, "grade.toml")


def test_a_non_table_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"\[assertions\] must be a table"):
        parse_project_config({"assertions": "error"}, "grade.toml")


@pytest.mark.parametrize(
    ("assertion", "message"),
    [
        (Assertion("t.su", "error"), r"unknown check id 't\.su' \(did you mean 't\.sum'\?\)"),
        (Assertion("t.sum", "error", {"max": 3}), "has no option 'max'"),
        (Assertion("t.sum", "error", {"min": "five"}), r"option t\.sum\.min must be a int"),
    ],
)
def test_ids_and_options_are_validated_like_the_curriculums(assertion: Assertion, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_assertions((assertion,), registry().checks, "grade.toml: [assertions]", ConfigError)


def test_grade_toml_overrides_the_curriculum_per_check() -> None:
    curriculum = (Assertion("a", "error", {"x": 1}, "curriculum"), Assertion("b", "warn", {}, "curriculum"))
    own = (Assertion("a", "off", {}, "grade.toml"),)
    merged = merge_assertions(curriculum, own)
    assert merged == {"a": own[0], "b": curriculum[1]}


def test_a_gate_re_judges_its_check_with_the_asserted_options_and_no_extra_io(tmp_path: Path) -> None:
    reg = registry()
    facts = store(reg, tmp_path)
    CALLS.clear()
    p = phase(crit("a", ref("t.sum", min=5)))
    criteria = judge_phase(p, reg.checks, facts)
    gates = (
        Assertion("t.sum", "error", {"min": 10}, "grade.toml"),
        Assertion("t.len", "warn", {}, "curriculum"),  # not in the phase: still run, its facts gathered
        Assertion("t.crash", "off", {}, "grade.toml"),  # no gate at all
    )
    results = judge_assertions(gates, p, reg.checks, facts)
    assert CALLS == {"numbers": 1}
    assert criteria[0].outcome is Outcome.PASS  # the criterion keeps the curriculum's options
    assert [(r.check_id, r.level, r.outcome, r.source) for r in results] == [
        ("t.sum", "error", Outcome.FAIL, "grade.toml"),
        ("t.len", "warn", Outcome.PASS, "curriculum"),
    ]
    assert results[0].summary == "sum 6" and results[0].blocking
    assert not results[1].failed


def test_a_gate_without_options_keeps_the_phases_options_or_the_runs_overrides(tmp_path: Path) -> None:
    reg = registry()
    facts = store(reg, tmp_path)
    in_phase = judge_assertions(
        [Assertion("t.sum", "error")], phase(crit("a", ref("t.sum", min=10))), reg.checks, facts
    )
    assert in_phase[0].outcome is Outcome.FAIL
    elsewhere = judge_assertions(
        [Assertion("t.sum", "warn")], phase(crit("b", ref("t.len"))), reg.checks, facts, {"t.sum": {"min": 99}}
    )
    assert elsewhere[0].outcome is Outcome.FAIL and not elsewhere[0].blocking and elsewhere[0].failed


def test_a_gate_on_a_broken_fact_is_an_error_that_blocks(tmp_path: Path) -> None:
    reg = registry()
    results = judge_assertions(
        [Assertion("t.broken", "error")], phase(crit("a", ref("t.len"))), reg.checks, store(reg, tmp_path)
    )
    assert results[0].outcome is Outcome.ERROR and results[0].blocking


def test_the_curriculum_top_level_table_is_validated(tmp_path: Path) -> None:
    body = 'name = "c"\n[[phase]]\nid = 1\ntitle = "P"\n[[phase.criterion]]\ntext = "t"\nchecks = ["t.len"]\n'
    good = tmp_path / "good.toml"
    good.write_text(body + '[assertions]\nt.sum = ["error", {min = 3}]\n')
    curriculum = load_curriculum(good, registry().checks)
    assert curriculum.assertions == (Assertion("t.sum", "error", {"min": 3}, "curriculum"),)
    bad = tmp_path / "bad.toml"
    bad.write_text(body + '[assertions]\n"t.lenn" = "warn"\n')
    with pytest.raises(
        CurriculumError, match=r"\[assertions\]: unknown check id 't\.lenn' \(did you mean 't\.len'\?\)"
    ):
        load_curriculum(bad, registry().checks)


def _project(tmp_path: Path, config: str) -> Path:
    repo = init(tmp_path / "p")
    commit(repo, "readme", {"README.md": README, "grade.toml": config})
    return repo


def test_a_failed_error_assertion_fails_the_run_while_the_score_stays_100(tmp_path: Path) -> None:
    repo = _project(tmp_path, '[assertions]\nrepo.history = ["error", {min_commits = 50}]\nrepo.readme = "warn"\n')
    report = grade(GradeRequest(path=repo, phase=1, only=("repo.readme",), load_plugins=False))
    assert report.score == 100.0
    assert not report.passed and not report.incomplete
    assert [c.outcome for c in report.criteria] == [Outcome.PASS]
    gates = {a.check_id: a for a in report.assertions}
    assert gates["repo.history"].outcome is Outcome.FAIL and gates["repo.history"].blocking
    assert gates["repo.history"].source == "grade.toml"
    assert gates["repo.readme"].outcome is Outcome.PASS
    assert report.options["assertions"]["repo.history"] == {
        "level": "error",
        "options": {"min_commits": 50},
        "source": "grade.toml",
    }
    document = json.loads(json.dumps(to_dict(report)))
    jsonschema.Draft202012Validator(load_schema()).validate(document)
    assert from_dict(document).assertions == report.assertions
    assert "Failed assertions" in MarkdownReporter().render(report)
    html = HtmlReporter().render(report)
    assert 'id="h-assertions"' in html and "fails the run" in html


def test_off_switches_a_gate_off_and_the_run_passes(tmp_path: Path) -> None:
    repo = _project(tmp_path, '[assertions]\nrepo.history = "off"\n')
    report = grade(GradeRequest(path=repo, phase=1, only=("repo.readme",), load_plugins=False))
    assert report.passed and report.assertions == ()
    assert report.options["assertions"]["repo.history"]["level"] == "off"
    assert "h-assertions" not in HtmlReporter().render(report)


def test_an_unknown_check_in_grade_toml_is_a_usage_error(tmp_path: Path) -> None:
    repo = _project(tmp_path, '[assertions]\n"repo.readm" = "error"\n')
    with pytest.raises(UsageError, match=r"unknown check id 'repo\.readm' \(did you mean 'repo\.readme'\?\)"):
        grade(GradeRequest(path=repo, phase=1, only=("repo.readme",), load_plugins=False))
