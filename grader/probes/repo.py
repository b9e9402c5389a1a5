"""Repository facts: the files (respecting .gitignore), languages, package manager, manifests."""

from __future__ import annotations

import bisect
import json
import os
import subprocess
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from grader.facts import ProbeContext
from grader.plugin import probe

ALWAYS_SKIPPED_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache"})

LANGUAGE_BY_SUFFIX: dict[str, str] = {
    ".js": "javascript",
    ".cjs": "javascript",
    ".mjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".cts": "typescript",
    ".mts": "typescript",
    ".tsx": "typescript",
    ".py": "python",
}

NOTABLE_FILES = frozenset(
    {"readme.md", "readme", "readme.rst", "readme.txt", ".gitignore", ".env.example", ".env.sample", ".env.template"}
)
NOTABLE_MAX_BYTES = 256_000

# Lockfile -> package manager, most specific first.
LOCKFILES: tuple[tuple[str, str], ...] = (
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
    ("poetry.lock", "poetry"),
    ("uv.lock", "uv"),
    ("Pipfile.lock", "pipenv"),
    ("requirements.txt", "pip"),
)


@dataclass(frozen=True, slots=True)
class RepoFacts:
    """What is in the submission, as a learner's `git status` would see it."""

    root: Path
    files: tuple[str, ...]  # posix paths relative to root, ignored files excluded
    tracked: tuple[str, ...] | None  # files git tracks (None: not a git work tree)
    listing: str  # how files were listed, e.g. "git ls-files"
    languages: dict[str, int]
    package_manager: str | None
    lockfile: str | None
    package_json: dict[str, Any] | None
    pyproject: dict[str, Any] | None
    texts: dict[str, str]  # contents of the notable top-level files (README, .gitignore, .env.example...)
    notes: tuple[str, ...] = field(default=())

    @property
    def primary_language(self) -> str | None:
        """The language with the most source files."""
        return max(self.languages, key=lambda k: self.languages[k]) if self.languages else None

    def has(self, path: str) -> bool:
        """Whether a (non-ignored) file exists at `path`."""
        index = bisect.bisect_left(self.files, path)
        return index < len(self.files) and self.files[index] == path

    def top_level(self, *names: str) -> str | None:
        """The first top-level file whose name matches one of `names`, ignoring case."""
        wanted = [n.lower() for n in names]
        by_name = {f.lower(): f for f in self.files if "/" not in f}
        return next((by_name[n] for n in wanted if n in by_name), None)


@probe("repo", timeout_s=60)
def repo_facts(ctx: ProbeContext) -> RepoFacts:
    """List the submission's files respecting .gitignore; detect languages, package manager and manifests."""
    root = ctx.target
    notes: list[str] = []
    listed = _git_files(root)
    if listed is not None:
        files, tracked = listed
        listing = "git ls-files (tracked + untracked, .gitignore respected)"
    else:
        files, tracked = _walk_files(root), None
        listing = "directory walk (.gitignore respected, not a git work tree)"
    languages = Counter(
        LANGUAGE_BY_SUFFIX[Path(f).suffix]
        for f in files
        if Path(f).suffix in LANGUAGE_BY_SUFFIX and not _is_vendored(f)
    )
    present = set(files)
    lockfile, manager = next(((name, pm) for name, pm in LOCKFILES if name in present), (None, None))
    package_json = _load_json(root, "package.json", present, notes)
    if package_json is not None and lockfile is None:
        manager = _declared_package_manager(package_json) or "npm"
        notes.append(f"no lockfile: assuming {manager}")
    return RepoFacts(
        root=root,
        files=tuple(sorted(files)),
        tracked=tuple(sorted(tracked)) if tracked is not None else None,
        listing=listing,
        languages=dict(languages),
        package_manager=manager,
        lockfile=lockfile,
        package_json=package_json,
        pyproject=_load_toml(root, "pyproject.toml", present, notes),
        texts=_notable_texts(root, files),
        notes=tuple(notes),
    )


def _notable_texts(root: Path, files: list[str]) -> dict[str, str]:
    texts = {}
    for name in files:
        if "/" not in name and name.lower() in NOTABLE_FILES:
            try:
                with (root / name).open("rb") as fh:
                    texts[name] = fh.read(NOTABLE_MAX_BYTES).decode("utf-8", errors="replace")
            except OSError:
                continue
    return texts


def _is_vendored(path: str) -> bool:
    parts = path.split("/")
    return any(p in ("dist", "build", "coverage", "vendor") for p in parts[:-1])


def _git_files(root: Path) -> tuple[list[str], list[str]] | None:
    """(all non-ignored files, tracked files) from git, or None if `root` is not in a usable work tree."""

    def ls(*args: str) -> list[str] | None:
        try:
            out = subprocess.run(
                ["git", "-c", "core.quotepath=off", "ls-files", "-z", *args],
                cwd=root,
                capture_output=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if out.returncode != 0:
            return None
        return [os.fsdecode(p) for p in out.stdout.split(b"\0") if p]

    tracked = ls("--cached")
    untracked = ls("--others", "--exclude-standard")
    if tracked is None or untracked is None:
        return None
    tracked = [p for p in tracked if os.path.lexists(root / p)]  # a tracked file deleted in the work tree is gone
    files = sorted(set(tracked) | set(untracked))
    return [f for f in files if not _in_skipped_dir(f)], tracked


def _in_skipped_dir(path: str) -> bool:
    return any(part in ALWAYS_SKIPPED_DIRS for part in path.split("/")[:-1])


def _walk_files(root: Path) -> list[str]:
    """All files under root, skipping what .gitignore files (at any depth) exclude."""
    found: list[str] = []
    specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        if ".gitignore" in filenames:
            lines = (Path(dirpath) / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
            specs.append((rel_dir, pathspec.GitIgnoreSpec.from_lines(lines)))

        def ignored(rel: str) -> bool:
            return any(rel.startswith(base) and spec.match_file(rel[len(base) :]) for base, spec in specs)

        dirnames[:] = sorted(d for d in dirnames if d not in ALWAYS_SKIPPED_DIRS and not ignored(f"{rel_dir}{d}/"))
        found.extend(f"{rel_dir}{name}" for name in sorted(filenames) if not ignored(f"{rel_dir}{name}"))
    return found


def _load_json(root: Path, name: str, present: set[str], notes: list[str]) -> dict[str, Any] | None:
    if name not in present:
        return None
    try:
        data = json.loads((root / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"{name} could not be parsed: {exc}")
        return None
    if not isinstance(data, dict):
        notes.append(f"{name} is not a JSON object")
        return None
    return data


def _load_toml(root: Path, name: str, present: set[str], notes: list[str]) -> dict[str, Any] | None:
    if name not in present:
        return None
    try:
        return tomllib.loads((root / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"{name} could not be parsed: {exc}")
        return None


def _declared_package_manager(package_json: dict[str, Any]) -> str | None:
    """The manager named by package.json's `packageManager` field (corepack), e.g. 'pnpm@9.0.0'."""
    declared = package_json.get("packageManager")
    if isinstance(declared, str) and declared.split("@")[0] in ("npm", "yarn", "pnpm"):
        return declared.split("@")[0]
    return None
