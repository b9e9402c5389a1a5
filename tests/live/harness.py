"""Test support for the live and API probes: a fact store with stand-in `service` (and `api`) probes, judging one
check as the runner would, a hand-built ApiMap of fixtures/express-good, and small threaded Python HTTP servers.

The stand-in `service` probe returns ServiceFacts around a LiveService the test started itself (or "not
running"), so the probes can be tested without starting the project through the real service probe.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.curriculum import CheckRef
from grader.facts import FactStore, LiveOptions, ProbeContext
from grader.model import CheckResult
from grader.plugin import CheckFunc, CheckSpec, ProbeSpec, Registry, load_registry
from grader.probes import contract, http_api, http_obs, http_session, openapi, repo, routes
from grader.probes.live import ApiMap, LiveService, Operation, ServiceFacts
from grader.project_config import ProjectConfig, parse_project_config
from grader.runner import run_check

# The probes every store has: the real `api` probe and what it needs, and the shared HTTP probes.
BASE_MODULES: tuple[ModuleType, ...] = (repo, openapi, routes, contract, http_session, http_api, http_obs)
NOT_STARTED = "not started (test stand-in)"


def stand_in_service(live: LiveService | None, down_reason: str = NOT_STARTED) -> ProbeSpec:
    """A `service` probe reporting `live` as the running service (None: it did not start, for `down_reason`)."""
    if live is None:
        facts = ServiceFacts(running=False, reason=down_reason, base_url=None, how="test stand-in")
    else:
        facts = ServiceFacts(running=True, reason="", base_url=live.base_url, how="started by the test", live=live)
    return ProbeSpec("service", lambda _ctx: facts, 30, "stand-in")


def fact_store(
    live: LiveService | None,
    api: ApiMap | None,
    root: Path,
    *modules: ModuleType,
    config: Mapping[str, Any] | None = None,
    down_reason: str = NOT_STARTED,
) -> FactStore:
    """A fact store over the project at `root` (also the scratch dir).

    `live`: the service the stand-in `service` probe reports (None: not running, for `down_reason`).
    `api`: what a stand-in `api` probe returns (None: the real `api` probe reads the project).
    `modules`: more probe/check modules to register. `config`: raw grade.toml tables.
    """
    registry = Registry()
    for module in (*BASE_MODULES, *modules):
        registry.add_module(module)
    stand_ins = {"service": stand_in_service(live, down_reason)}
    if api is not None:
        stand_ins["api"] = ProbeSpec("api", lambda _ctx: api, 30, "stand-in")
    project = parse_project_config(dict(config)) if config is not None else ProjectConfig()
    options = LiveOptions(url=live.base_url) if live is not None else LiveOptions()

    def context(store: FactStore) -> ProbeContext:
        return ProbeContext(root, project, root, store, 60.0, options)

    return FactStore({**registry.probes, **stand_ins}, context)


@functools.cache
def _builtin_checks() -> Mapping[str, CheckSpec]:
    return load_registry(plugins=False).checks


def judge(store: FactStore, check: CheckFunc | str, **options: Any) -> CheckResult:
    """Run one check (its function, or the id of a built-in check) as the runner does, `options` over its defaults."""
    spec: CheckSpec = _builtin_checks()[check] if isinstance(check, str) else check.__grade_check__  # type: ignore[attr-defined]
    return run_check(spec, CheckRef(spec.id, 1.0, {**spec.defaults, **options}), store)


def evidence_text(result: CheckResult) -> str:
    """Every evidence message and detail of a result, as one text."""
    return "\n".join(f"{e.message}\n{e.detail or ''}" for e in result.evidence)


def api_map(
    *operations: Operation,
    resource: str | None = None,
    register: str | None = None,
    login: str | None = None,
    refresh: str | None = None,
) -> ApiMap:
    """A hand-built ApiMap, as the `api` probe would give it."""
    return ApiMap(
        source="hand-built for tests",
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
    "properties": {"email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": 8}},
}
REGISTER: dict[str, Any] = {**CREDENTIALS, "properties": {**CREDENTIALS["properties"], "name": {"type": "string"}}}
TASK: dict[str, Any] = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "status": {"type": "string", "enum": ["todo", "in_progress", "done"]},
        "categoryId": {"type": "string", "format": "uuid"},
    },
}

# The routes of fixtures/express-good (src/routes, openapi.json), written out by hand.
EXPRESS_GOOD_API = api_map(
    Operation("GET", "/health"),
    Operation("GET", "/metrics"),  # Prometheus text: not judged as JSON
    Operation("POST", "/auth/register", request_schema=REGISTER),
    Operation("POST", "/auth/login", request_schema=CREDENTIALS),
    Operation("POST", "/auth/refresh", request_schema={"properties": {"refreshToken": {"type": "string"}}}),
    Operation("GET", "/auth/me", requires_auth=True),
    Operation("GET", "/tasks", requires_auth=True),
    Operation("POST", "/tasks", requires_auth=True, request_schema=TASK),
    Operation("GET", "/tasks/{id}", requires_auth=True),
    Operation("PUT", "/tasks/{id}", requires_auth=True, request_schema=TASK),
    Operation("PATCH", "/tasks/{id}", requires_auth=True),
    Operation("DELETE", "/tasks/{id}", requires_auth=True),
    Operation("GET", "/categories", requires_auth=True),
    resource="/tasks",
    register="/auth/register",
    login="/auth/login",
    refresh="/auth/refresh",
)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a small test server answers."""

    status: int
    body: Any = None  # dict/list -> JSON; str/bytes sent as is
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[str, str, bytes], Reply]  # (method, path, body) -> reply


class QuietHandler(BaseHTTPRequestHandler):
    """A test server's request handler: no access log on stderr, and one way to send an answer."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def send_body(
        self,
        status: int,
        body: Any,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer with `body` (bytes and text as they are, anything else as JSON) and extra `headers`."""
        data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _request_handler(app: Handler) -> type[BaseHTTPRequestHandler]:
    class _Handler(QuietHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            reply = app(self.command, self.path, self.rfile.read(length))
            self.send_body(reply.status, reply.body, content_type=reply.content_type, headers=reply.headers)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    return _Handler


@contextlib.contextmanager
def python_service(
    app: Handler | type[BaseHTTPRequestHandler], *, log: str = "", managed: bool = True
) -> Iterator[LiveService]:
    """A small threaded Python HTTP server on a free loopback port, stopped on exit.

    `app` answers (method, path, body) with a Reply, or is a request handler class that sees the raw request
    (headers and body) itself. `log` is what the service "printed"; `managed`: as if the grader started it.
    """
    handler = app if isinstance(app, type) else _request_handler(app)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield LiveService(f"http://127.0.0.1:{server.server_address[1]}", managed=managed, read_log=lambda: log)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
