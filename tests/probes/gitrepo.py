"""Build small real git repositories for probe tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT = ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.test", "-c", "commit.gpgsign=false"]


def git(repo: Path, *args: str, date: str = "2026-01-01T10:00:00+00:00") -> str:
    """Run git in `repo` with fixed dates; return stdout."""
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    return subprocess.run([*GIT, *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def init(repo: Path) -> Path:
    """An empty repository on branch main."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    return repo


def commit(
    repo: Path, message: str, files: dict[str | bytes, str | bytes], date: str = "2026-01-01T10:00:00+00:00"
) -> str:
    """Write `files` (names may be raw bytes), commit them all, return the new sha."""
    for name, content in files.items():
        path = Path(os.fsdecode(name)) if isinstance(name, bytes) else Path(name)
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    git(repo, "add", "-A", date=date)
    git(repo, "commit", "-q", "-m", message, date=date)
    return git(repo, "rev-parse", "HEAD").strip()
