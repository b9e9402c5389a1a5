"""The `micro.repo` probe: the services of a microservices project, read from the repository.

A service is a folder (one to three levels down) with its own manifest (package.json with a
start script or `main`, pyproject.toml, requirements.txt, Pipfile, setup.py) or Dockerfile, or a
compose service built from a folder. Folders such as `shared/`, `libs/` or `tests/` are not
services. For each service the probe notes its manifest, lockfile and Dockerfile, and the
relative imports that reach into a sibling service's source. It also finds the API gateway, the
message-broker clients (and which service produces and which consumes) and the tracing set-up
(see :mod:`grader.probes.micro_scan`).
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.micro_config import MicroservicesConfig
from grader.probes.micro_scan import (
    BROKER_IMAGES,
    GATEWAY_IMAGES,
    Finding,
    Sources,
    gateway_config_file,
    gateway_in_service,
    in_folder,
    queue_roles,
    read_text,
    sibling_imports,
    tracing_setup,
)
from grader.probes.node_install import as_dict
from grader.probes.repo import LOCKFILES, RepoFacts
from grader.probes.text_files import line_at

MANIFESTS = ("package.json", "pyproject.toml", "requirements.txt", "Pipfile", "setup.py")
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
NOT_SERVICES = frozenset(
    {"shared", "common", "lib", "libs", "utils", "test", "tests", "e2e", "docs", "scripts", "fixtures", "examples",
     "dist", "build", "coverage", "vendor", ".github"}
)  # fmt: skip
MAX_DEPTH = 3


@dataclass(frozen=True, slots=True)
class ServiceUnit:
    """One service of the project and what makes it buildable on its own."""

    name: str
    folder: str  # repo path of its folder; "" for the project root
    manifest: str | None  # repo path
    lockfile: str | None  # repo path
    dockerfile: str | None  # repo path
    language: str | None  # "node" | "python"
    compose: bool  # a compose service builds it
    sibling_imports: tuple[Finding, ...]  # relative imports into another service's folder

    @property
    def builds_alone(self) -> bool:
        """Its own manifest and lockfile, or its own Dockerfile."""
        return bool(self.manifest and self.lockfile) or self.dockerfile is not None

    @property
    def independent(self) -> bool:
        """Buildable alone and importing no sibling's source."""
        return self.builds_alone and not self.sibling_imports


@dataclass(frozen=True, slots=True)
class MicroRepo:
    """What the repository shows of a microservices architecture."""

    services: tuple[ServiceUnit, ...]
    gateway: Finding | None  # `service` is the gateway's service name when it is one of them
    queue: tuple[Finding, ...]  # kind "producer" | "consumer": a service using a broker client
    brokers: tuple[Finding, ...]  # kind "broker": a broker service in compose
    tracing: tuple[Finding, ...]  # kind "opentelemetry" | "w3c" | "declared" (dependency, never initialised)
    compose_file: str | None
    notes: tuple[str, ...] = ()

    @property
    def application_services(self) -> tuple[ServiceUnit, ...]:
        """The services other than the gateway."""
        gateway = self.gateway.service if self.gateway else None
        return tuple(s for s in self.services if s.name != gateway)


@probe("micro.repo", timeout_s=60)
def micro_repo(ctx: ProbeContext) -> MicroRepo:
    """Find the services (folders with their own manifest or Dockerfile, compose builds), gateway, queue and tracing."""
    return scan_repo(ctx.fact("repo", RepoFacts), ctx.config.microservices)


def scan_repo(repo: RepoFacts, config: MicroservicesConfig) -> MicroRepo:
    """The microservices facts of `repo`; grade.toml [microservices] names the gateway when it says."""
    notes: list[str] = []
    compose = Compose.read(repo, notes)
    built = compose.builds()
    folders = _service_names(_service_folders(repo, built), built)
    sources = Sources(repo, folders)
    services = tuple(_unit(repo, name, folder, folder in built.values(), sources) for name, folder in folders.items())
    dependencies = {s.name: _dependencies(repo, s.manifest, notes) for s in services}
    manifests = {s.name: s.manifest for s in services}
    return MicroRepo(
        services=services,
        gateway=_gateway(services, config, sources, dependencies, compose),
        queue=queue_roles(sources, dependencies),
        brokers=compose.images(BROKER_IMAGES, "broker"),
        tracing=tracing_setup(sources, dependencies, manifests),
        compose_file=compose.path,
        notes=tuple(dict.fromkeys(notes)),
    )


@dataclass(frozen=True, slots=True)
class Compose:
    """The services of the project's compose file (empty when there is none or it is malformed)."""

    path: str | None
    text: str
    services: Mapping[str, Mapping[str, Any]]

    @classmethod
    def read(cls, repo: RepoFacts, notes: list[str]) -> Compose:
        """The first compose file at the top of the project."""
        path = next((name for name in COMPOSE_FILES if repo.has(name)), None)
        if path is None:
            return cls(None, "", {})
        text = read_text(repo.root / path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            notes.append(f"{path} is not valid YAML: {str(exc).splitlines()[0]}")
            return cls(path, text, {})
        services = data.get("services") if isinstance(data, dict) else None
        if not isinstance(services, dict):
            notes.append(f"{path} has no `services:` mapping")
            return cls(path, text, {})
        return cls(path, text, {str(k): v for k, v in services.items() if isinstance(v, dict)})

    def builds(self) -> dict[str, str]:
        """Compose service name -> the project folder it is built from ("" for the root)."""
        base = posixpath.dirname(self.path or "")
        built = {}
        for name, service in self.services.items():
            build = service.get("build")
            context = build.get("context", ".") if isinstance(build, dict) else build
            if isinstance(context, str):
                folder = posixpath.normpath(posixpath.join(base, context))
                if not folder.startswith(".."):
                    built[name] = "" if folder == "." else folder
        return built

    def images(self, pattern: re.Pattern[str], kind: str) -> tuple[Finding, ...]:
        """Compose services whose image matches `pattern` (a broker, a gateway product)."""
        found = []
        for name, service in self.services.items():
            image = service.get("image")
            if isinstance(image, str) and pattern.search(image.rsplit("/", 1)[-1].split(":")[0]):
                found.append(
                    Finding(kind, None, f"compose service {name!r} runs {image}", self.path or "", self.line(name))
                )
        return tuple(found)

    def line(self, name: str) -> int | None:
        """The line where the compose service is declared."""
        match = re.search(rf"^\s+{re.escape(name)}\s*:", self.text, re.M)
        return line_at(self.text, match.start()) if match else None


def _service_folders(repo: RepoFacts, built: Mapping[str, str]) -> list[str]:
    """Folders holding a service, shallowest first; a folder inside another service's is part of it."""
    candidates = set(built.values())
    for path in repo.files:
        folder, _, base = path.rpartition("/")
        parts = folder.split("/")
        if not folder or len(parts) > MAX_DEPTH or NOT_SERVICES.intersection(parts):
            continue
        if _is_dockerfile(base) or (base in MANIFESTS and _runnable(repo, folder, base)):
            candidates.add(folder)
    kept: list[str] = []
    for folder in sorted(candidates, key=lambda f: (f.count("/") if f else -1, f)):
        if not any(k and in_folder(folder, k) for k in kept):
            kept.append(folder)
    return kept


def _runnable(repo: RepoFacts, folder: str, manifest: str) -> bool:
    """A package.json with a start script or `main` (not a library); any Python manifest beside .py files."""
    if manifest == "package.json":
        data = _json(repo, f"{folder}/package.json", [])
        scripts = data.get("scripts")
        return "main" in data or (isinstance(scripts, dict) and "start" in scripts)
    return any(f.startswith(folder + "/") and f.endswith(".py") for f in repo.files)


def _service_names(folders: list[str], built: Mapping[str, str]) -> dict[str, str]:
    """Service name -> folder: the compose name, else the folder's name (its path when two share a name)."""
    by_folder = {folder: name for name, folder in built.items()}
    bases = [posixpath.basename(f) for f in folders]
    names = {}
    for folder, base in zip(folders, bases, strict=True):
        name = by_folder.get(folder) or (base if bases.count(base) == 1 else folder) or "root"
        names[name] = folder
    return names


def _unit(repo: RepoFacts, name: str, folder: str, compose: bool, sources: Sources) -> ServiceUnit:
    prefix = f"{folder}/" if folder else ""
    manifest = next((prefix + m for m in MANIFESTS if repo.has(prefix + m)), None)
    own = [f for f in repo.files if f.startswith(prefix) and "/" not in f[len(prefix) :]]
    python = manifest is not None and not manifest.endswith("package.json")
    return ServiceUnit(
        name=name,
        folder=folder,
        manifest=manifest,
        lockfile=next((prefix + lock for lock, _ in LOCKFILES if repo.has(prefix + lock)), None),
        dockerfile=next((f for f in own if _is_dockerfile(posixpath.basename(f))), None),
        language=None if manifest is None else "python" if python else "node",
        compose=compose,
        sibling_imports=sibling_imports(sources, name),
    )


def _gateway(
    services: tuple[ServiceUnit, ...],
    config: MicroservicesConfig,
    sources: Sources,
    dependencies: Mapping[str, frozenset[str]],
    compose: Compose,
) -> Finding | None:
    """The gateway: the one grade.toml names, else a service using a proxy library or named so, else a config."""
    found = {s.name: gateway_in_service(sources, s.name, dependencies[s.name], s.manifest) for s in services}
    configured = _configured_gateway(services, config)
    if configured is not None:
        return found[configured] or Finding("configured", configured, "named in grade.toml", "grade.toml")
    by_library = next((f for f in found.values() if f is not None and f.kind == "library"), None)
    by_name = next((f for f in found.values() if f is not None), None)
    images = compose.images(GATEWAY_IMAGES, "image")
    return by_library or by_name or gateway_config_file(sources) or (images[0] if images else None)


def _configured_gateway(services: tuple[ServiceUnit, ...], config: MicroservicesConfig) -> str | None:
    """The service grade.toml [microservices] gateway names (matched by folder, else by name)."""
    if config.gateway is None:
        return None
    entry = config.service(config.gateway)
    by_folder = next((s.name for s in services if entry.cwd is not None and s.folder == entry.cwd), None)
    return by_folder or next((s.name for s in services if s.name == entry.name), None)


def _dependencies(repo: RepoFacts, manifest: str | None, notes: list[str]) -> frozenset[str]:
    """The package names a service's manifest declares (lower case)."""
    if manifest is None:
        return frozenset()
    if manifest.endswith("package.json"):
        data = _json(repo, manifest, notes)
        return frozenset(str(k).lower() for key in ("dependencies", "devDependencies") for k in as_dict(data.get(key)))
    if manifest.endswith("pyproject.toml"):
        return _pyproject_dependencies(repo, manifest, notes)
    text = read_text(repo.root / manifest) if manifest.endswith("requirements.txt") else ""
    return frozenset(_requirement_name(line) for line in text.splitlines() if _requirement_name(line))


def _pyproject_dependencies(repo: RepoFacts, path: str, notes: list[str]) -> frozenset[str]:
    try:
        data = tomllib.loads(read_text(repo.root / path))
    except tomllib.TOMLDecodeError as exc:
        notes.append(f"{path} is not valid TOML: {exc}")
        return frozenset()
    project = as_dict(data.get("project"))
    poetry = as_dict(as_dict(as_dict(data.get("tool")).get("poetry")).get("dependencies"))
    listed = [d for d in project.get("dependencies") or [] if isinstance(d, str)]
    return frozenset(n for n in (*map(_requirement_name, listed), *map(_requirement_name, poetry)) if n)


def _requirement_name(spec: str) -> str:
    """'aio_pika[x]>=9 ; python_version>"3"' -> 'aio-pika'; comments and options -> ''."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    return match.group(1).lower().replace("_", "-") if match and not spec.lstrip().startswith("-") else ""


def _json(repo: RepoFacts, path: str, notes: list[str]) -> dict[str, Any]:
    try:
        data = json.loads(read_text(repo.root / path))
    except ValueError as exc:
        notes.append(f"{path} is not valid JSON: {exc}")
        return {}
    return as_dict(data)


def _is_dockerfile(name: str) -> bool:
    return name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile")
