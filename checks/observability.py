"""Observability checks on the running service: health endpoint, Prometheus metrics, structured logs."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from typing import Any

from checks.api import exchange_evidence
from grader.facts import Facts
from grader.model import Evidence, Verdict
from grader.plugin import check
from grader.probes.http_obs import HEALTH_PATHS, READY_PATHS, HealthFacts, LogFacts, MetricFamily, MetricsFacts
from grader.scoring import ratio_credit

NO_STATUS_SCORE = 0.9  # healthy and fast, but the body says nothing machine-readable
SUMMARY_SCORE = 0.7  # request durations as a summary: quantiles cannot be aggregated across instances
NO_REQUEST_METRIC_SCORE = 0.5  # metrics exposed, but no request durations
MISSING_LABELS_SCORE = 0.9
LABEL_GROUPS: Mapping[str, tuple[str, ...]] = {
    "method": ("method",),
    "route": ("route", "path", "handler", "endpoint", "url"),
    "status": ("status", "status_code", "code"),
}
LEVEL_KEYS = ("level", "severity", "lvl", "levelname", "log.level")
TIME_KEYS = ("time", "timestamp", "@timestamp", "ts", "asctime")
MESSAGE_KEYS = ("msg", "message", "event")
SAMPLE_LINES = 5


@check(
    "obs.health",
    title="A health endpoint answers 200 within {max_ms} ms",
    requires=("http.health",),
    defaults={"max_ms": 500},
    threshold="max_ms",
    remediation="Add a cheap health route before any auth middleware: in Express "
    "`app.get('/health', (req, res) => res.json({ status: 'ok' }))` (a readiness route such as `/ready` may also "
    "check the database). Flask: `@app.get('/health')` returning `{'status': 'ok'}`; FastAPI: `@app.get('/health')`. "
    "Set its path in grade.toml `[service] health` if it is elsewhere.",
)
def obs_health(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Finds the health endpoint, times 5 requests (median) and looks for a JSON status and a readiness route."""
    health = facts.get("http.health", HealthFacts)
    max_ms = float(options["max_ms"])
    if health.path is None:
        return Verdict.failed(
            f"no health endpoint answered 200 (tried {', '.join(HEALTH_PATHS)})",
            evidence=tuple(exchange_evidence(e) for e in health.tried),
        )
    median = statistics.median(e.elapsed_ms for e in health.timed)
    failed = [e for e in health.timed if e.status != 200]
    evidence = (*(exchange_evidence(e) for e in failed or health.timed[:1]), _readiness_note(health))
    summary = f"GET {health.path}: median {median:.0f} ms over {len(health.timed)} requests (threshold {max_ms:.0f} ms)"
    kw: dict[str, Any] = {"value": round(median, 1), "threshold": max_ms, "unit": "ms", "evidence": evidence}
    if failed:
        share = 1 - len(failed) / len(health.timed)
        return Verdict.failed(f"{summary}; {len(failed)} did not answer 200", score=share, **kw)
    if median > max_ms:
        return Verdict.failed(summary, score=ratio_credit(max_ms, median), **kw)
    if not health.is_json or health.status_value is None:
        return Verdict.warned(f"{summary}; the body is not JSON with a status", score=NO_STATUS_SCORE, **kw)
    return Verdict.passed(f"{summary}, status {health.status_value!r}", **kw)


def _readiness_note(health: HealthFacts) -> Evidence:
    if health.ready is None:
        return Evidence(f"no readiness endpoint ({', '.join(READY_PATHS)}): optional, useful behind a load balancer")
    return exchange_evidence(health.ready, "readiness endpoint")


@check(
    "obs.metrics",
    title="Prometheus metrics with an HTTP request duration histogram",
    requires=("http.metrics",),
    remediation="Expose Prometheus metrics on `/metrics`: in Express use prom-client "
    "(`collectDefaultMetrics()`, a `Histogram` named `http_request_duration_seconds` with labels "
    "`method`, `route`, `status_code` observed in a middleware on `res.on('finish')`, and "
    "`app.get('/metrics', async (req, res) => res.type(register.contentType).send(await register.metrics()))`), "
    "or express-prom-bundle. Python: prometheus-client, or prometheus-fastapi-instrumentator / "
    "prometheus-flask-exporter.",
)
def obs_metrics(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Parses GET /metrics as Prometheus text and looks for a request duration histogram with labels."""
    metrics = facts.get("http.metrics", MetricsFacts)
    if metrics.parse_error is not None:
        return Verdict.failed(metrics.parse_error, evidence=(exchange_evidence(metrics.exchange),))
    if not metrics.families:
        return Verdict.failed("/metrics exposes no metrics", evidence=(exchange_evidence(metrics.exchange),))
    evidence = (exchange_evidence(metrics.exchange), Evidence(_families_line(metrics.families)))
    timings = [f for f in metrics.families if _is_request_timing(f.name)]
    histogram = next((f for f in timings if f.kind == "histogram"), None)
    if histogram is None:
        summary = next((f for f in timings if f.kind == "summary"), None)
        if summary is not None:
            return Verdict.failed(
                f"{summary.name} is a summary: use a histogram", score=SUMMARY_SCORE, evidence=evidence
            )
        return Verdict.failed(
            f"{len(metrics.families)} metric families, but no HTTP request duration histogram",
            score=NO_REQUEST_METRIC_SCORE,
            evidence=evidence,
        )
    missing = [g for g, names in LABEL_GROUPS.items() if not set(names) & set(histogram.labels)]
    if missing:
        return Verdict.warned(
            f"{histogram.name} has no {'/'.join(missing)} label", score=MISSING_LABELS_SCORE, evidence=evidence
        )
    return Verdict.passed(f"{histogram.name} histogram labelled {', '.join(histogram.labels)}", evidence=evidence)


def _is_request_timing(name: str) -> bool:
    lowered = name.lower()
    return "http" in lowered and any(word in lowered for word in ("duration", "latency", "seconds"))


def _families_line(families: tuple[MetricFamily, ...]) -> str:
    shown = ", ".join(f"{f.name} ({f.kind})" for f in families[:12])
    more = f" and {len(families) - 12} more" if len(families) > 12 else ""
    return f"{len(families)} metric families: {shown}{more}"


@check(
    "obs.structured_logs",
    title="At least {min_share:.0%} of log lines are structured JSON",
    requires=("http.logs",),
    defaults={"min_share": 0.8},
    threshold="min_share",
    remediation="Log one JSON object per line with a level, a time and a message: in Express use pino with "
    "pino-http (`app.use(require('pino-http')({ logger }))`) instead of morgan and `console.log`. Python: "
    "structlog with `JSONRenderer`, or python-json-logger on the standard `logging` module.",
)
def obs_structured_logs(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads what the service printed while the grader used its API and counts structured JSON lines."""
    logs = facts.get("http.logs", LogFacts)
    min_share = float(options["min_share"])
    lines = [line for line in logs.lines if not _from_npm(line)]
    if not lines:
        return Verdict.failed("the service printed nothing while it served the grader's requests")
    problems = [(line, p) for line in lines if (p := log_line_problem(line))]
    share = 1 - len(problems) / len(lines)
    summary = f"{share:.0%} of {len(lines)} log lines are structured (threshold {min_share:.0%})"
    evidence = tuple(Evidence(f"{p}: {line[:160]}", detail=line[:1000]) for line, p in problems[:SAMPLE_LINES])
    kw: dict[str, Any] = {
        "value": round(share * 100, 1),
        "threshold": round(min_share * 100, 1),
        "unit": "%",
        "evidence": evidence,
    }
    if share >= min_share:
        return Verdict.passed(summary, **kw)
    return Verdict.failed(summary, score=ratio_credit(share, min_share), **kw)


def log_line_problem(line: str) -> str:
    """Why a log line is not a structured record ('' when it is a JSON object with level, time and message)."""
    try:
        record = json.loads(line)
    except ValueError:
        return "not JSON"
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [
        what
        for what, keys in (("level", LEVEL_KEYS), ("time", TIME_KEYS), ("message", MESSAGE_KEYS))
        if not any(k in record for k in keys)
    ]
    return f"no {', '.join(missing)}" if missing else ""


def _from_npm(line: str) -> bool:
    """npm's own banner (`> app@1.0.0 start`, `> node server.js`) and notices are not the service's logs."""
    return line.startswith(("> ", "npm "))
