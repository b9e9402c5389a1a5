"""The observability checks against the real express-good fixture and small Python servers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, Summary, generate_latest

from checks.observability import obs_health, obs_metrics, obs_structured_logs
from grader.model import Outcome
from grader.probes.live import LiveService
from tests.live.conftest import free_port, wait_until_answering
from tests.live.harness import EXPRESS_GOOD_API, Handler, Reply, api_map, fact_store, judge, python_service

pytestmark = pytest.mark.slow

NO_API = api_map()
PROMETHEUS_TYPE = "text/plain; version=0.0.4"


@pytest.fixture
def serve_logged(installed_fixture: Callable[[str], Path], tmp_path: Path) -> Iterator[Callable[[str], LiveService]]:
    """Like `serve`, but the service's stdout and stderr go to a file that LiveService.log_text() reads."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> LiveService:
        log = tmp_path / f"{name}.log"
        port = free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["npm", "start", "--silent"],
                cwd=installed_fixture(name),
                env={**os.environ, "PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_until_answering(base + "/health", proc)
        return LiveService(base, managed=True, read_log=lambda: log.read_text(errors="replace"))

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_express_good_passes_every_observability_check(
    serve_logged: Callable[[str], LiveService], tmp_path: Path
) -> None:
    store = fact_store(serve_logged("express-good"), EXPRESS_GOOD_API, tmp_path)
    health, metrics, logs = (judge(store, check) for check in (obs_health, obs_metrics, obs_structured_logs))
    assert health.outcome is Outcome.PASS, health.summary
    assert health.summary.startswith("GET /health: median") and health.summary.endswith("status 'ok'")
    assert health.value is not None and health.value < 500
    # express-good has a Prometheus /metrics (prom-client) and pino JSON logs since the observability fixture work.
    assert metrics.outcome is Outcome.PASS, metrics.summary
    assert metrics.summary.startswith("http_request_duration_seconds histogram labelled method, route, status")
    assert logs.outcome is Outcome.PASS, (logs.summary, [e.message for e in logs.evidence])
    assert logs.value == 100.0


def _health_app(path: str, reply: Reply, delay_s: float = 0.0) -> Handler:
    def app(method: str, request_path: str, body: bytes) -> Reply:
        if request_path != path:
            return Reply(404, {"error": "not found"})
        time.sleep(delay_s)
        return reply

    return app


def test_a_slow_health_endpoint_fails_with_its_median(tmp_path: Path) -> None:
    with python_service(_health_app("/health", Reply(200, {"status": "ok"}), delay_s=0.06)) as live:
        result = judge(fact_store(live, NO_API, tmp_path), obs_health, max_ms=50)
    assert result.outcome is Outcome.FAIL and result.threshold == 50 and (result.value or 0) >= 60
    assert 0.5 < (result.score or 0) < 0.85
    assert result.evidence[-1].message.startswith("no readiness endpoint")


def test_a_plain_text_health_endpoint_at_the_configured_path_warns(tmp_path: Path) -> None:
    config = {"service": {"health": "/api/v1/ping"}}
    with python_service(_health_app("/api/v1/ping", Reply(200, "OK", "text/plain"))) as live:
        result = judge(fact_store(live, NO_API, tmp_path, config=config), obs_health)
    assert result.outcome is Outcome.WARN and result.score == 0.9
    assert result.summary.startswith("GET /api/v1/ping: median")


def test_no_health_endpoint_fails_listing_what_was_tried(tmp_path: Path) -> None:
    with python_service(_health_app("/elsewhere", Reply(200, {}))) as live:
        result = judge(fact_store(live, NO_API, tmp_path), obs_health)
    assert result.outcome is Outcome.FAIL and result.score == 0.0
    assert [e.message for e in result.evidence][:2] == ["GET /health -> 404", "GET /healthz -> 404"]


def _exposition(kind: str, labels: tuple[str, ...] = ("method", "route", "status_code")) -> bytes:
    registry = CollectorRegistry()
    if kind == "histogram":
        Histogram("http_request_duration_seconds", "time", labels, registry=registry).labels(
            *("x" for _ in labels)
        ).observe(0.01)
    elif kind == "summary":
        Summary("http_request_duration_seconds", "time", registry=registry).observe(0.01)
    Counter("jobs_done", "jobs", registry=registry).inc()
    return generate_latest(registry)


@pytest.mark.parametrize(
    ("body", "content_type", "outcome", "score"),
    [
        (_exposition("histogram"), PROMETHEUS_TYPE, Outcome.PASS, 1.0),
        (_exposition("histogram", ("method", "code")), PROMETHEUS_TYPE, Outcome.WARN, 0.9),
        (_exposition("summary"), PROMETHEUS_TYPE, Outcome.FAIL, 0.7),
        (_exposition("counter"), PROMETHEUS_TYPE, Outcome.FAIL, 0.5),
        (b"<!DOCTYPE html><p>metrics</p>", "text/html", Outcome.FAIL, 0.0),
    ],
    ids=["labelled-histogram", "no-route-label", "summary", "no-request-metric", "html"],
)
def test_metrics_are_judged_by_what_they_expose(
    tmp_path: Path, body: bytes, content_type: str, outcome: Outcome, score: float
) -> None:
    with python_service(_health_app("/metrics", Reply(200, body, content_type))) as live:
        result = judge(fact_store(live, NO_API, tmp_path), obs_metrics)
    assert (result.outcome, result.score) == (outcome, score), result.summary
    assert result.evidence[0].message == "GET /metrics -> 200"


def _pino(n: int) -> str:
    return json.dumps({"level": 30, "time": 1700000000000 + n, "pid": 1, "msg": "request completed"})


@pytest.mark.parametrize(
    ("log", "outcome"),
    [
        ("\n".join([_pino(n) for n in range(9)] + ["Task API listening on http://localhost:3000"]), Outcome.PASS),
        ("\n".join(["::1 GET /tasks 200 12 - 1.2 ms"] * 5 + [_pino(0)]), Outcome.FAIL),
        ("", Outcome.FAIL),
    ],
    ids=["pino-and-one-banner", "morgan", "silent"],
)
def test_logs_are_read_after_the_api_traffic(tmp_path: Path, log: str, outcome: Outcome) -> None:
    with python_service(lambda method, path, body: Reply(404, {"error": "nope"}), log=log) as live:
        store = fact_store(live, NO_API, tmp_path)
        result = judge(store, obs_structured_logs)
        assert "http.errors" in {o.probe_id for o in store.outcomes()}  # the traffic came first
    assert result.outcome is outcome, result.summary
    if log.startswith("::1"):
        assert result.value == pytest.approx(16.7) and result.evidence[0].message.startswith("not JSON: ::1 GET")


def test_logs_are_not_run_with_url(tmp_path: Path) -> None:
    with python_service(lambda method, path, body: Reply(404, {"error": "nope"}), managed=False) as live:
        result = judge(fact_store(live, NO_API, tmp_path), obs_structured_logs)
    assert result.outcome is Outcome.NOT_RUN
    assert result.summary == "not run: the service's output is not visible with --url"
