"""Compose files parsed with line numbers, and docker.compose judged on the fixtures and on hand-made files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from checks.containers import compose_stack
from grader.facts import Facts
from grader.model import Location, Outcome, Verdict
from grader.probes.compose_file import Mount, parse_compose
from grader.probes.containers import MAX_BYTES, ContainerFiles, find_container_files

ROLES = {"services": ["app", "database", "cache"]}


def files_of(root: Path) -> ContainerFiles:
    return find_container_files(root, tuple(sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())))


def judge_text(text: str, **options: object) -> Verdict:
    compose = parse_compose("compose.yaml", text)
    files = ContainerFiles((), None, ".", None, compose, node_project=False)
    return compose_stack(Facts({"docker.files": files}), {**ROLES, **options})


def test_the_good_fixture_has_every_role_healthy_and_no_inline_secret(built_fixture: Callable[[str], Path]) -> None:
    files = files_of(built_fixture("docker-good"))
    assert files.compose is not None
    assert [(s.name, s.role, s.healthcheck_line) for s in files.compose.services] == [
        ("api", "app", 23),
        ("db", "database", 35),
        ("cache", "cache", 44),
    ]  # the healthchecks merge a shared `<<: *healthcheck` anchor
    assert files.compose.volumes == ("pgdata", "redisdata")
    verdict = compose_stack(Facts({"docker.files": files}), ROLES)
    assert verdict.outcome is Outcome.PASS, verdict.summary
    assert verdict.summary == "compose.yaml: all 6 rules met"


def test_the_flawed_fixture_fails_with_lines(built_fixture: Callable[[str], Path]) -> None:
    files = files_of(built_fixture("docker-flawed"))
    verdict = compose_stack(Facts({"docker.files": files}), ROLES)
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 2 / 6)
    failed = [(e.message.split(";")[0].split(": add")[0], e.location) for e in verdict.evidence[:8]]
    path = "docker-compose.yml"
    assert failed == [
        ("no cache service", Location(path)),
        ("service app has no healthcheck", Location(path, 3)),
        ("service db has no healthcheck", Location(path, 12)),
        ("service app: DATABASE_URL has a URL with a literal password", Location(path, 8)),
        ("service app: JWT_SECRET has a literal value (17 characters)", Location(path, 9)),
        ("service db: POSTGRES_PASSWORD has a literal value (11 characters)", Location(path, 15)),
        ("service db keeps data in a bind mount ./pgdata:/var/lib/postgresql/data", Location(path, 17)),
        ("service db has no named volume: its data is lost with the container", Location(path, 12)),
    ]
    assert not any("supersecret" in e.message for e in verdict.evidence)  # never repeats the secret


def test_malformed_yaml_and_wrong_shapes_are_clear_failures() -> None:
    broken = judge_text("services:\n  api:\n    image: node\n   build: .\n")
    assert broken.outcome is Outcome.FAIL and broken.summary == "compose.yaml cannot be read"
    assert broken.evidence[0].location == Location("compose.yaml", 4)
    assert broken.evidence[0].message.startswith("not valid YAML:")
    assert judge_text("- just\n- a list\n").evidence[0].message == "the file is not a YAML mapping of top-level keys"
    no_services = judge_text("version: '3'\nservices: [api]\n")
    assert no_services.evidence[0].location == Location("compose.yaml", 2)
    assert parse_compose("c.yaml", "[" * 100_000).error is not None  # nesting too deep for the parser
    tagged = parse_compose("c.yaml", "services:\n  a: !!python/object/apply:os.system ['touch /tmp/x']\n")
    assert tagged.error is None and tagged.services[0].name == "a"  # tags are never constructed


def test_aliases_are_not_expanded_into_a_bomb() -> None:
    layers = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    layers += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]" for i in range(20)]
    compose = parse_compose("compose.yaml", "\n".join(layers) + "\nservices:\n  app:\n    build: .\n")
    assert [s.name for s in compose.services] == ["app"]


def test_a_huge_compose_file_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text("services:\n" + "#" * MAX_BYTES)
    compose = files_of(tmp_path).compose
    assert compose is not None and compose.error is not None and compose.error.startswith("too large to read")


def test_roles_secrets_and_volumes_in_their_several_forms() -> None:
    text = """\
services:
  web:
    build: {context: ., dockerfile: docker/Dockerfile}
    environment:
      - API_KEY
      - SESSION_SECRET=${SESSION_SECRET}
      - STRIPE_API_KEY=sk_test_1234
      - REDIS_URL=redis://cache:6379
  pg:
    image: bitnami/postgresql:16.4.0
    healthcheck: {test: [CMD, pg_isready], disable: true}
    volumes:
      - type: volume
        source: dbdata
        target: /bitnami/postgresql
      - /var/lib/anon
  cache:
    image: valkey/valkey:8.0-alpine
    healthcheck: {test: [NONE]}
  ui:
    image: rediscommander/redis-commander:latest
  mongo-ui:
    image: mongo-express:1.0
volumes: {}
"""
    compose = parse_compose("deploy/compose.yaml", text)
    web, pg, cache, *_ = compose.services
    assert (web.build_context, web.build_dockerfile) == ("deploy", "deploy/docker/Dockerfile")
    assert [(s.name, s.line) for s in web.secrets] == [("STRIPE_API_KEY", 7)]
    assert [s.role for s in compose.services] == ["app", "database", "cache", None, None]
    assert pg.healthcheck_line is None and cache.healthcheck_line is None
    assert pg.mounts == (
        Mount(13, "named", "dbdata", "/bitnami/postgresql"),
        Mount(16, "anonymous", None, "/var/lib/anon"),
    )
    verdict = compose_stack(Facts({"docker.files": ContainerFiles((), None, ".", None, compose, False)}), ROLES)
    assert verdict.summary.endswith("not met: healthchecks, no inline secrets, named volumes for data")
    assert "volume dbdata is not declared under the top-level `volumes:`" in [e.message for e in verdict.evidence]


def test_required_roles_are_an_option() -> None:
    text = "services:\n  app:\n    build: .\n    healthcheck: {test: [CMD, 'true']}\n"
    assert judge_text(text, services=["app"]).outcome is Outcome.PASS
    assert judge_text(text).score == 3 / 5


def test_no_compose_file_fails() -> None:
    files = ContainerFiles((), None, ".", None, None, node_project=False)
    verdict = compose_stack(Facts({"docker.files": files}), ROLES)
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.0)
