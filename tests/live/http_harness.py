"""Test support for the live HTTP probes: stand-in `service` and `api` facts, small Python servers, judging."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from grader.curriculum import CheckRef
from grader.facts import FactStore, ProbeContext
from grader.model import CheckResult
from grader.plugin import CheckSpec, ProbeSpec, Registry
from grader.probes import http_api, http_obs, http_session
from grader.probes.live import ApiMap, LiveService, Operation, ServiceFacts
from grader.project_config import ProjectConfig
from grader.runner import run_check

_TASK = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "status": {"type": "string", "enum": ["todo", "in_progress", "done"]},
        "categoryId": {"type": "string", "format": "uuid"},
    },
}
_CREDENTIALS = {
    "type": "object",
    "required": ["email", "password"],
    "properties": {"email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": 8}},
}

# express-good's routes, written out by hand (the api probe builds this from its OpenAPI document).
EXPRESS_GOOD_API = ApiMap(
    source="hand-built for tests",
    spec=None,
    valid=True,
    problems=(),
    operations=(
        Operation("GET", "/health"),
        Operation("GET", "/metrics"),  # Prometheus text: not judged as JSON
        Operation("POST", "/auth/register", request_schema=_CREDENTIALS),
        Operation("POST", "/auth/login", request_schema=_CREDENTIALS),
        Operation("GET", "/auth/me", requires_auth=True),
        Operation("GET", "/tasks", requires_auth=True),
        Operation("POST", "/tasks", requires_auth=True, request_schema=_TASK),
        Operation("GET", "/tasks/{id}", requires_auth=True),
        Operation("PUT", "/tasks/{id}", requires_auth=True, request_schema=_TASK),
        Operation("PATCH", "/tasks/{id}", requires_auth=True),
        Operation("DELETE", "/tasks/{id}", requires_auth=True),
        Operation("GET", "/categories", requires_auth=True),
    ),
    resource="/tasks",
    register_path="/auth/register",
    login_path="/auth/login",
)


def api_map(resource: str | None, *operations: Operation) -> ApiMap:
    """A hand-built ApiMap without a spec or auth routes."""
    return ApiMap(None, None, False, ("no OpenAPI document",), operations, resource=resource)


def fact_store(live: LiveService | None, api: ApiMap, tmp_path: Path, config: ProjectConfig | None = None) -> FactStore:
    """The HTTP probes, with stand-ins for the `service` probe (None: did not start) and the `api` probe."""
    registry = Registry()
    for module in (http_api, http_obs, http_session):
        registry.add_module(module)
    service = ServiceFacts(
        running=live is not None,
        reason="" if live else "npm start exited with 1",
        base_url=live.base_url if live else None,
        how="stand-in for tests",
        live=live,
    )
    stand_ins = {
        "service": ProbeSpec("service", lambda ctx: service, 5, "stand-in"),
        "api": ProbeSpec("api", lambda ctx: api, 5, "stand-in"),
    }
    cfg = config or ProjectConfig()
    return FactStore({**registry.probes, **stand_ins}, lambda s: ProbeContext(tmp_path, cfg, tmp_path, s, 30.0))


def judge(store: FactStore, check_func: Callable[..., Any], **options: Any) -> CheckResult:
    """Run one check the way the runner does (facts from the store, defaults overridden by `options`)."""
    spec: CheckSpec = check_func.__grade_check__  # type: ignore[attr-defined]
    return run_check(spec, CheckRef(spec.id, 1.0, {**spec.defaults, **options}), store)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a small test server answers."""

    status: int
    body: Any = None  # dict/list -> JSON; str/bytes sent as is
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[str, str, bytes], Reply]  # (method, path, body) -> reply


def _request_handler(app: Handler) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            reply = app(self.command, self.path, self.rfile.read(length))
            body = reply.body
            data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return _Handler


@contextlib.contextmanager
def python_service(app: Handler, *, log: str = "", managed: bool = True) -> Iterator[LiveService]:
    """A small threaded Python HTTP server for `app` on a free loopback port, stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _request_handler(app))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield LiveService(f"http://127.0.0.1:{server.server_address[1]}", managed=managed, read_log=lambda: log)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
