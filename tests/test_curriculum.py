"""The curriculum file: complete against ROADMAP.md, and validated with clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.curriculum import load_curriculum
from grader.errors import CurriculumError
from grader.plugin import load_registry

ROADMAP = Path(__file__).resolve().parent.parent / "docs" / "ROADMAP.md"
CHECKS = load_registry(plugins=False).checks


def roadmap_criteria() -> dict[int, list[str]]:
    """Phase -> completion criteria, read from ROADMAP.md (bootcamp: each day's Build line)."""
    text = ROADMAP.read_text(encoding="utf-8")
    phases: dict[int, list[str]] = {0: re.findall(r"^\*\*Build:\*\* (.+?)\s*$", text, re.M)}
    for match in re.finditer(r"^## Phase (\d+):.*?(?=^## |\Z)", text, re.M | re.S):
        block = match.group(0)
        section = re.search(
            r"### ✅ (?:Completion Criteria|Job-Ready Checklist)\n(.*?)(?:\n---|\n### |\Z)", block, re.S
        )
        assert section, f"no completion list in phase {match.group(1)}"
        phases[int(match.group(1))] = re.findall(r"^- \[ \] (.+?)\s*$", section.group(1), re.M)
    return phases


def test_every_roadmap_completion_criterion_is_in_the_default_curriculum() -> None:
    curriculum = load_curriculum(None, CHECKS)
    expected = roadmap_criteria()
    assert sorted(expected) == list(range(11))
    for phase_id, texts in expected.items():
        phase = curriculum.phase(phase_id)
        completion = [c.text for c in phase.criteria if c.kind == "completion"]
        assert completion == texts, f"phase {phase_id}"
        for criterion in phase.criteria:
            assert criterion.checks or criterion.planned or criterion.manual


def test_every_check_of_this_release_is_used_and_no_planned_id_is_already_built() -> None:
    curriculum = load_curriculum(None, CHECKS)
    used = {r.id for p in curriculum.phases.values() for c in p.criteria for r in c.checks}
    planned = {p for ph in curriculum.phases.values() for c in ph.criteria for p in c.planned}
    assert used == set(CHECKS)
    assert not planned & set(CHECKS)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "curriculum.toml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = """
name = "Mini"
[[phase]]
id = 1
title = "One"
pass_mark = 60
[[phase.criterion]]
text = "Tests pass"
checks = [{ id = "tests.coverage", options = { min = 0.5 } }]
"""


def test_an_instructor_file_loads_with_its_own_thresholds(tmp_path: Path) -> None:
    curriculum = load_curriculum(_write(tmp_path, GOOD), CHECKS)
    ref = curriculum.phase(1).criteria[0].checks[0]
    assert (curriculum.name, curriculum.phase(1).pass_mark, ref.options["min"]) == ("Mini", 60, 0.5)


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    curriculum = load_curriculum(_write(tmp_path, GOOD), CHECKS, {"tests.coverage": {"min": 0.9}})
    assert curriculum.phase(1).criteria[0].checks[0].options["min"] == 0.9


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            GOOD.replace("tests.coverage", "tests.coverag"),
            "unknown check id 'tests.coverag' (did you mean 'tests.coverage'?)",
        ),
        (GOOD.replace("min = 0.5", "minimum = 0.5"), "has no option 'minimum'"),
        (GOOD.replace("min = 0.5", 'min = "high"'), "must be a float"),
        (GOOD.replace("pass_mark = 60", "pass_mark = 160"), "'pass_mark' must be between 0 and 100"),
        (GOOD.replace('text = "Tests pass"', 'text = "Tests pass"\nmanual = "x"'), "a 'manual' criterion takes no"),
        (GOOD.replace("[[phase.criterion]]", '[[phase.criterion]]\nkind = "bonus"'), "'kind' must be one of"),
        (GOOD + GOOD[GOOD.index("[[phase]]") :], "defined twice"),
        (GOOD.replace("id = 1", "id = -1"), "'id' must be a whole number"),
        (GOOD.replace("[[phase]]", "[[phaze]]"), "unknown key(s) phaze"),
        ("name = 'x'\n[[phase]\n", "not valid TOML"),
        (GOOD.replace('text = "Tests pass"', "weight = 2"), "'text' must be a non-empty string"),
    ],
)
def test_a_malformed_curriculum_names_the_place_and_the_problem(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(CurriculumError) as info:
        load_curriculum(_write(tmp_path, body), CHECKS)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_an_unknown_phase_lists_the_valid_ones() -> None:
    with pytest.raises(CurriculumError, match=r"unknown phase 11: .* has phases 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"):
        load_curriculum(None, CHECKS).phase(11)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"tests.cov": {"min": 1}}, "unknown check id 'tests.cov'"), ({"tests.coverage": {"max": 1}}, "no option 'max'")],
)
def test_bad_overrides_are_rejected(overrides: dict[str, dict[str, object]], message: str) -> None:
    with pytest.raises(CurriculumError, match=re.escape(message)):
        load_curriculum(None, CHECKS, overrides)


def test_a_missing_curriculum_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CurriculumError, match="cannot read curriculum"):
        load_curriculum(tmp_path / "nope.toml", CHECKS)
