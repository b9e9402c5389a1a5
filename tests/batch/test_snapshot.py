"""What is graded: the commit at the deadline (gitpython on a real history), folders, and the fresh copy."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from grader.batch.model import Submission
from grader.batch.snapshot import (
    SnapshotError,
    content_hash,
    copy_folder,
    materialize,
    pack,
    take_snapshot,
    unpack,
)
from tests.batch.conftest import clone
from tests.probes.gitrepo import commit, git, init

DEADLINE = datetime(2024, 4, 4, 0, 0, tzinfo=UTC)  # python-flask: 3 commits before it, 3 after


def _sub(path: Path) -> Submission:
    return Submission("ana", str(path), "ana")


def _subjects(repo: Path, *revs: str) -> list[str]:
    return git(repo, "log", "--format=%s", *revs).splitlines()


@pytest.fixture
def late_repo(built_fixture: Callable[[str], Path], tmp_path: Path) -> Path:
    """python-flask, plus a tag before the deadline, a tag after it, and a branch started before
    the deadline but merged into main after it."""
    repo = clone(built_fixture("python-flask"), tmp_path / "src")
    git(repo, "tag", "early", "HEAD~4")
    git(repo, "tag", "final", "HEAD")
    git(repo, "checkout", "-q", "-b", "side", "HEAD~3")
    commit(repo, "Side work before the deadline", {"side.txt": "x"}, date="2024-04-03T20:00:00+00:00")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge side after the deadline", "side", date="2024-04-07T09:00:00+00:00")
    return repo


def test_the_deadline_picks_the_state_of_the_default_branch_at_that_time(late_repo: Path, tmp_path: Path) -> None:
    snap = take_snapshot(_sub(late_repo), DEADLINE, tmp_path / "mirrors")
    assert snap.kind == "git" and snap.branch == "main"
    assert _subjects(late_repo, "-1", snap.commit or "") == ["Validate task input and list query parameters"]
    assert snap.late_total == 5
    assert [c.subject for c in snap.late_commits] == [
        "Merge side after the deadline",
        "Serve an OpenAPI document at /openapi.json",
        "Document setup, run and test; add .env.example",
        "Add pytest suite for routes, validation and errors",
        "Side work before the deadline",  # made in time, but merged into main only after the deadline
    ]
    assert snap.late_commits[0].committed_at == "2024-04-07T09:00:00+00:00"
    assert "before the deadline 2024-04-04T00:00:00+00:00; 5 later commit(s) not graded" in snap.note


def test_the_fresh_copy_holds_only_the_graded_history(late_repo: Path, tmp_path: Path) -> None:
    snap = take_snapshot(_sub(late_repo), DEADLINE, tmp_path / "mirrors")
    copy = tmp_path / "copy"
    materialize(snap, copy, timeout_s=60)
    assert git(copy, "rev-parse", "HEAD").strip() == snap.commit
    assert git(copy, "branch", "--show-current").strip() == "main"
    assert _subjects(copy, "--all") == _subjects(late_repo, snap.commit or "")  # no later commit under any ref
    assert git(copy, "tag").split() == ["early"]
    assert git(copy, "remote").strip() == ""
    assert git(copy, "status", "--porcelain").strip() == ""
    assert not (copy / "tests" / "test_openapi.py").exists()  # added after the deadline


def test_without_a_deadline_the_head_of_the_default_branch_is_graded(late_repo: Path, tmp_path: Path) -> None:
    snap = take_snapshot(_sub(late_repo), None, tmp_path / "mirrors")
    assert snap.commit == git(late_repo, "rev-parse", "main").strip()
    assert snap.late_total == 0 and snap.note == "the head of main"


def test_nothing_before_the_deadline_is_said(late_repo: Path, tmp_path: Path) -> None:
    snap = take_snapshot(_sub(late_repo), datetime(2020, 1, 1, tzinfo=UTC), tmp_path / "mirrors")
    assert snap.commit is None and snap.identity == ""
    assert snap.late_total == 8
    assert "no commit on main before the deadline 2020-01-01T00:00:00+00:00" in snap.note
    with pytest.raises(SnapshotError, match="no commit on main"):
        materialize(snap, tmp_path / "copy", timeout_s=60)


def test_the_mirror_follows_the_source_between_runs(late_repo: Path, tmp_path: Path) -> None:
    mirrors = tmp_path / "mirrors"
    first = take_snapshot(_sub(late_repo), None, mirrors)
    git(late_repo, "checkout", "-q", "-b", "trunk")  # the source's HEAD moves to another branch...
    newer = commit(late_repo, "After the first run", {"new.txt": "1"}, date="2024-05-01T00:00:00+00:00")
    second = take_snapshot(_sub(late_repo), None, mirrors)
    assert second.commit == newer != first.commit and second.branch == "trunk"
    git(late_repo, "reset", "-q", "--hard", "HEAD~2")  # ...and is rewritten (a force push)
    third = take_snapshot(_sub(late_repo), None, mirrors)
    assert third.commit == git(late_repo, "rev-parse", "HEAD").strip()


def test_a_repository_without_a_commit_cannot_be_graded(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="the repository has no commit"):
        take_snapshot(_sub(init(tmp_path / "empty")), None, tmp_path / "mirrors")


def test_an_unreachable_url_is_a_clear_failure(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="git ls-remote failed"):
        take_snapshot(Submission("ana", f"file://{tmp_path}/missing.git", "ana"), None, tmp_path)


def test_a_file_url_is_fetched(late_repo: Path, tmp_path: Path) -> None:
    snap = take_snapshot(Submission("ana", late_repo.as_uri(), "ana"), None, tmp_path / "mirrors")
    assert snap.commit == git(late_repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A plain project folder with dependencies, a link inside, a link out, and a FIFO."""
    root = tmp_path / "work"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.js").write_text("console.log(1)\n")
    (root / "node_modules" / "left-pad").mkdir(parents=True)
    (root / "node_modules" / "left-pad" / "index.js").write_text("module.exports = 1\n")
    (root / "main.js").symlink_to("src/app.js")
    (root / "secrets").symlink_to("/etc/passwd")
    (root / "up").symlink_to("..")
    os.mkfifo(root / "pipe")
    return root


def test_a_folder_is_copied_without_dependencies_links_out_or_special_files(folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy_folder(folder, copy)
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == ["main.js", "src", "src/app.js"]
    assert os.readlink(copy / "main.js") == "src/app.js"


def test_a_folder_is_identified_by_its_content(folder: Path, tmp_path: Path) -> None:
    snap = take_snapshot(_sub(folder), DEADLINE, tmp_path / "mirrors")
    assert snap.kind == "folder" and snap.commit is None and snap.content_hash == content_hash(folder)
    assert "the deadline cannot be checked" in snap.note
    (folder / "node_modules" / "left-pad" / "index.js").write_text("changed\n")  # not part of the submission
    assert content_hash(folder) == snap.content_hash
    (folder / "src" / "app.js").write_text("console.log(2)\n")
    assert content_hash(folder) != snap.content_hash


@pytest.mark.parametrize("kind", ["git", "folder"])
def test_a_packed_source_gives_the_same_copy(kind: str, late_repo: Path, folder: Path, tmp_path: Path) -> None:
    source = late_repo if kind == "git" else folder
    snap = take_snapshot(_sub(source), DEADLINE, tmp_path / "mirrors")
    (tmp_path / "far").mkdir()
    moved = unpack(snap, pack(snap), tmp_path / "far")
    assert moved.origin.startswith(str(tmp_path / "far"))
    here, there = tmp_path / "here", tmp_path / "there"
    materialize(snap, here, timeout_s=60)
    materialize(moved, there, timeout_s=60)
    assert _tree(here) == _tree(there)
    if kind == "git":
        assert _subjects(there, "--all") == _subjects(here, "--all")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
