"""The services of a microservices project, read from real repositories; grade.toml [microservices]."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from checks.microservices import micro_queue, micro_services
from grader.errors import ConfigError
from grader.facts import Facts, FactStore, ProbeContext
from grader.model import Outcome
from grader.probes.micro_config import MicroservicesConfig
from grader.probes.microservices import MicroRepo, scan_repo
from grader.probes.repo import RepoFacts, repo_facts
from grader.project_config import ProjectConfig, load_project_config, parse_project_config


def scan(root: Path) -> MicroRepo:
    """What the `micro.repo` probe finds in `root` (its grade.toml read as api.grade reads it)."""
    store = FactStore({}, lambda s: ProbeContext(root, ProjectConfig(), root, s, 10))
    repo: RepoFacts = repo_facts(ProbeContext(root, ProjectConfig(), root, store, 10))
    return scan_repo(repo, load_project_config(root).microservices)


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def package(start: str | None = "node src/index.js", **deps: str) -> str:
    data: dict[str, object] = {"name": "svc", "version": "1.0.0"}
    if start:
        data["scripts"] = {"start": start}
    if deps:
        data["dependencies"] = deps
    return json.dumps(data)


def test_the_good_fixture_has_three_services_that_build_alone_a_gateway_a_queue_and_tracing(
    built_fixture: Callable[[str], Path],
) -> None:
    found = scan(built_fixture("micro-good"))
    assert [(s.name, s.folder, s.independent) for s in found.services] == [
        ("gateway", "gateway", True),
        ("notifications", "services/notifications", True),
        ("orders", "services/orders", True),
        ("users", "services/users", True),
    ]
    orders = next(s for s in found.services if s.name == "orders")
    assert (orders.manifest, orders.lockfile, orders.dockerfile, orders.compose) == (
        "services/orders/package.json", "services/orders/package-lock.json", "services/orders/Dockerfile", True,
    )  # fmt: skip
    assert found.gateway is not None and (found.gateway.service, found.gateway.path) == (
        "gateway",
        "gateway/src/server.js",
    )
    assert [s.name for s in found.application_services] == ["notifications", "orders", "users"]
    assert {(f.kind, f.service, f.path) for f in found.queue} == {
        ("producer", "orders", "services/orders/src/queue.js"),
        ("consumer", "notifications", "services/notifications/src/queue.js"),
    }
    assert [(b.text, b.path, b.line) for b in found.brokers] == [
        ("compose service 'rabbitmq' runs rabbitmq:3.13-management-alpine", "docker-compose.yml", 3)
    ]
    assert {(f.kind, f.service) for f in found.tracing} == {("w3c", s.name) for s in found.services}
    assert micro_services(Facts({"micro.repo": found}), {"min_services": 3}).outcome is Outcome.PASS
    assert micro_queue(Facts({"micro.repo": found}), {}).outcome is Outcome.PASS


def test_the_flawed_fixture_has_two_services_one_importing_the_others_source(
    built_fixture: Callable[[str], Path],
) -> None:
    found = scan(built_fixture("micro-flawed"))
    assert [s.name for s in found.application_services] == ["orders", "users"]
    orders = next(s for s in found.services if s.name == "orders")
    (imported,) = orders.sibling_imports
    assert (imported.path, imported.line) == ("orders/index.js", 2)
    assert "require('../users/db')" in imported.text and "users service" in imported.text
    assert not any(s.builds_alone for s in found.services)  # no lockfile, no Dockerfile
    assert found.queue == () and found.brokers == () and found.tracing == ()
    verdict = micro_services(Facts({"micro.repo": found}), {"min_services": 3})
    assert verdict.outcome is Outcome.FAIL and verdict.value == 2 and verdict.threshold == 3
    assert verdict.score == pytest.approx(0.5 * 2 / 3, abs=0.001)
    assert "at least 3 expected" in verdict.summary
    assert any(e.location and e.location.path == "orders/index.js" and e.location.line == 2 for e in verdict.evidence)
    assert micro_queue(Facts({"micro.repo": found}), {}).outcome is Outcome.FAIL


def test_compose_builds_python_services_shared_folders_and_a_proxy_image(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "compose.yaml": "services:\n  edge:\n    image: nginx:1.27\n  queue:\n    image: bitnami/kafka:3.7\n"
                        "  billing:\n    build:\n      context: ./apps/billing\n  api:\n    build: .\n",
        "package.json": package("node server.js"),
        "server.js": "require('./apps/billing/src/invoice')\n",
        "apps/billing/Dockerfile": "FROM python:3.12\n",
        "apps/billing/requirements.txt": "celery==5.4.0\nopentelemetry-sdk==1.27\n",
        "apps/billing/src/tasks.py": "from celery import shared_task\n\n@shared_task\ndef bill(order):\n    pass\n",
        "apps/billing/src/tracing.py": "provider = TracerProvider()\n",
        "apps/shipping/pyproject.toml": '[project]\ndependencies = ["Celery>=5", "opentelemetry-distro"]\n',
        "apps/shipping/main.py": "import sys\nsys.path.append('../billing')\nfrom tasks import bill\nbill.delay(1)\n",
        "apps/shipping/ship/routes.py": "from ...billing.src.tasks import bill\n",
        "shared/package.json": package("node x.js"),
        "libs/money/package.json": package(None),
        "apps/billing/src/nested/package.json": package("node y.js"),
    })  # fmt: skip
    found = scan(root)
    by_name = {s.name: s for s in found.services}
    assert sorted(by_name) == ["api", "billing", "shipping"]  # shared/ and libs/ are not services; nested is billing's
    assert (by_name["api"].folder, by_name["billing"].folder, by_name["billing"].compose) == ("", "apps/billing", True)
    assert by_name["billing"].builds_alone and by_name["billing"].language == "python"
    assert not by_name["shipping"].builds_alone  # pyproject.toml without a lockfile or Dockerfile
    assert [(f.path, f.line) for f in by_name["shipping"].sibling_imports] == [
        ("apps/shipping/main.py", 2),
        ("apps/shipping/ship/routes.py", 1),
    ]
    assert [(f.path, f.line) for f in by_name["api"].sibling_imports] == [("server.js", 1)]
    assert found.gateway is not None and found.gateway.text == "compose service 'edge' runs nginx:1.27"
    assert [b.text for b in found.brokers] == ["compose service 'queue' runs bitnami/kafka:3.7"]
    assert {(f.kind, f.service) for f in found.queue} == {("consumer", "billing"), ("producer", "shipping")}
    assert {(f.kind, f.service) for f in found.tracing} == {("opentelemetry", "billing"), ("declared", "shipping")}


def test_a_proxy_library_or_configuration_makes_the_gateway(tmp_path: Path) -> None:
    lib = write(tmp_path / "lib", {
        "edge/package.json": package(**{"http-proxy-middleware": "^3.0.0"}),
        "edge/src/index.js": "const { createProxyMiddleware } = require('http-proxy-middleware');\n",
        "users/package.json": package(),
    })  # fmt: skip
    gateway = scan(lib).gateway
    assert gateway is not None and (gateway.kind, gateway.service, gateway.line) == ("library", "edge", 1)
    conf = write(tmp_path / "conf", {
        "users/package.json": package(),
        "nginx/default.conf": "server {\n  location /users/ {\n    proxy_pass http://users:3000;\n  }\n}\n",
    })  # fmt: skip
    gateway = scan(conf).gateway
    assert gateway is not None and (gateway.kind, gateway.path, gateway.line) == ("config", "nginx/default.conf", 3)
    assert scan(write(tmp_path / "none", {"users/package.json": package()})).gateway is None


def test_malformed_manifests_and_compose_files_are_notes_not_crashes(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "docker-compose.yml": "services: [unclosed\n",
        "users/Dockerfile": "FROM node:20\n",
        "users/package.json": "{ not json",
        "users/src/blob.js": b"\x00\xff\xfe binary \x89PNG",
        "orders/pyproject.toml": "[project\n",
        "orders/app.py": "print('hi')\n",
    })  # fmt: skip
    found = scan(root)
    assert [s.name for s in found.services] == ["orders", "users"]
    assert any("docker-compose.yml is not valid YAML" in n for n in found.notes)
    assert any("users/package.json is not valid JSON" in n for n in found.notes)
    assert any("orders/pyproject.toml is not valid TOML" in n for n in found.notes)
    verdict = micro_services(Facts({"micro.repo": found}), {"min_services": 3})
    assert verdict.outcome is Outcome.FAIL and any("not valid YAML" in e.message for e in verdict.evidence)


def test_a_monolith_has_no_services(tmp_path: Path) -> None:
    found = scan(write(tmp_path, {"package.json": package(), "src/index.js": "", "tests/package.json": package()}))
    assert found.services == ()
    verdict = micro_services(Facts({"micro.repo": found}), {"min_services": 3})
    assert verdict.outcome is Outcome.FAIL and verdict.score == 0 and verdict.summary.startswith("no services found")


# --- grade.toml [microservices] ------------------------------------------------------------------

GOOD = """
[microservices]
gateway = "gateway"
stop = "orders"
ready_timeout = 20

[[microservices.service]]
name = "orders"
start = "node src/server.js"
cwd = "services/orders"
port = 4002
health = "/health"
route = "/api/orders"

[[microservices.service]]
name = "api-gateway2"
start = "npm start"

[[microservices.service]]
name = "gateway"
start = "npm start"
cwd = "gateway"
"""


def parse(text: str) -> MicroservicesConfig:
    import tomllib

    return parse_project_config(tomllib.loads(text)).microservices


def test_a_valid_table_is_parsed_with_defaults() -> None:
    config = parse(GOOD)
    assert (config.gateway, config.stop, config.ready_timeout_s) == ("gateway", "orders", 20.0)
    orders, other, gateway = config.services
    assert (orders.cwd, orders.port, orders.health, orders.gateway_path, orders.url_variable) == (
        "services/orders", 4002, "/health", "/api/orders", "ORDERS_URL",
    )  # fmt: skip
    assert (other.cwd, other.port, other.gateway_path, other.url_variable) == (
        None, None, "/api-gateway2", "API_GATEWAY2_URL",
    )  # fmt: skip
    assert gateway.cwd == "gateway" and config.service("gateway") is gateway
    assert parse("[tests]\ntimeout = 5\n") == MicroservicesConfig()


SERVICE = '[[microservices.service]]\nname = "{name}"\nstart = "node s.js"\n'
TWO = SERVICE.format(name="gateway") + SERVICE.format(name="users")
HEAD = '[microservices]\ngateway = "gateway"\n'


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("microservices = 3\n", "[microservices] must be a table"),
        ('[microservices]\ngateway = "g"\n', "needs [[microservices.service]] entries"),
        ("[microservices]\nfoo = 1\n" + TWO, "unknown key(s) foo"),
        ("[microservices]\n" + TWO, "gateway must name the service requests go through"),
        ('[microservices]\ngateway = "edge"\n' + TWO, "gateway 'edge' is not one of the services (gateway, users)"),
        (HEAD + SERVICE.format(name="gateway"), "lists only the gateway"),
        (HEAD + TWO + SERVICE.format(name="users"), "two services are called 'users'"),
        (HEAD + TWO + SERVICE.format(name="9lives"), "name must be letters"),
        (HEAD + TWO + '[[microservices.service]]\nname = "x"\n', "'x' start must be"),
        (HEAD + TWO + 'cwd = "../elsewhere"\n', "'users' cwd must be a folder inside"),
        (HEAD + TWO + "port = 70000\n", "'users' port must be a whole number"),
        (HEAD + TWO + 'route = "users"\n', "'users' route must be a path"),
        (HEAD + TWO + "extra = 1\n", "service 'users' has unknown key(s) extra"),
        ('[microservices]\ngateway = "gateway"\nstop = "gateway"\n' + TWO, "stop 'gateway' must name a service other"),
        ('[microservices]\ngateway = "gateway"\nready_timeout = 0\n' + TWO, "ready_timeout must be a number"),
        (
            HEAD + SERVICE.format(name="gateway") + "port = 4000\n"
            + SERVICE.format(name="users") + "port = 4000\n",
            "two services are given port 4000",
        ),
        ("[microservices]\nservice = [1]\n", "service #1 must be a table"),
    ],
)  # fmt: skip
def test_malformed_tables_say_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(text)
    assert error in str(raised.value) and "grade.toml: [microservices]" in str(raised.value)
    assert "\n" not in str(raised.value)
