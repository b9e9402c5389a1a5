"""End to end: the NestJS fixtures graded at phases 2 and 3, with a real install and `tsc --noEmit` on each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from grader.api import grade
from grader.model import CheckResult, GradeRequest, Outcome
from tests.conftest import require_tool

pytestmark = pytest.mark.slow

DATA_CHECKS = ("code.typescript", "db.migrations", "db.indexes", "db.soft_delete", "api.cursor_pagination")


def graded(repo: Path) -> dict[str, CheckResult]:
    """Phase 2's code and data checks, and phase 3's NestJS structure check, by id."""
    results: dict[str, CheckResult] = {}
    for phase, only in ((2, DATA_CHECKS), (3, ("code.nest_structure",))):
        report = grade(GradeRequest(path=repo, phase=phase, only=only))
        results.update({r.check_id: r for c in report.criteria for r in c.checks})
    return results


def located(result: CheckResult) -> set[tuple[str, str | None]]:
    return {(e.message, str(e.location) if e.location else None) for e in result.evidence}


@pytest.fixture(scope="module")
def node_tools() -> None:
    require_tool("node")
    require_tool("npm")


def test_the_good_nest_project_passes_every_code_and_data_check(
    node_tools: None, built_fixture: Callable[[str], Path]
) -> None:
    results = graded(built_fixture("nest-good"))
    assert {cid: r.outcome for cid, r in results.items()} == dict.fromkeys(
        (*DATA_CHECKS, "code.nest_structure"), Outcome.PASS
    ), {cid: r.summary for cid, r in results.items()}
    assert results["code.typescript"].summary.endswith("tsc --noEmit: passes")
    assert results["db.indexes"].value == 4
    assert "keyset query found" in results["api.cursor_pagination"].summary


def test_the_flawed_nest_project_fails_each_flaw_with_its_file_and_line(
    node_tools: None, built_fixture: Callable[[str], Path]
) -> None:
    results = graded(built_fixture("nest-flawed"))
    assert {cid: r.outcome for cid, r in results.items()} == dict.fromkeys(
        (*DATA_CHECKS, "code.nest_structure"), Outcome.FAIL
    )
    typescript = located(results["code.typescript"])
    assert ("TS2322: Type 'string' is not assignable to type 'number'.", "src/tasks/tasks.controller.ts:16") in (
        typescript
    )
    assert ('"strict": false: strict type checking is off', "tsconfig.json:5") in typescript
    assert {p for m, p in typescript if m.startswith("JavaScript source")} == {
        "src/legacy/report.js", "src/utils/paginate.js",
    }  # fmt: skip
    assert 0 < (results["code.typescript"].score or 0) < 0.5

    order = {m for m, _ in located(results["db.migrations"])}
    assert "add_created_at: no number or timestamp prefix, so its place in the order is undefined" in order
    assert any(m.startswith("1_create_tasks uses table 'users', which 2_create_users creates later") for m in order)
    assert any(m.startswith("sorted by name, 10_add_done_to_tasks comes before 1_create_tasks") for m in order)
    assert "1_create_tasks: no down migration" in order
    assert results["db.migrations"].summary.endswith("reversible: 0 of 4")

    assert results["db.indexes"].summary == "no index is created in a migration, schema or entity"
    offset = (
        "offset pagination: const result = await this.pool.query('SELECT * FROM tasks ORDER BY id LIMIT $1 OFFSET $2'"
    )
    offset += ", ["
    assert (offset, "src/tasks/tasks.controller.ts:12") in located(results["api.cursor_pagination"])

    nest = located(results["code.nest_structure"])
    assert ("UsersController does database work itself: injects Pool", "src/users/users.controller.ts:8") in nest
    assert ("UsersController.create() @Body(): CreateUserDto.email, name have no class-validator decorator",
            "src/users/create-user.dto.ts:2") in nest  # fmt: skip
    assert results["code.nest_structure"].score == 0.0
