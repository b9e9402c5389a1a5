"""Dockerfiles read into stages, linted by the real hadolint, and judged by docker.dockerfile."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from checks.containers import dockerfile_practices
from grader.facts import Facts
from grader.model import Location, Outcome, Verdict
from grader.probes.containers import MAX_BYTES, ContainerFiles, DockerIgnore, DockerLint, find_container_files, lint
from grader.probes.dockerfile import parse_dockerfile, split_image

DEFAULTS = {"multi_stage": True, "lint_levels": ["error", "warning"], "dockerignore": [".git", ".env", "node_modules"]}


def files_of(root: Path) -> ContainerFiles:
    return find_container_files(root, tuple(sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())))


def judged(root: Path, **options: object) -> tuple[ContainerFiles, Verdict]:
    found = files_of(root)
    assert found.primary is not None
    text = (root / found.primary.path).read_text()
    facts = Facts({"docker.files": found, "docker.lint": DockerLint(found.primary.path, lint(text, root))})
    return found, dockerfile_practices(facts, {**DEFAULTS, **options})


def test_stages_args_continuations_and_heredocs_are_read() -> None:
    text = """\
# escape=\\
ARG BASE=node:20.11-alpine3.19
FROM --platform=linux/amd64 ${BASE} AS build
RUN apt-get update \\
# a comment inside a continuation
    && echo done
RUN <<EOF
echo FROM inside a heredoc is not an instruction
EOF
USER builder

FROM build AS test
RUN npm test

FROM gcr.io/distroless/nodejs20-debian12@sha256:abc123 AS runtime
EXPOSE 3000/tcp 9229
HEALTHCHECK CMD ["wget", "-qO-", "http://localhost:3000/healthz"]
"""
    df = parse_dockerfile("Dockerfile", text)
    assert df.errors == ()
    assert [(s.line, s.name, s.base.text, s.base_stage) for s in df.stages] == [
        (3, "build", "node:20.11-alpine3.19", None),
        (12, "test", "build", 0),
        (15, "runtime", "gcr.io/distroless/nodejs20-debian12@sha256:abc123", None),
    ]
    assert [i.keyword for i in df.instructions][:4] == ["ARG", "FROM", "RUN", "RUN"]
    assert df.instructions[2].args == "apt-get update && echo done"
    assert df.effective_user(df.stages[1]) == (10, "builder")  # inherited from the stage it builds on
    assert df.effective_user() is None
    assert df.exposed_ports() == (3000, 9229)
    assert df.effective_healthcheck() == (17, 'CMD ["wget", "-qO-", "http://localhost:3000/healthz"]')
    assert [s.base.floating for s in df.external_bases] == [False, False]


def test_image_references_are_split_into_name_tag_and_digest() -> None:
    assert split_image("localhost:5000/team/api:1.4") == split_image("localhost:5000/team/api:1.4")
    ref = split_image("localhost:5000/team/api:1.4")
    assert (ref.name, ref.tag, ref.digest) == ("localhost:5000/team/api", "1.4", None)
    assert split_image("localhost:5000/team/api").tag is None
    assert [
        split_image(t).floating for t in ("node", "node:latest", "node:lts-alpine", "node:20", "node@sha256:1")
    ] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_bad_dockerfiles_give_errors_with_lines_not_exceptions() -> None:
    no_from = parse_dockerfile("Dockerfile", "RUN echo hi\nCOPY . .\n")
    assert no_from.stages == ()
    assert (1, "RUN before the first FROM") in no_from.errors
    assert no_from.errors[-1] == (1, "no FROM instruction: a Dockerfile must start from a base image")
    typo = parse_dockerfile("Dockerfile", "FROM node:20\nRUNN npm ci\nHEALTHCHECK NONE\n")
    assert typo.errors == ((2, "unknown instruction 'RUNN'"),)
    assert typo.effective_healthcheck() is None
    assert parse_dockerfile("Dockerfile", "FROM\n").errors == ((1, "FROM without an image"),)


def test_binary_and_huge_dockerfiles_are_reported_as_unreadable(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"FROM node:20\n\0\x01\x02")
    (tmp_path / "worker.Dockerfile").write_text("FROM node:20\n" + "RUN echo x\n" * (MAX_BYTES // 10))
    size = (tmp_path / "worker.Dockerfile").stat().st_size
    found = files_of(tmp_path)
    assert [(d.path, d.errors) for d in found.dockerfiles] == [
        ("Dockerfile", ((1, "not a text file (binary content)"),)),
        ("worker.Dockerfile", ((1, f"too large to read ({size} bytes; the limit is {MAX_BYTES})"),)),
    ]
    verdict = dockerfile_practices(
        Facts({"docker.files": found, "docker.lint": DockerLint("Dockerfile", ())}), DEFAULTS
    )
    assert verdict.outcome is Outcome.FAIL and verdict.summary == "Dockerfile cannot be read as a Dockerfile"


def test_dockerignore_follows_docker_semantics() -> None:
    def ignore(*patterns: str) -> DockerIgnore:
        return DockerIgnore(".dockerignore", tuple(enumerate(patterns, 1)))

    allowlist = ignore("*", "!src", "!package*.json")
    assert [allowlist.excludes(e) for e in ("node_modules", ".env", ".git", "src", "package.json")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert not ignore(".env*", "!.env").excludes(".env")
    assert ignore("./.git/", "/node_modules", "**/.env").excludes(".git")
    assert ignore("./.git/", "/node_modules", "**/.env").excludes("node_modules")
    assert not ignore("src/node_modules").excludes("node_modules")  # anchored at the context root


def test_hadolint_reports_the_flawed_dockerfile_with_lines(built_fixture: Callable[[str], Path]) -> None:
    root = built_fixture("docker-flawed")
    findings = lint((root / "Dockerfile").read_text(), root)
    assert [(f.code, f.line, f.level) for f in findings] == [("DL3007", 1, "warning"), ("DL3025", 6, "warning")]


def test_the_good_fixture_meets_every_rule(built_fixture: Callable[[str], Path]) -> None:
    found, verdict = judged(built_fixture("docker-good"))
    assert found.primary is not None and found.context == "."
    assert verdict.outcome is Outcome.PASS, verdict.summary
    messages = {e.message: e.location for e in verdict.evidence}
    assert messages["hadolint: no error/warning findings (1 at other levels, not counted)"] == Location("Dockerfile")
    assert messages["runs as USER node"] == Location("Dockerfile", 15)
    assert messages["base images pinned: node:20.20-bookworm-slim"] == Location("Dockerfile")
    assert messages["HEALTHCHECK"] == Location("Dockerfile", 17)


def test_the_flawed_fixture_fails_every_rule_with_file_and_line(built_fixture: Callable[[str], Path]) -> None:
    _, verdict = judged(built_fixture("docker-flawed"))
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.0)
    assert [(e.message.split(":")[0], e.location) for e in verdict.evidence] == [
        ("DL3007 (warning)", Location("Dockerfile", 1)),
        ("DL3025 (warning)", Location("Dockerfile", 6)),
        ("a single stage (FROM node", Location("Dockerfile", 1)),
        ("no USER in the final stage", Location("Dockerfile", 1)),
        ("FROM node", Location("Dockerfile", 1)),
        ("no .dockerignore in the build context (the repository root)", None),
        (
            "no HEALTHCHECK in the final stage and no Compose healthcheck for the service built from it",
            Location("Dockerfile", 1),
        ),
    ]
    _, day7 = judged(built_fixture("docker-flawed"), multi_stage=False)
    assert "multi-stage" not in day7.summary and day7.summary.startswith("Dockerfile: 0 of 5 rules met")


def test_root_user_compose_healthcheck_and_a_partial_dockerignore(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "Dockerfile").write_text(
        "FROM node:20.11-alpine3.19 AS build\nWORKDIR /app\nCOPY . .\n\n"
        'FROM node:20.11-alpine3.19\nCOPY --from=build /app /app\nUSER root\nCMD ["node", "/app/server.js"]\n'
    )
    (tmp_path / "api" / "package.json").write_text("{}")
    (tmp_path / "api" / ".dockerignore").write_text("# deps\nnode_modules\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  api:\n    build:\n      context: ./api\n    healthcheck:\n      test: [CMD, node, -v]\n"
    )
    found, verdict = judged(tmp_path)
    assert found.context == "api" and found.dockerignore is not None
    assert verdict.summary == "api/Dockerfile: 3 of 6 rules met; not met: hadolint clean, non-root user, .dockerignore"
    failed = [(e.message, e.location) for e in verdict.evidence[:3]]
    assert failed == [
        ("DL3002 (warning): Last USER should not be root", Location("api/Dockerfile", 7)),
        ("the final stage runs as USER root", Location("api/Dockerfile", 7)),
        ("does not exclude .git, .env", Location("api/.dockerignore")),
    ]
    assert any(e.message == "Compose service api has a healthcheck" for e in verdict.evidence)


def test_no_dockerfile_fails(tmp_path: Path) -> None:
    (tmp_path / "server.js").write_text("")
    found = files_of(tmp_path)
    verdict = dockerfile_practices(Facts({"docker.files": found, "docker.lint": DockerLint(None, ())}), DEFAULTS)
    assert (verdict.outcome, verdict.summary) == (Outcome.FAIL, "no Dockerfile in the repository")
