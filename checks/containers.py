"""Container checks: the Dockerfile's practices, the Compose stack, and a real build and run of the image.

Each check judges several rules and gives the share of them met; every failed rule carries
evidence pointing at the file and line to change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks._evidence import capped
from checks._parts import ratio
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.compose_file import ComposeFile, ComposeService
from grader.probes.containers import ContainerFiles, DockerLint
from grader.probes.docker_build import ContainerRun, DockerImage
from grader.probes.dockerfile import Dockerfile, is_root_user

ROLE_HINTS = {
    "app": "a service built from the project (`build: .`)",
    "database": "a database service (image postgres, mysql, mariadb or mongo)",
    "cache": "a cache service (image redis, valkey or memcached)",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One judged rule: its name, whether it is met, and what shows it."""

    name: str
    met: bool
    evidence: tuple[Evidence, ...] = ()


def judge(rules: Sequence[Rule], what: str, **kw: Any) -> Verdict:
    """Pass when every rule is met; otherwise fail with the share met as the score, failed rules' evidence first."""
    failed = [r for r in rules if not r.met]
    evidence = [e for r in failed for e in r.evidence] + [e for r in rules if r.met for e in r.evidence]
    kept = capped(evidence, len(evidence), "observations")
    if not failed:
        return Verdict.passed(f"{what}: all {len(rules)} rules met", evidence=kept, **kw)
    names = ", ".join(r.name for r in failed)
    score = ratio(len(rules) - len(failed), len(rules))
    summary = f"{what}: {len(rules) - len(failed)} of {len(rules)} rules met; not met: {names}"
    return Verdict.failed(summary, score=score, evidence=kept, **kw)


@check(
    "docker.dockerfile",
    title="The Dockerfile follows container best practices",
    requires=("docker.files", "docker.lint"),
    remediation="Start from a pinned base image (`FROM node:20.11-alpine3.19`, never `latest`); build in one "
    "stage and copy only what runs into a slim final stage (`COPY --from=build`); end the final stage with a "
    "non-root `USER` (the official Node images ship a `node` user); add a `HEALTHCHECK` (or a `healthcheck:` "
    "in Compose); keep `node_modules`, `.env` and `.git` out of the build with a `.dockerignore`; and fix what "
    "`hadolint Dockerfile` reports.",
    defaults={
        "multi_stage": True,
        "lint_levels": ["error", "warning"],
        "dockerignore": [".git", ".env", "node_modules"],
    },
)
def dockerfile_practices(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Judges the main Dockerfile: hadolint findings, stages, final USER, pinned bases, .dockerignore, HEALTHCHECK."""
    files = facts.get("docker.files", ContainerFiles)
    lint = facts.get("docker.lint", DockerLint)
    df = files.primary
    if df is None:
        looked = Evidence("looked for Dockerfile, Containerfile, Dockerfile.* and *.dockerfile")
        return Verdict.failed("no Dockerfile in the repository", evidence=(looked,))
    if not df.stages:
        problems = tuple(Evidence(p, Location(df.path, line)) for line, p in df.errors)
        return Verdict.failed(f"{df.path} cannot be read as a Dockerfile", evidence=problems)
    rules = [_lint_rule(df, lint, options["lint_levels"])]
    if options["multi_stage"]:
        rules.append(_multi_stage_rule(df))
    rules += [
        _non_root_rule(df),
        _pinned_rule(df),
        _dockerignore_rule(files, options["dockerignore"]),
        _healthcheck_rule(files, df),
    ]
    return judge(rules, df.path)


def _lint_rule(df: Dockerfile, lint: DockerLint, levels: Sequence[str]) -> Rule:
    counted = [f for f in lint.findings if f.level in levels]
    evidence = [Evidence(f"{f.code} ({f.level}): {f.message}", Location(df.path, f.line)) for f in counted]
    evidence += [Evidence(f"cannot parse: {p}", Location(df.path, line)) for line, p in df.errors]
    met = not counted and not df.errors
    others = len(lint.findings) - len(counted)
    if met:
        aside = f" ({others} at other levels, not counted)" if others else ""
        evidence.append(Evidence(f"hadolint: no {'/'.join(levels)} findings{aside}", Location(df.path)))
    return Rule("hadolint clean", met, capped(evidence, len(evidence), "findings"))


def _multi_stage_rule(df: Dockerfile) -> Rule:
    if len(df.stages) > 1:
        names = ", ".join(s.name or s.base.text for s in df.stages)
        return Rule("multi-stage build", True, (Evidence(f"{len(df.stages)} stages: {names}", Location(df.path)),))
    stage = df.stages[0]
    message = f"a single stage (FROM {stage.base.text}): build tools and sources ship in the final image"
    return Rule("multi-stage build", False, (Evidence(message, Location(df.path, stage.line)),))


def _non_root_rule(df: Dockerfile) -> Rule:
    final = df.final
    assert final is not None
    user = df.effective_user()
    if user is None:
        if final.base_stage is None and "nonroot" in (final.base.tag or ""):
            return Rule("non-root user", True, (Evidence(f"base image {final.base.text} runs as non-root"),))
        message = "no USER in the final stage: the container runs as the base image's user (root for most images)"
        return Rule("non-root user", False, (Evidence(message, Location(df.path, final.line)),))
    line, name = user
    if is_root_user(name):
        return Rule(
            "non-root user", False, (Evidence(f"the final stage runs as USER {name}", Location(df.path, line)),)
        )
    return Rule("non-root user", True, (Evidence(f"runs as USER {name}", Location(df.path, line)),))


def _pinned_rule(df: Dockerfile) -> Rule:
    floating = [s for s in df.external_bases if s.base.floating]
    if not floating:
        bases = ", ".join(sorted({s.base.text for s in df.external_bases})) or "scratch"
        return Rule("pinned base images", True, (Evidence(f"base images pinned: {bases}", Location(df.path)),))
    evidence = tuple(
        Evidence(
            f"FROM {s.base.text}: {'no tag' if s.base.tag is None else repr(s.base.tag)} is not a version, "
            "so the image changes under you",
            Location(df.path, s.line),
        )
        for s in floating
    )
    return Rule("pinned base images", False, evidence)


def _dockerignore_rule(files: ContainerFiles, wanted: Iterable[str]) -> Rule:
    entries = [w for w in wanted if w != "node_modules" or files.node_project]
    ignore = files.dockerignore
    if ignore is None:
        context = "the repository root" if files.context == "." else files.context
        message = f"no .dockerignore in the build context ({context}): {', '.join(entries)} would be sent and copied"
        return Rule(".dockerignore", False, (Evidence(message),))
    missing = [e for e in entries if not ignore.excludes(e)]
    if missing:
        return Rule(
            ".dockerignore", False, (Evidence(f"does not exclude {', '.join(missing)}", Location(ignore.path)),)
        )
    return Rule(".dockerignore", True, (Evidence(f"excludes {', '.join(entries)}", Location(ignore.path)),))


def _healthcheck_rule(files: ContainerFiles, df: Dockerfile) -> Rule:
    healthcheck = df.effective_healthcheck()
    if healthcheck is not None:
        return Rule("health check", True, (Evidence("HEALTHCHECK", Location(df.path, healthcheck[0])),))
    service = files.service_for(df)
    if service is not None and service.healthcheck_line is not None and files.compose is not None:
        where = Location(files.compose.path, service.healthcheck_line)
        return Rule("health check", True, (Evidence(f"Compose service {service.name} has a healthcheck", where),))
    final = df.final
    message = "no HEALTHCHECK in the final stage and no Compose healthcheck for the service built from it"
    return Rule("health check", False, (Evidence(message, Location(df.path, final.line if final else None)),))


@check(
    "docker.compose",
    title="Docker Compose runs the app with its database and cache, healthy and without inline secrets",
    requires=("docker.files",),
    remediation="Add a `compose.yaml` with the app (`build: .`), a database (e.g. `image: postgres:16-alpine`) "
    "and a cache (`image: redis:7-alpine`); give every service a `healthcheck:` (e.g. `pg_isready`, "
    "`redis-cli ping`, a GET of the app's /health) and start the app `depends_on: {db: {condition: "
    "service_healthy}}`; take passwords from the environment (`POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}` with a "
    "git-ignored `.env`) or Compose `secrets:`; keep database data in a named volume (`pgdata:/var/lib/"
    "postgresql/data`, declared under top-level `volumes:`), not a bind mount.",
    defaults={"services": ["app", "database", "cache"]},
)
def compose_stack(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Parses the Compose file: services by role, healthchecks, inline secrets, named volumes for data."""
    files = facts.get("docker.files", ContainerFiles)
    compose = files.compose
    if compose is None:
        return Verdict.failed("no Compose file (compose.yaml, compose.yml, docker-compose.yml or .yaml)")
    if compose.error is not None:
        problem = Evidence(compose.error, Location(compose.path, compose.error_line))
        return Verdict.failed(f"{compose.path} cannot be read", evidence=(problem,))
    rules = [_role_rule(compose, role) for role in options["services"]]
    rules += [_compose_health_rule(files, compose), _secrets_rule(compose)]
    databases = [s for s in compose.services if s.role == "database"]
    if databases:
        rules.append(_volumes_rule(compose, databases))
    return judge(rules, compose.path)


def _role_rule(compose: ComposeFile, role: str) -> Rule:
    found = [s for s in compose.services if s.role == role]
    if found:
        where = Location(compose.path, found[0].line)
        return Rule(
            f"{role} service", True, (Evidence(f"{role}: {found[0].name} ({found[0].image or 'build'})", where),)
        )
    hint = ROLE_HINTS.get(role, f"a service with the role {role!r}")
    return Rule(f"{role} service", False, (Evidence(f"no {role} service: add {hint}", Location(compose.path)),))


def _compose_health_rule(files: ContainerFiles, compose: ComposeFile) -> Rule:
    judged = [s for s in compose.services if s.role is not None] or list(compose.services)
    missing = [s for s in judged if s.healthcheck_line is None and not _image_has_healthcheck(files, s)]
    if missing:
        evidence = tuple(
            Evidence(f"service {s.name} has no healthcheck", Location(compose.path, s.line)) for s in missing
        )
        return Rule("healthchecks", False, evidence)
    return Rule("healthchecks", True, (Evidence(f"healthchecks on {', '.join(s.name for s in judged)}"),))


def _image_has_healthcheck(files: ContainerFiles, service: ComposeService) -> bool:
    """A service built from a Dockerfile with a HEALTHCHECK needs none in Compose."""
    built = next((d for d in files.dockerfiles if d.path == service.build_dockerfile), None)
    return built is not None and built.effective_healthcheck() is not None


def _secrets_rule(compose: ComposeFile) -> Rule:
    found = [(s, secret) for s in compose.services for secret in s.secrets]
    if not found:
        return Rule("no inline secrets", True, (Evidence("no secret written inline", Location(compose.path)),))
    advice = "take it from the environment (${NAME} with a git-ignored .env) or Compose secrets"
    evidence = tuple(
        Evidence(f"service {s.name}: {secret.name} has a {secret.why}; {advice}", Location(compose.path, secret.line))
        for s, secret in found
    )
    return Rule("no inline secrets", False, evidence)


def _volumes_rule(compose: ComposeFile, databases: list[ComposeService]) -> Rule:
    evidence: list[Evidence] = []
    for service in databases:
        named = [m for m in service.mounts if m.kind == "named"]
        for mount in service.mounts:
            if mount.kind == "bind":
                text = f"service {service.name} keeps data in a bind mount {mount.source}:{mount.target}"
                evidence.append(Evidence(text, Location(compose.path, mount.line)))
        undeclared = [m for m in named if m.source not in compose.volumes]
        for mount in undeclared:
            text = f"volume {mount.source} is not declared under the top-level `volumes:`"
            evidence.append(Evidence(text, Location(compose.path, mount.line)))
        if not named:
            text = f"service {service.name} has no named volume: its data is lost with the container"
            evidence.append(Evidence(text, Location(compose.path, service.line)))
    if evidence:
        return Rule("named volumes for data", False, tuple(evidence))
    names = ", ".join(sorted({m.source or "" for s in databases for m in s.mounts if m.kind == "named"}))
    return Rule("named volumes for data", True, (Evidence(f"database data in named volume(s): {names}"),))


@check(
    "docker.build",
    title="The image builds, starts, answers its health path and runs as a non-root user",
    requires=("docker.image",),
    remediation="Run `docker build -t app .` and `docker run --rm -p 3000:3000 app` locally and fix what fails; "
    "the container must listen on the port it EXPOSEs (or on $PORT), answer GET /health (or the path its "
    "HEALTHCHECK uses) with 200, and run as a non-root USER. Keep the image small with a multi-stage build on "
    "a slim base and `npm ci --omit=dev`.",
    defaults={"max_size_mb": 0},
)
def image_builds_and_runs(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Builds the image on a local Docker engine, runs it isolated, asks its health path, reports its size."""
    image = facts.get("docker.image", DockerImage)
    if image.dockerfile is None:
        return Verdict.failed("no Dockerfile to build")
    where = Location(image.dockerfile)
    if not image.built:
        evidence = (Evidence("the image does not build", where, image.build_log[-4000:] or None),)
        return Verdict.failed(f"{image.dockerfile} does not build", evidence=evidence)
    size_mb = (image.size_bytes or 0) / 1e6
    built = Evidence(
        f"built in {image.build_seconds:.1f} s on Docker {image.engine}; image size {size_mb:.0f} MB", where
    )
    rules = [Rule("builds", True, (built,))]
    run = image.run
    if run is not None:
        rules += _run_rules(image, run)
    if options["max_size_mb"]:
        limit = float(options["max_size_mb"])
        rules.append(Rule(f"image at most {limit:.0f} MB", size_mb <= limit, (built,) if size_mb > limit else ()))
    verdict = judge(rules, image.dockerfile, value=round(size_mb, 1), unit="MB")
    if run is not None and run.health is None and not run.health_reachable and verdict.score == 1.0:
        summary = f"{verdict.summary}; health path not checked: {run.health_note}"
        return Verdict.warned(summary, evidence=verdict.evidence, value=verdict.value, unit="MB")
    return verdict


def _run_rules(image: DockerImage, run: ContainerRun) -> list[Rule]:
    logs = run.logs[-4000:] or None
    started = run.started and (run.running or run.health is not None)
    state = "kept running" if started else run.health_note or "did not start"
    rules = [Rule("starts", started, (Evidence(f"the container {state}", None, None if started else logs),))]
    if run.health is not None:
        answer = f"{run.health.path} → {run.health.status}" if run.health.status else f"HEALTHCHECK {run.health.path}"
        verdict = "healthy" if run.health.healthy else "not healthy"
        evidence = Evidence(f"{answer}: {verdict} (via {run.health.via})", None, None if run.health.healthy else logs)
        rules.append(Rule("answers its health path", run.health.healthy, (evidence,)))
    elif started and run.health_reachable:
        rules.append(Rule("answers its health path", False, (Evidence(run.health_note, None, logs),)))
    uid_known = run.uid is not None
    root = run.uid == 0 if uid_known else (not image.config_user or is_root_user(image.config_user))
    who = f"uid {run.uid}" if uid_known else f"USER {image.config_user or '(none: root)'}"
    rules.append(Rule("runs as non-root", not root, (Evidence(f"the container runs as {who}"),)))
    return rules
