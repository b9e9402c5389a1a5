"""The contract between the service probe and the probes that talk to the running service.

The `service` probe starts the learner's service (or adopts `--url`) and returns ServiceFacts.
Live probes call :func:`live_service` to get the handle (or be "not run" when there is none),
talk to it through :func:`send`, which records each request and response as an Exchange for
evidence, and hold `LiveService.exclusive` while they do something that would disturb others
(a restart, a burst of requests). `LiveService.datastores` says which of the service's databases the
grader itself can read statistics from (pg_stat_statements, Redis INFO and job queues).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from grader.facts import NotRunnable, ProbeContext

BODY_LIMIT = 2_000
REDACTED = "[redacted]"
_SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key", "proxy-authorization"})
_SECRET_FIELDS = ("password", "secret", "token", "api_key", "apikey")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP request and its response (or error), trimmed and redacted, for evidence."""

    method: str
    url: str
    request_headers: Mapping[str, str]
    request_body: str | None
    status: int | None
    response_headers: Mapping[str, str]
    response_body: str
    elapsed_ms: float
    error: str | None = None

    @property
    def summary(self) -> str:
        """E.g. 'POST /tasks -> 201' or 'GET /health -> connection refused'."""
        outcome = str(self.status) if self.status is not None else (self.error or "no response")
        return f"{self.method} {self.url} -> {outcome}"

    @property
    def detail(self) -> str:
        """The request and response as text, for Evidence.detail."""
        lines = [f"> {self.method} {self.url}"]
        lines += [f"> {k}: {v}" for k, v in self.request_headers.items()]
        if self.request_body:
            lines += [">", f"> {self.request_body}"]
        if self.status is None:
            lines.append(f"< {self.error or 'no response'}")
            return "\n".join(lines)
        lines.append(f"< {self.status} ({self.elapsed_ms:.0f} ms)")
        lines += [f"< {k}: {v}" for k, v in self.response_headers.items()]
        if self.response_body:
            lines += ["<", f"< {self.response_body}"]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class DataStores:
    """The service's databases that the grader can reach too, and where their URLs came from."""

    postgres_url: str | None
    redis_url: str | None
    source: str  # e.g. "PostgreSQL and Redis: throwaway ones the grader started ([services] in grade.toml)"


NO_DATASTORES = DataStores(
    None, None, "none: set [services] postgres/redis = true in grade.toml, or name yours in postgres_url/redis_url"
)


class LiveService:
    """A handle on the running service, shared by the live probes of one grading run."""

    def __init__(
        self,
        base_url: str,
        *,
        managed: bool,
        read_log: Callable[[], str] = lambda: "",
        restart: Callable[[], None] | None = None,
        datastores: DataStores = NO_DATASTORES,
        process_ids: Callable[[], Sequence[int]] = tuple,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.managed = managed
        self.datastores = datastores
        self.exclusive = threading.RLock()
        self._read_log = read_log
        self._restart = restart
        self._process_ids = process_ids

    def client(self, timeout_s: float = 10.0) -> httpx.Client:
        """An HTTP client bound to the service (no redirects followed, no proxies from the environment)."""
        return httpx.Client(base_url=self.base_url, timeout=timeout_s, follow_redirects=False, trust_env=False)

    def log_text(self) -> str:
        """What the service has printed so far (stdout and stderr, capped); empty for --url."""
        return self._read_log()

    def process_ids(self) -> tuple[int, ...]:
        """The service's live processes (empty for --url: the grader did not start it)."""
        return tuple(self._process_ids())

    def restart(self) -> None:
        """Stop and start the service again, waiting until it is ready; NotRunnable for --url."""
        if self._restart is None:
            raise NotRunnable("the service was given with --url, so the grader cannot restart it")
        with self.exclusive:
            self._restart()


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    """Whether the learner's service runs, how it was started, and the handle on it."""

    running: bool
    reason: str  # why it is not running ("" when it is)
    base_url: str | None
    how: str  # e.g. "started `npm start` (package.json scripts.start) on port 41235" or "--url given"
    assumed: tuple[str, ...] = ()
    log_tail: str = ""
    live: LiveService | None = field(default=None, compare=False, repr=False)


def live_service(ctx: ProbeContext) -> LiveService:
    """The running service for a live probe; NotRunnable ('service did not start: ...') when there is none."""
    facts = ctx.fact("service", ServiceFacts)
    if not facts.running or facts.live is None:
        raise NotRunnable(f"service did not start: {facts.reason}")
    return facts.live


# Probes that talk to the service; one that disturbs it (a burst, a restart) or needs it quiet waits for them first.
LIVE_PREFIXES = ("http.", "api.", "auth.", "obs.", "perf.", "jobs.")
# Probes that call settle_live_probes, by stage: each waits for the live probes of earlier stages (others are
# stage 0), and holds LiveService.exclusive while it acts, so probes of one stage take turns. Every probe that
# settles must be listed here: two unlisted ones would wait for each other.
SETTLE_STAGES: Mapping[str, int] = {
    "persistence": 1,
    "http.rate_limit": 1,
    "perf.n_plus_one": 1,
    "jobs.background": 1,
    "perf.load": 2,  # it waits itself for every probe but the perf./jobs. ones: none of stage 1 may wait for it
    "perf.queries": 3,  # last: the statements the service ran while every other probe talked to it
}


def settle_live_probes(ctx: ProbeContext, own: str) -> None:
    """Wait until every live probe of an earlier stage has its fact: a burst, restart or measurement disturbs none."""
    stage = SETTLE_STAGES.get(own, 1)
    for probe_id in ctx.store.started():
        live = probe_id.startswith(LIVE_PREFIXES) or probe_id in SETTLE_STAGES
        if probe_id != own and live and SETTLE_STAGES.get(probe_id, 0) < stage:
            ctx.store.get(probe_id)


def send(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> tuple[httpx.Response | None, Exchange]:
    """Send one request; return the response (None on a transport error) and its redacted Exchange."""
    began = time.perf_counter()
    try:
        response = client.request(method, path, json=json_body, headers=dict(headers or {}), content=content)
    except httpx.HTTPError as exc:
        elapsed = (time.perf_counter() - began) * 1000
        return None, Exchange(
            method,
            path,
            _headers(headers or {}),
            _request_text(json_body, content),
            None,
            {},
            "",
            elapsed,
            f"{type(exc).__name__}: {exc}",
        )
    exchange = Exchange(
        method=method,
        url=path,
        request_headers=_headers(headers or {}),
        request_body=_request_text(json_body, content),
        status=response.status_code,
        response_headers=_headers(response.headers),
        response_body=_response_text(response),
        elapsed_ms=response.elapsed.total_seconds() * 1000,
    )
    return response, exchange


def trim(text: str, limit: int = BODY_LIMIT) -> str:
    """At most `limit` characters, saying how many were cut."""
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text) - limit} more characters]"


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}


def _request_text(json_body: Any, content: bytes | None) -> str | None:
    if json_body is not None:
        return trim(json.dumps(_redact_fields(json_body)))
    if content is not None:
        return trim(content.decode("utf-8", errors="replace"))
    return None


def _response_text(response: httpx.Response) -> str:
    """The response body, trimmed, with token and password fields of a JSON body redacted."""
    try:
        body = response.json()
    except ValueError:
        return trim(response.text)
    redacted = _redact_fields(body)
    return trim(response.text if redacted == body else json.dumps(redacted))


def _redact_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if any(s in str(k).lower() for s in _SECRET_FIELDS) else _redact_fields(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_fields(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented (or declared) API operation."""

    method: str  # upper case
    path: str  # template, e.g. "/tasks/{id}"
    operation_id: str | None = None
    requires_auth: bool = False
    request_schema: Mapping[str, Any] | None = None  # the JSON body schema, refs resolved
    responses: tuple[str, ...] = ()  # documented status codes, e.g. ("201", "400")
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ApiMap:
    """What the grader knows of the API: from the OpenAPI document, else from grade.toml routes."""

    source: str | None  # the URL or file the spec came from; None when there is no spec
    spec: Mapping[str, Any] | None
    valid: bool
    problems: tuple[str, ...]  # validation errors of the spec, or "no OpenAPI document found at ..."
    operations: tuple[Operation, ...]
    from_config: bool = False  # routes came from grade.toml [api] routes, not from a spec
    resource: str | None = None  # the main collection, e.g. "/tasks" (grade.toml [api] resource, else guessed)
    register_path: str | None = None  # e.g. "/auth/register"
    login_path: str | None = None  # e.g. "/auth/login"
    refresh_path: str | None = None  # e.g. "/auth/refresh"
    notes: tuple[str, ...] = ()  # what was assumed
