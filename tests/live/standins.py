"""Run live probes against a LiveService, with stand-in `service` and `api` probes (see also http_harness)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.facts import FactStore, LiveOptions, ProbeContext
from grader.model import CheckResult
from grader.plugin import CheckFunc, ProbeSpec, Registry
from grader.probes import http_session
from grader.probes.live import ApiMap, LiveService, Operation, ServiceFacts
from grader.project_config import ProjectConfig, parse_project_config
from tests.live.http_harness import judge


def api_map(
    operations: tuple[Operation, ...],
    *,
    resource: str | None = None,
    register: str | None = None,
    login: str | None = None,
    refresh: str | None = None,
) -> ApiMap:
    """A hand-built ApiMap, as the `api` probe would give it."""
    return ApiMap(
        source="hand-built",
        spec=None,
        valid=True,
        problems=(),
        operations=operations,
        resource=resource,
        register_path=register,
        login_path=login,
        refresh_path=refresh,
    )


CREDENTIALS: dict[str, Any] = {
    "type": "object",
    "required": ["email", "password"],
    "properties": {"email": {}, "password": {}},
}
REGISTER: dict[str, Any] = {**CREDENTIALS, "properties": {"email": {}, "password": {}, "name": {"type": "string"}}}

# The real routes of fixtures/express-good (src/routes, openapi.json).
GOOD_API = api_map(
    (
        Operation("GET", "/health"),
        Operation("POST", "/auth/register", request_schema=REGISTER),
        Operation("POST", "/auth/login", request_schema=CREDENTIALS),
        Operation("POST", "/auth/refresh", request_schema={"properties": {"refreshToken": {"type": "string"}}}),
        Operation("GET", "/auth/me", requires_auth=True),
        Operation("GET", "/tasks", requires_auth=True),
        Operation("POST", "/tasks", requires_auth=True),
        Operation("GET", "/categories", requires_auth=True),
    ),
    resource="/tasks",
    register="/auth/register",
    login="/auth/login",
    refresh="/auth/refresh",
)


def live_store(
    live: LiveService,
    api: ApiMap,
    modules: tuple[ModuleType, ...],
    tmp: Path,
    *,
    config: Mapping[str, Any] | None = None,
) -> FactStore:
    """A FactStore with stand-in `service` and `api` probes, the shared session probe and `modules`' probes."""
    registry = Registry()
    for module in (http_session, *modules):
        registry.add_module(module)
    service = ServiceFacts(True, "", live.base_url, "stand-in", live=live)
    probes: dict[str, ProbeSpec] = {
        "service": ProbeSpec("service", lambda _ctx: service, 30, "stand-in"),
        "api": ProbeSpec("api", lambda _ctx: api, 30, "stand-in"),
        **registry.probes,
    }
    project = parse_project_config(dict(config)) if config is not None else ProjectConfig()

    def context(store: FactStore) -> ProbeContext:
        return ProbeContext(tmp, project, tmp, store, 60.0, LiveOptions(url=live.base_url))

    return FactStore(probes, context)


def run_live(
    live: LiveService,
    api: ApiMap,
    check: CheckFunc,
    tmp: Path,
    modules: tuple[ModuleType, ...],
    config: Mapping[str, Any] | None = None,
    **options: Any,
) -> CheckResult:
    """Run `modules`' probes against `live` and judge one check on their facts."""
    return judge(live_store(live, api, modules, tmp, config=config), check, **options)


def evidence_text(result: CheckResult) -> str:
    """Every evidence message and detail of a result, as one text."""
    return "\n".join(f"{e.message}\n{e.detail or ''}" for e in result.evidence)


@contextmanager
def python_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[LiveService]:
    """Serve `handler` on a free loopback port in a thread; a LiveService for it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveService(f"http://127.0.0.1:{server.server_address[1]}", managed=False)
    finally:
        server.shutdown()
        server.server_close()
