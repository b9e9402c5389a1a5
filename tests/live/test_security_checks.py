"""security.headers, security.cors and security.rate_limit against real services and small bad Python ones."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from checks.web_security import security_cors, security_headers, security_rate_limit
from grader.facts import ProbeContext
from grader.model import CheckResult, Outcome
from grader.plugin import CheckFunc, ProbeSpec
from grader.probes import http_security
from grader.probes.live import ApiMap, LiveService, Operation
from tests.live.conftest import Serve
from tests.live.harness import EXPRESS_GOOD_API, QuietHandler, api_map, evidence_text, fact_store, judge, python_service

pytestmark = pytest.mark.slow


def run(live: LiveService, api: ApiMap, check: CheckFunc, tmp: Path, config: Any = None, **options: Any) -> CheckResult:
    return judge(fact_store(live, api, tmp, http_security, config=config), check, **options)


# --- express-good (helmet, a CORS allowlist, express-rate-limit per group) ---------------------


def test_headers_pass_on_express_good(serve: Serve, tmp_path: Path) -> None:
    result = run(serve("express-good"), EXPRESS_GOOD_API, security_headers, tmp_path)
    assert result.outcome is Outcome.PASS, evidence_text(result)
    text = evidence_text(result)
    assert "X-Content-Type-Options: nosniff: 20/20 points, seen 'nosniff'" in text
    assert "no X-Powered-By: 15/15 points, seen absent" in text
    assert (
        "Strict-Transport-Security (max-age >= 180 days): not applicable, the service is served over plain http" in text
    )
    assert "Cache-Control: no-store/private on signed-in answers: 15/15 points, seen 'no-store' (GET /tasks" in text
    assert result.value == 100


def test_cors_on_express_good_is_closed_to_strangers(serve: Serve, tmp_path: Path) -> None:
    result = run(serve("express-good"), EXPRESS_GOOD_API, security_cors, tmp_path)
    assert result.outcome is Outcome.PASS, evidence_text(result)
    assert "CORS is closed: no origin is allowed" in evidence_text(result)


def test_cors_preflight_from_the_configured_origin(serve: Serve, tmp_path: Path) -> None:
    live = serve("express-good", {"CORS_ORIGINS": "https://app.example"})
    config = {"api": {"cors_origin": "https://app.example"}}
    result = run(live, EXPRESS_GOOD_API, security_cors, tmp_path, config)
    assert result.outcome is Outcome.PASS, evidence_text(result)
    assert "OPTIONS /tasks -> 204 from origin https://app.example (grade.toml [api] cors_origin)" in evidence_text(
        result
    )


def test_rate_limit_on_express_good(serve: Serve, tmp_path: Path) -> None:
    result = run(serve("express-good"), EXPRESS_GOOD_API, security_rate_limit, tmp_path)
    assert result.outcome is Outcome.PASS, evidence_text(result)
    text = evidence_text(result)
    # 20 per 15 min on /auth, 100 a minute on the API; the grader's own earlier requests count (no restart).
    assert re.search(r"auth \(POST /auth/login\): 429 after 1\d requests", text)
    assert re.search(r"resource \(GET /tasks\): 429 after (9\d|100) requests", text)
    assert "read (GET /categories): 429 after 0 requests (1 request in" in text  # one budget for both
    assert "already spent by an earlier group" in text
    assert "retry-after" in text.lower()
    assert "not restarted (the service was not started by the grader)" in text


# --- express-flawed (no helmet, X-Powered-By, no limits) ---------------------------------------

FLAWED_API = api_map(
    Operation("GET", "/todos"), Operation("POST", "/users/login"), resource="/todos", login="/users/login"
)


def test_headers_fail_on_express_flawed(serve: Serve, tmp_path: Path) -> None:
    result = run(serve("express-flawed"), FLAWED_API, security_headers, tmp_path)
    assert result.outcome is Outcome.FAIL
    assert "no X-Powered-By: 0/15 points, seen 'Express'" in evidence_text(result)
    assert result.value is not None and result.value < 30


def test_rate_limit_fails_on_express_flawed(serve: Serve, tmp_path: Path) -> None:
    result = run(serve("express-flawed"), FLAWED_API, security_rate_limit, tmp_path, max_requests=60)
    assert result.outcome is Outcome.FAIL
    assert result.score == 0.0
    assert "resource (GET /todos): no 429 within 60 requests (150 requests in" in evidence_text(result)


# --- a permissive Python service: reflected CORS with credentials, versioned Server ----------------


class Permissive(QuietHandler):
    """Reflects any Origin with credentials, announces its framework and version, never limits."""

    def answer(self, status: int) -> None:
        headers = {"X-Powered-By": "Express"}
        if origin := self.headers.get("Origin"):
            headers |= {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true"}
        if status == 204:
            headers |= {"Access-Control-Allow-Methods": "GET,POST", "Access-Control-Allow-Headers": "*"}
        self.send_body(status, b"" if status == 204 else {"ok": status < 400}, headers=headers)

    def do_GET(self) -> None:
        self.answer(200)

    def do_POST(self) -> None:
        self.answer(401)

    def do_OPTIONS(self) -> None:
        self.answer(204)


PERMISSIVE_API = api_map(
    Operation("GET", "/health"),
    Operation("GET", "/items", requires_auth=True),
    Operation("POST", "/login"),
    resource="/items",
    login="/login",
)


def test_cors_fails_when_the_hostile_origin_is_reflected(tmp_path: Path) -> None:
    with python_service(Permissive, managed=False) as live:
        result = run(live, PERMISSIVE_API, security_cors, tmp_path)
    assert result.outcome is Outcome.FAIL
    assert "reflects the hostile origin (Access-Control-Allow-Origin 'https://evil.example')" in evidence_text(result)
    assert "`Access-Control-Allow-Headers: *` does not cover Authorization" in evidence_text(result)
    assert result.score == 0.0


def test_headers_flag_powered_by_and_server_version(tmp_path: Path) -> None:
    with python_service(Permissive, managed=False) as live:
        result = run(live, PERMISSIVE_API, security_headers, tmp_path)
    assert result.outcome is Outcome.FAIL
    assert "no version in Server: 0/10 points, seen 'BaseHTTP/" in evidence_text(result)
    assert result.value == 0


def test_rate_limit_fails_without_limits_and_stays_bounded(tmp_path: Path) -> None:
    with python_service(Permissive, managed=False) as live:
        result = run(live, PERMISSIVE_API, security_rate_limit, tmp_path)
    assert result.outcome is Outcome.FAIL
    text = evidence_text(result)
    assert "auth (POST /login): no 429 within 150 requests (150 requests in" in text
    assert "resource (GET /items): no 429 within 150 requests" in text
    assert "read (" not in text  # /health is not a group: health checks are usually exempt


# --- a Python service with per-group limits, restarted by the grader before the bursts ------------


class Limited(QuietHandler):
    """Ten requests per path, then 429; /stats answers 429 without any header. Logs every path."""

    LIMIT = 10
    counts: ClassVar[dict[str, int]] = {}
    log: ClassVar[list[str]] = []

    @classmethod
    def restart(cls) -> None:
        cls.counts.clear()

    def handle_one(self) -> None:
        self.log.append(self.path)
        self.counts[self.path] = self.counts.get(self.path, 0) + 1
        self.send_response(429 if self.counts[self.path] > self.LIMIT else 200)
        if self.counts[self.path] > self.LIMIT and self.path != "/stats":
            self.send_header("Retry-After", "60")
            self.send_header("RateLimit", f"limit={self.LIMIT}, remaining=0, reset=60")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = handle_one


def marker_probe(ctx: ProbeContext) -> str:
    """A stand-in live probe: one request the bursts must come after."""
    facts = ctx.store.get("service")
    httpx.get(f"{facts.base_url}/marker", trust_env=False)
    return "sent"


def test_rate_limit_restarts_first_and_runs_after_other_live_probes(tmp_path: Path) -> None:
    api = api_map(
        Operation("POST", "/login"),
        Operation("GET", "/items"),
        Operation("GET", "/stats"),
        resource="/items",
        login="/login",
    )
    with python_service(Limited, managed=False) as served:
        live = LiveService(served.base_url, managed=True, restart=Limited.restart)
        store = fact_store(live, api, tmp_path, http_security)
        store.probes = {**store.probes, "obs.marker": ProbeSpec("obs.marker", marker_probe, 10, "stand-in")}
        store.start("obs.marker")  # as the runner starts every probe a phase needs before judging
        result = judge(store, security_rate_limit)
    assert result.outcome is Outcome.WARN, evidence_text(result)
    assert result.score == pytest.approx((1 + 1 + 0.5) / 3)
    text = evidence_text(result)
    assert "auth (POST /login): 429 after 9 requests" in text  # the grader's own login counted once
    assert "resource (GET /items): 429 after 10 requests" in text  # earlier probes' requests did not count
    assert "read (GET /stats): 429 after 10 requests" in text and "but no Retry-After or RateLimit header" in text
    assert "restarted the service before the bursts" in text
    assert Limited.log.index("/marker") < Limited.log.index("/stats")
