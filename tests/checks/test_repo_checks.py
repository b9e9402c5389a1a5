"""Repository hygiene checks, judged on hand-built facts (no I/O)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checks.repo import env_example, gitignore, history, readme
from grader.facts import Facts
from grader.model import Outcome
from grader.probes.history import CommitInfo, GitHistory
from grader.probes.repo import RepoFacts

GOOD_README = """# Tasks API
## Setup
npm ci
cp .env.example .env
## Run
npm start
## Test
npm test
"""


def repo(
    files: list[str], texts: dict[str, str] | None = None, tracked: list[str] | None = None, **kw: Any
) -> RepoFacts:
    return RepoFacts(
        root=Path("/x"),
        files=tuple(sorted(files)),
        tracked=tuple(sorted(tracked if tracked is not None else files)),
        listing="git",
        languages={"javascript": 3},
        package_manager="npm",
        lockfile="package-lock.json",
        package_json=kw.get("package_json", {"name": "x"}),
        pyproject=None,
        texts=texts or {},
    )


def commits(*insertions: int) -> tuple[CommitInfo, ...]:
    return tuple(
        CommitInfo(f"{i:040x}", "Ada", f"2026-01-{i + 1:02d}T10:00:00+00:00", f"step {i}", 2, n, 0)
        for i, n in enumerate(insertions)
    )


def hist(*insertions: int, paths: tuple[str, ...] = ()) -> GitHistory:
    return GitHistory(True, "", "/x", None, "f" * 40, "main", False, commits(*insertions), paths)


def test_readme_with_setup_run_and_test_passes() -> None:
    verdict = readme(Facts({"repo": repo(["README.md"], {"README.md": GOOD_README})}), {})
    assert verdict.outcome is Outcome.PASS


def test_thin_readme_fails_with_partial_credit_naming_what_is_missing() -> None:
    verdict = readme(Facts({"repo": repo(["README.md"], {"README.md": "# Todo\nA todo API."})}), {})
    assert verdict.outcome is Outcome.FAIL
    assert verdict.score == 0.25
    assert [e.message for e in verdict.evidence] == [f"no {p} instructions found" for p in ("setup", "run", "test")]


def test_missing_readme_fails() -> None:
    assert readme(Facts({"repo": repo(["index.js"])}), {}).score == 0.0


def test_gitignore_covering_node_modules_and_env_passes() -> None:
    facts = Facts({"repo": repo([".gitignore"], {".gitignore": "node_modules\n.env\ncoverage/\n"})})
    assert gitignore(facts, {}).outcome is Outcome.PASS


def test_gitignore_missing_env_and_tracked_node_modules_fail() -> None:
    facts = Facts(
        {
            "repo": repo(
                [".gitignore"], {".gitignore": "node_modules/\n"}, tracked=[".gitignore", "node_modules/a/index.js"]
            )
        }
    )
    verdict = gitignore(facts, {})
    assert verdict.outcome is Outcome.FAIL
    messages = [(e.message, e.location and e.location.path) for e in verdict.evidence]
    assert ("not ignored: .env", ".gitignore") in messages
    assert ("tracked although it should be ignored", "node_modules/a/index.js") in messages
    assert verdict.score == pytest.approx(1 / 3)


def test_env_never_committed_and_example_present_passes() -> None:
    verdict = env_example(Facts({"repo": repo([".env.example"]), "history": hist(10, paths=(".env.example",))}), {})
    assert verdict.outcome is Outcome.PASS


def test_env_tracked_fails_and_env_in_history_is_found_too() -> None:
    tracked = env_example(Facts({"repo": repo([".env"]), "history": hist(10, paths=(".env",))}), {})
    assert (tracked.outcome, tracked.score) == (Outcome.FAIL, 0.0)
    assert tracked.evidence[0].location is not None and tracked.evidence[0].location.path == ".env"
    earlier = env_example(
        Facts({"repo": repo([".env.example"]), "history": hist(10, paths=(".env.production", ".env.example"))}), {}
    )
    assert (earlier.outcome, earlier.score) == (Outcome.FAIL, 0.5)
    assert "committed earlier" in earlier.evidence[0].message


def test_history_with_steady_commits_passes() -> None:
    verdict = history(Facts({"history": hist(50, 40, 30, 60, 20, 10)}), {"min_commits": 5, "max_share": 0.7})
    assert verdict.outcome is Outcome.PASS and verdict.value == 6


def test_one_giant_dump_fails() -> None:
    verdict = history(Facts({"history": hist(2000, 3, 1)}), {"min_commits": 5, "max_share": 0.7})
    assert verdict.outcome is Outcome.FAIL
    assert "only 3 commit(s)" in verdict.summary and "holds 100% of all added lines" in verdict.summary
    assert verdict.score is not None and 0 < verdict.score < 0.5


def test_not_a_repository_and_no_commits_fail_with_the_reason() -> None:
    opts = {"min_commits": 5, "max_share": 0.7}
    none = history(Facts({"history": GitHistory(False, "not a git repository (no .git found)")}), opts)
    assert none.outcome is Outcome.FAIL and "not a git repository" in none.summary
    empty = history(Facts({"history": GitHistory(True, "", "/x")}), opts)
    assert empty.outcome is Outcome.FAIL and "no commits" in empty.summary
