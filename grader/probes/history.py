"""Git history facts via gitpython: commits of HEAD, every path ever committed, the commit graded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import git

from grader.facts import ProbeContext
from grader.plugin import probe

MAX_COMMITS = 20_000
# Generated files whose size says nothing about the work in a commit.
GENERATED = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "uv.lock",
        "Pipfile.lock",
    }
)
_RECORD = "\x1e"
_FIELD = "\x1f"


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """One commit: who, when, what, and how big."""

    sha: str
    author: str
    date: str  # ISO 8601
    subject: str
    files_changed: int
    insertions: int  # lines added, lockfiles excluded
    deletions: int


@dataclass(frozen=True, slots=True)
class GitHistory:
    """The submission's git history, or why there is none."""

    is_repo: bool
    reason: str  # why it is not a repository, or "" when it is
    toplevel: str | None = None
    subdir: str | None = None  # the graded folder inside the repository, None at its top
    head: str | None = None
    branch: str | None = None
    dirty: bool = False
    commits: tuple[CommitInfo, ...] = ()  # newest first, only those touching the graded folder
    paths_ever: tuple[str, ...] = ()  # every path any commit on any ref ever held (relative to the folder)


@probe("history", timeout_s=120)
def git_history(ctx: ProbeContext) -> GitHistory:
    """Read the git history of the submission (restricted to its folder when it sits inside a larger repository)."""
    return read_history(ctx.target)


def read_history(target: Path) -> GitHistory:
    """GitHistory for `target`; a non-repository or a corrupted one is a fact, not an error."""
    try:
        repo = git.Repo(target, search_parent_directories=True)
    except git.InvalidGitRepositoryError:
        return GitHistory(False, "not a git repository (no .git found in it or its parents)")
    except git.NoSuchPathError:
        return GitHistory(False, f"path does not exist: {target}")
    toplevel = repo.working_tree_dir
    if toplevel is None:
        return GitHistory(False, "a bare repository has no work tree to grade")
    rel = os.path.relpath(target.resolve(), Path(toplevel).resolve()).replace(os.sep, "/")
    subdir = None if rel == "." else rel
    try:
        return _history(repo, str(toplevel), subdir)
    except (git.GitCommandError, ValueError) as exc:
        return GitHistory(False, f"the git repository is corrupted or unreadable: {_first_line(exc)}")


def _history(repo: git.Repo, toplevel: str, subdir: str | None) -> GitHistory:
    try:
        head = repo.git.rev_parse("--verify", "-q", "HEAD")
    except git.GitCommandError:  # HEAD names no commit yet
        return GitHistory(True, "", toplevel, subdir, dirty=_dirty(repo, subdir))
    branch = None if repo.head.is_detached else repo.active_branch.name
    scope = ["--", subdir] if subdir else []
    log = _git_text(
        repo,
        "log",
        "HEAD",
        "--no-renames",
        "--numstat",
        f"--max-count={MAX_COMMITS}",
        f"--format={_RECORD}%H{_FIELD}%an{_FIELD}%aI{_FIELD}%s",
        *scope,
    )
    names = _git_text(repo, "log", "--all", "--no-renames", "--name-only", "--format=", *scope)
    prefix = f"{subdir}/" if subdir else ""
    paths = {p[len(prefix) :] for p in names.splitlines() if p and p.startswith(prefix)}
    return GitHistory(
        is_repo=True,
        reason="",
        toplevel=toplevel,
        subdir=subdir,
        head=head,
        branch=branch,
        dirty=_dirty(repo, subdir),
        commits=tuple(_parse_log(log)),
        paths_ever=tuple(sorted(paths)),
    )


def _git_text(repo: git.Repo, *args: str) -> str:
    """Run git with paths unquoted; decode bytes leniently (file names need not be UTF-8)."""
    raw = repo.git.execute(["git", "-c", "core.quotepath=off", *args], stdout_as_string=False)
    assert isinstance(raw, bytes)
    return os.fsdecode(raw)


def _parse_log(log: str) -> list[CommitInfo]:
    commits = []
    for record in log.split(_RECORD)[1:]:
        header, _, body = record.partition("\n")
        sha, author, date, subject = ([*header.split(_FIELD), "", "", ""])[:4]
        added = deleted = files = 0
        for line in body.splitlines():
            parts = line.split("\t", 2)
            if len(parts) != 3:
                continue
            files += 1
            if parts[2].rsplit("/", 1)[-1] in GENERATED:
                continue
            added += int(parts[0]) if parts[0].isdigit() else 0
            deleted += int(parts[1]) if parts[1].isdigit() else 0
        commits.append(CommitInfo(sha, author, date, subject, files, added, deleted))
    return commits


def _dirty(repo: git.Repo, subdir: str | None) -> bool:
    try:
        return repo.is_dirty(untracked_files=True, path=subdir)
    except git.GitCommandError:
        return False


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
