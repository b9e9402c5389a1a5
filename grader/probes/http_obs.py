"""Live observability probes: the health endpoint, Prometheus metrics, and the service's own log lines."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from grader.facts import NotRunnable, ProbeContext
from grader.plugin import probe
from grader.probes.http_session import is_json_type, parse_json
from grader.probes.live import Exchange, LiveService, live_service, send

HEALTH_PATHS = ("/health", "/healthz", "/api/health", "/status", "/ready", "/readyz")
READY_PATHS = ("/ready", "/readyz", "/health/ready", "/healthz/ready")
STATUS_KEYS = ("status", "state", "healthy", "ok")
TIMED_REQUESTS = 5
METRICS_PATH = "/metrics"
MAX_LOG_LINES = 5_000
TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """The first health path that answered 200, its timed requests, and a readiness endpoint if any."""

    path: str | None
    tried: tuple[Exchange, ...]  # candidates that did not answer 200
    timed: tuple[Exchange, ...] = ()  # TIMED_REQUESTS requests to `path` (the discovering one first)
    is_json: bool = False
    status_value: str | None = None  # e.g. "ok" from {"status": "ok"}
    ready: Exchange | None = None  # a readiness endpoint that answered 200


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One metric family of a Prometheus exposition."""

    name: str
    kind: str  # counter, gauge, histogram, summary, ...
    labels: tuple[str, ...]  # label names seen on its samples (without `le` and `quantile`)


@dataclass(frozen=True, slots=True)
class MetricsFacts:
    """`GET /metrics` and what it exposes."""

    exchange: Exchange
    families: tuple[MetricFamily, ...] = ()
    parse_error: str | None = None  # why the body is not Prometheus text (None when it parsed)


@dataclass(frozen=True, slots=True)
class LogFacts:
    """The non-empty lines the service printed after the grader's API traffic."""

    lines: tuple[str, ...]  # the last MAX_LOG_LINES of them
    total: int


@probe("http.health", timeout_s=30)
def health_probe(ctx: ProbeContext) -> HealthFacts:
    """Finds the health endpoint (grade.toml [service] health, else common paths), times it, looks for readiness."""
    service = live_service(ctx)
    tried: list[Exchange] = []
    with service.exclusive, service.client(TIMEOUT_S) as client:
        for path in _health_candidates(ctx):
            response, exchange = send(client, "GET", path)
            if response is None or response.status_code != 200:
                tried.append(exchange)
                continue
            timed = (exchange, *(send(client, "GET", path)[1] for _ in range(TIMED_REQUESTS - 1)))
            parses, data = parse_json(response)
            status = next((data[k] for k in STATUS_KEYS if isinstance(data, dict) and k in data), None)
            is_json = parses and is_json_type(exchange.response_headers)
            ready = exchange if path in READY_PATHS else _readiness(client)
            return HealthFacts(path, tuple(tried), timed, is_json, None if status is None else str(status), ready)
    return HealthFacts(None, tuple(tried))


def _health_candidates(ctx: ProbeContext) -> tuple[str, ...]:
    configured = ctx.config.service.health
    first = (configured,) if configured else ()
    return tuple(dict.fromkeys((*first, *HEALTH_PATHS)))


def _readiness(client: httpx.Client) -> Exchange | None:
    for path in READY_PATHS:
        response, exchange = send(client, "GET", path)
        if response is not None and response.status_code == 200:
            return exchange
    return None


@probe("http.metrics", timeout_s=90)
def metrics_probe(ctx: ProbeContext) -> MetricsFacts:
    """After the API traffic, GETs /metrics and parses it as Prometheus text exposition."""
    service = live_service(ctx)
    ctx.store.get("http.crud")  # request metrics only have labels once requests were served
    with service.exclusive, service.client(TIMEOUT_S) as client:
        response, exchange = send(client, "GET", METRICS_PATH)
    if response is None or response.status_code != 200:
        return MetricsFacts(exchange, parse_error=f"{METRICS_PATH} did not answer 200")
    try:
        families = tuple(_family(f) for f in text_string_to_metric_families(response.text))
    except ValueError as exc:
        return MetricsFacts(exchange, parse_error=f"not Prometheus text: {exc}"[:300])
    return MetricsFacts(exchange, families)


def _family(family: Metric) -> MetricFamily:
    labels = {name for s in family.samples for name in s.labels if name not in ("le", "quantile")}
    return MetricFamily(family.name, family.type, tuple(sorted(labels)))


@probe("http.logs", timeout_s=150)
def logs_probe(ctx: ProbeContext) -> LogFacts:
    """After the CRUD and error traffic, reads what the service printed (stdout and stderr)."""
    service = live_service(ctx)
    for traffic in ("http.crud", "http.errors"):
        ctx.store.get(traffic)
    text = _settled_log(service)
    if not text and not service.managed:
        raise NotRunnable("the service's output is not visible with --url")
    lines = [line for line in text.splitlines() if line.strip()]
    return LogFacts(tuple(lines[-MAX_LOG_LINES:]), len(lines))


def _settled_log(service: LiveService, wait_s: float = 0.2, rounds: int = 5) -> str:
    """The log once it stops growing (lines of the last requests may still be on their way)."""
    text = service.log_text()
    for _ in range(rounds):
        time.sleep(wait_s)
        again = service.log_text()
        if again == text:
            break
        text = again
    return text
