"""Who to grade: a directory of submissions, or a roster CSV (`student,repo`, or GitHub Classroom's export).

A directory holds one folder (or git repository) per student, named after them; hidden entries
and plain files are skipped. A CSV names a student column and a repository column (headers are
matched case-insensitively; the first non-empty student column of a row wins, so a Classroom
row without a `roster_identifier` falls back to its `github_username`). A repository is a git
URL (https, http, ssh, git, file, or `user@host:path`) or a path, relative to the CSV's folder.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from grader.batch.model import Submission
from grader.errors import UsageError
from grader.reporters import slugify

STUDENT_COLUMNS = ("student", "roster_identifier", "github_username", "group_name", "login", "name")
REPO_COLUMNS = ("repo", "repo_url", "student_repository_url", "repository", "url", "path")
URL_SCHEMES = ("https", "http", "ssh", "git", "file")
_SCP_LIKE = re.compile(r"^[\w.+-]+@[\w.-]+:(?!//)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_TRANSPORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")  # git's remote-helper syntax, e.g. ext::


class RosterError(UsageError):
    """The roster cannot be read: a clear one-line reason, with the file and line."""


def load_roster(source: Path) -> tuple[Submission, ...]:
    """The submissions named by a directory or a roster CSV."""
    if source.is_dir():
        return _from_directory(source)
    if source.is_file():
        return _from_csv(source)
    raise RosterError(f"{source}: no such directory or roster CSV")


def is_git_url(text: str) -> bool:
    """Whether `text` is a git URL rather than a local path."""
    return bool(_SCHEME.match(text) or _SCP_LIKE.match(text) or _TRANSPORT.match(text))


def _from_directory(root: Path) -> tuple[Submission, ...]:
    if (root / ".git").exists():
        raise RosterError(f"{root} is one project (it has a .git): grade it with `grade {root} --phase N`")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise RosterError(f"{root}: no submission folders in it (expected one folder or git repository per student)")
    return _with_slugs((p.name, str(p.resolve())) for p in folders)


def _from_csv(path: Path) -> tuple[Submission, ...]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError(f"{path}: not a roster CSV (not UTF-8 text)") from None
    except OSError as exc:
        raise RosterError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows = _rows(path, text)
    if not rows:
        raise RosterError(f"{path}: empty roster (expected a header line such as `student,repo`)")
    header = [h.strip().lower() for h in rows[0]]
    students = _columns(header, STUDENT_COLUMNS)
    repos = _columns(header, REPO_COLUMNS)
    if not students or not repos:
        missing = "student" if not students else "repository"
        expected = ", ".join(STUDENT_COLUMNS if not students else REPO_COLUMNS)
        raise RosterError(f"{path}: no {missing} column (expected one of: {expected}; found: {', '.join(header)})")
    entries: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        student = _first(row, students)
        repo = _first(row, repos)
        if not student:
            raise RosterError(f"{path}:{number}: no student name")
        if not repo:
            raise RosterError(f"{path}:{number}: no repository for student {student!r}")
        if student in seen:
            raise RosterError(f"{path}:{number}: student {student!r} is listed twice (also on line {seen[student]})")
        seen[student] = number
        entries.append((student, _source(path, number, repo)))
    if not entries:
        raise RosterError(f"{path}: no student rows under the header")
    return _with_slugs(entries)


def _rows(path: Path, text: str) -> list[list[str]]:
    if "\0" in text:
        raise RosterError(f"{path}: malformed CSV: it contains a NUL byte")
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    try:
        return list(csv.reader(text.splitlines(), delimiter=delimiter))
    except csv.Error as exc:
        raise RosterError(f"{path}: malformed CSV: {exc}") from None


def _columns(header: Sequence[str], names: Sequence[str]) -> list[int]:
    """Indexes of the known columns present, in order of preference."""
    return [header.index(name) for name in names if name in header]


def _first(row: Sequence[str], columns: Iterable[int]) -> str:
    return next((row[i].strip() for i in columns if i < len(row) and row[i].strip()), "")


def _source(roster: Path, line: int, repo: str) -> str:
    """A git URL as given (if its transport is one git may use), or the path made absolute."""
    if not is_git_url(repo):
        path = Path(repo).expanduser()
        return str((path if path.is_absolute() else roster.parent / path).resolve())
    scheme = _SCHEME.match(repo)
    if _TRANSPORT.match(repo) or (scheme and scheme.group(1).lower() not in URL_SCHEMES):
        raise RosterError(f"{roster}:{line}: {repo!r}: unsupported git URL (use {', '.join(URL_SCHEMES)} or a path)")
    return repo


def _with_slugs(entries: Iterable[tuple[str, str]]) -> tuple[Submission, ...]:
    """Submissions with unique folder names: the student's slug, numbered when two would clash."""
    taken: set[str] = set()
    out = []
    for student, source in entries:
        base = slugify(student, fallback="student")
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        out.append(Submission(student, source, slug))
    return tuple(out)
