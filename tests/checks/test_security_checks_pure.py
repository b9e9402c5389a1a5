"""Auth and web-security checks judged on hand-built facts (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from checks.auth import auth_flow, refresh_rotation
from checks.web_security import security_cors, security_headers, security_rate_limit
from grader.facts import Facts
from grader.model import Outcome, Verdict
from grader.probes.http_auth import Attempt, AuthFacts, RefreshFacts
from grader.probes.http_security import Burst, CorsFacts, HeaderSamples, RateLimitFacts
from grader.probes.live import Exchange

HELMET = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Referrer-Policy": "no-referrer",
}
NO_STORE = {**HELMET, "Cache-Control": "no-store"}


def answer(status: int | None = 200, headers: Mapping[str, str] | None = None, method: str = "GET") -> Exchange:
    return Exchange(method, "/tasks", {}, None, status, dict(headers or {}), "", 1.0)


def text(verdict: Verdict) -> str:
    return "\n".join(e.message for e in verdict.evidence)


# --- security.headers ---------------------------------------------------------------------------


def headers(
    samples: tuple[Exchange, ...], signed_in: tuple[Exchange, ...] = (), *, https: bool = False, **options: Any
) -> Verdict:
    facts = Facts({"http.headers": HeaderSamples(https, samples, signed_in)})
    return security_headers(facts, {"min_score": 70, **options})


def test_helmet_and_no_store_over_https_score_100() -> None:
    verdict = headers((answer(200, HELMET), answer(401, HELMET)), (answer(200, NO_STORE),), https=True)
    assert (verdict.outcome, verdict.value, verdict.score) == (Outcome.PASS, 100, 1.0)
    assert "Strict-Transport-Security (max-age >= 180 days): 15/15 points" in text(verdict)


def test_hsts_does_not_apply_over_plain_http() -> None:
    verdict = headers((answer(200, {**HELMET, "Strict-Transport-Security": ""}),), (answer(200, NO_STORE),))
    assert verdict.value == 100
    assert "not applicable, the service is served over plain http" in text(verdict)


def test_short_hsts_over_https_earns_nothing() -> None:
    short = {**NO_STORE, "Strict-Transport-Security": "max-age=300"}
    verdict = headers((answer(200, short),), (answer(200, short),), https=True)
    assert verdict.value == 85


def test_points_are_scaled_over_the_rules_that_apply_and_the_threshold_is_an_option() -> None:
    weak = {**HELMET, "Referrer-Policy": "no-referrer-when-downgrade"}
    verdict = headers((answer(200, weak),), (answer(200, weak),))  # 60 of 85 points over http
    assert (verdict.outcome, verdict.value) == (Outcome.PASS, 71)
    assert "Referrer-Policy strict: 0/10 points, seen 'no-referrer-when-downgrade'" in text(verdict)
    assert "Cache-Control: no-store/private on signed-in answers: 0/15 points, seen missing" in text(verdict)
    strict = headers((answer(200, weak),), (answer(200, weak),), min_score=80)
    assert (strict.outcome, strict.score, strict.threshold) == (Outcome.FAIL, 0.71, 80)


@pytest.mark.parametrize(
    ("extra", "rule", "earned"),
    [
        (
            {"X-Frame-Options": None, "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"},
            "frame",
            15,
        ),
        ({"X-Frame-Options": None, "Content-Security-Policy": "frame-ancestors *"}, "frame", 0),
        ({"X-Frame-Options": "ALLOW-FROM https://x.example"}, "frame", 0),
        ({"Referrer-Policy": "no-referrer, strict-origin-when-cross-origin"}, "Referrer", 10),
        ({"Referrer-Policy": "strict-origin-when-cross-origin, unsafe-url"}, "Referrer", 0),
        ({"Server": "nginx"}, "Server", 10),
        ({"Server": "nginx/1.25.3"}, "Server", 0),
        ({"X-Powered-By": "Express"}, "X-Powered-By", 0),
        ({"Cache-Control": "private, max-age=0"}, "Cache-Control", 15),
    ],
)
def test_each_header_rule(extra: dict[str, str | None], rule: str, earned: int) -> None:
    merged = {k: v for k, v in {**NO_STORE, **extra}.items() if v is not None}
    verdict = headers((answer(200, merged),), (answer(200, merged),))
    line = next(e.message for e in verdict.evidence if rule in e.message)
    assert f": {earned}/" in line


def test_a_header_must_be_right_on_every_answer() -> None:
    verdict = headers((answer(200, NO_STORE), answer(401, {})), (answer(200, NO_STORE),))
    assert "X-Content-Type-Options: nosniff: 0/20 points, seen missing on 1 of 2 answers (GET /tasks -> 401)" in text(
        verdict
    )


def test_cache_control_is_not_judged_without_a_signed_in_answer() -> None:
    facts = Facts({"http.headers": HeaderSamples(False, (answer(200, HELMET),), (), ("no token: login failed",))})
    verdict = security_headers(facts, {"min_score": 70})
    assert verdict.value == 100
    assert "Cache-Control: no-store/private on signed-in answers: not applicable" in text(verdict)
    assert "no token: login failed" in text(verdict)


def test_no_answer_at_all_is_not_run() -> None:
    assert headers(()).outcome is Outcome.NOT_RUN


# --- security.cors ------------------------------------------------------------------------------

EVIL = "https://evil.example"
PREFLIGHT_OK = {
    "Access-Control-Allow-Methods": "GET,POST",
    "Access-Control-Allow-Headers": "Authorization,Content-Type",
}


def cors(
    get: Mapping[str, str],
    options: Mapping[str, str],
    *,
    origin: str | None = None,
    preflight: Exchange | None = None,
    authenticated: bool = True,
) -> Verdict:
    hostile = (answer(200, get), answer(204, options, "OPTIONS"))
    if origin == EVIL:
        preflight = hostile[1]
    facts = CorsFacts(EVIL, hostile, origin, "test", preflight, authenticated)
    return security_cors(Facts({"http.cors": facts}), {})


def test_reflecting_the_hostile_origin_fails() -> None:
    reflect = {"Access-Control-Allow-Origin": EVIL, "Access-Control-Allow-Credentials": "true"}
    verdict = cors(reflect, {**reflect, **PREFLIGHT_OK}, origin=EVIL)
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.5)
    assert "reflects the hostile origin" in text(verdict)


def test_star_with_credentials_fails() -> None:
    star = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"}
    verdict = cors(star, {**star, **PREFLIGHT_OK}, origin=EVIL)
    assert verdict.outcome is Outcome.FAIL
    assert "allows any origin (*) with credentials" in text(verdict)


@pytest.mark.parametrize(("authenticated", "outcome"), [(True, Outcome.WARN), (False, Outcome.PASS)])
def test_star_alone_is_a_warning_only_on_an_authenticated_api(authenticated: bool, outcome: Outcome) -> None:
    star = {"Access-Control-Allow-Origin": "*"}
    verdict = cors(star, {**star, **PREFLIGHT_OK}, origin=EVIL, authenticated=authenticated)
    assert verdict.outcome is outcome


def test_closed_cors_passes_with_a_note() -> None:
    verdict = cors({}, {})
    assert verdict.outcome is Outcome.PASS
    assert "CORS is closed" in text(verdict)


def test_preflight_from_the_allowed_origin_must_answer_with_allow_headers() -> None:
    allowed = {"Access-Control-Allow-Origin": "https://app.example"}
    good = cors({}, {}, origin="https://app.example", preflight=answer(204, {**allowed, **PREFLIGHT_OK}, "OPTIONS"))
    assert good.outcome is Outcome.PASS
    wild = {**allowed, "Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "*"}
    bad = cors({}, {}, origin="https://app.example", preflight=answer(404, wild, "OPTIONS"))
    assert (bad.outcome, bad.score) == (Outcome.FAIL, 0.5)
    assert "status 404 (expected 204 or 200)" in text(bad)
    assert "`Access-Control-Allow-Headers: *` does not cover Authorization" in text(bad)


# --- security.rate_limit ------------------------------------------------------------------------

LIMIT_HEADERS = {"RateLimit": "limit=20, remaining=0, reset=60", "Retry-After": "60"}


def burst(group: str, limited_at: int | None, headers429: Mapping[str, str] = LIMIT_HEADERS, **kw: Any) -> Burst:
    sent = limited_at or 150
    limited = answer(429, headers429) if limited_at else None
    return Burst(
        group=group,
        method="GET",
        path=f"/{group}",
        sent=sent,
        limited_at=limited_at,
        limited=limited,
        first=kw.get("first", answer(200)),
        statuses={200: sent - (1 if limited_at else 0), **({429: 1} if limited_at else {})},
        elapsed_s=0.5,
        stopped="answered 429" if limited_at else "no 429 within 150 requests",
    )


def rate(*bursts: Burst, max_requests: int = 150) -> Verdict:
    facts = RateLimitFacts(bursts, 150, restarted=True, notes=("restarted the service before the bursts",))
    return security_rate_limit(Facts({"http.rate_limit": facts}), {"max_requests": max_requests})


def test_every_group_limited_with_headers_passes() -> None:
    verdict = rate(burst("auth", 21), burst("tasks", 101))
    assert (verdict.outcome, verdict.score, verdict.value) == (Outcome.PASS, 1.0, 2)
    assert "auth (GET /auth): 429 after 20 requests (21 requests in 0.5 s); RateLimit: limit=20" in text(verdict)
    assert "restarted the service before the bursts" in text(verdict)


def test_partial_credit_per_group() -> None:
    advertised = answer(200, {"RateLimit-Limit": "1000", "RateLimit-Remaining": "999"})
    verdict = rate(burst("auth", 21), burst("tasks", None, first=advertised), burst("stats", None))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.score == pytest.approx((1 + 0.25 + 0) / 3)
    assert "though it advertises RateLimit-Limit: 1000" in text(verdict)


def test_a_burst_cut_short_says_why() -> None:
    cut = Burst("tasks", "GET", "/tasks", 80, None, None, answer(200), {200: 80}, 10.1, "stopped after 10 s")
    assert "no 429 within 150 requests (80 requests in 10.1 s; 200: 80; stopped after 10 s)" in text(rate(cut))


def test_429_without_headers_is_a_warning() -> None:
    verdict = rate(burst("auth", 5, {}), burst("tasks", 50))
    assert (verdict.outcome, verdict.score) == (Outcome.WARN, 0.75)
    assert "but no Retry-After or RateLimit header" in text(verdict)


def test_max_requests_is_the_threshold_and_cannot_exceed_the_cap() -> None:
    assert rate(burst("tasks", 101), max_requests=100).outcome is Outcome.FAIL
    assert "within 150 requests" in rate(burst("tasks", None), max_requests=500).summary


def test_no_group_to_burst_is_not_run() -> None:
    assert rate().outcome is Outcome.NOT_RUN


# --- auth.flow and auth.refresh_rotation ----------------------------------------------------------

GOOD_STEPS: dict[str, Exchange | Attempt] = {
    "register": answer(201, method="POST"),
    "login": answer(200, method="POST"),
    "duplicate": answer(409, method="POST"),
    "wrong_password": answer(401, method="POST"),
    "no_token": answer(401),
    "tampered": answer(401),
    "alg_none": answer(401),
    "with_token": answer(200),
}


def flow(steps: Mapping[str, Exchange | Attempt] = GOOD_STEPS, **kw: Any) -> Verdict:
    attempts = tuple(s if isinstance(s, Attempt) else Attempt(k, s) for k, s in steps.items())
    fields: dict[str, Any] = {
        "protected_path": "/tasks",
        "attempts": attempts,
        "token_field": "token",
        "claims": {"sub": 1, "iat": 0, "exp": 900},
        "lifetime_s": 900.0,
        "echoed": (),
        **kw,
    }
    return auth_flow(Facts({"http.auth": AuthFacts(**fields)}), {"max_token_hours": 24})


def test_a_secure_flow_passes() -> None:
    verdict = flow()
    assert (verdict.outcome, verdict.score, verdict.value, verdict.threshold) == (Outcome.PASS, 1.0, 10, 10)
    assert "the JWT carries an expiry (exp): expires 0.2 h after it is issued" in text(verdict)


def test_a_rate_limited_step_is_not_judged() -> None:
    verdict = flow({**GOOD_STEPS, "wrong_password": answer(429, method="POST")})
    assert (verdict.outcome, verdict.threshold) == (Outcome.PASS, 9)
    assert "[not judged] login with a wrong password: POST /tasks -> 429 (rate limited" in text(verdict)


def test_steps_that_cannot_apply_are_not_judged_but_untried_ones_fail() -> None:
    steps: dict[str, Exchange | Attempt] = {
        **GOOD_STEPS,
        "alg_none": Attempt("alg_none", reason="the token is not a JWT", applicable=False),
    }
    assert flow(steps, claims=None, lifetime_s=None).threshold == 8  # alg:none and exp do not apply
    untried: dict[str, Exchange | Attempt] = {
        **GOOD_STEPS,
        "with_token": Attempt("with_token", reason="login gave no token"),
    }
    verdict = flow(untried)
    assert (verdict.outcome, verdict.score) == (Outcome.FAIL, 0.9)
    assert "[fail] protected route with the real token: login gave no token" in text(verdict)


def test_login_without_a_token_and_an_echoed_password_fail() -> None:
    verdict = flow(token_field=None, echoed=("POST /tasks -> 201",))
    assert verdict.outcome is Outcome.FAIL
    assert "login: POST /tasks -> 200, no token in the JSON" in text(verdict)
    assert "[fail] the password is never echoed" in text(verdict)


def test_long_lived_tokens_warn() -> None:
    verdict = flow(lifetime_s=7 * 24 * 3600.0)
    assert (verdict.outcome, verdict.score) == (Outcome.WARN, 1.0)
    assert "tokens live 168 h (more than 24 h)" in verdict.summary


def test_refresh_without_endpoint_or_token() -> None:
    no_path = refresh_rotation(Facts({"http.refresh": RefreshFacts(None)}), {})
    assert no_path.summary == "no refresh endpoint found (set [auth] refresh in grade.toml)"
    login = Attempt("login", answer(200, method="POST"))
    no_token = RefreshFacts("/auth/refresh", (login,), notes=("the login answer carried no refresh token",))
    verdict = refresh_rotation(Facts({"http.refresh": no_token}), {})
    assert (verdict.outcome, verdict.score, verdict.threshold) == (Outcome.FAIL, 0.0, 5)
    assert "login issues a refresh token: the login answer carried no refresh token" in text(verdict)


def test_a_rate_limited_login_is_not_held_against_the_learner() -> None:
    limited = answer(429, method="POST")
    no_token = {s: Attempt(s, reason="login gave no token") for s in ("tampered", "alg_none", "with_token")}
    verdict = flow({**GOOD_STEPS, "login": limited, **no_token}, token_field=None, claims=None, lifetime_s=None)
    assert verdict.outcome is Outcome.NOT_RUN
    assert "rate limited the grader's login (429)" in verdict.summary
    refresh = RefreshFacts("/auth/refresh", (Attempt("login", limited),), notes=("no refresh token",))
    assert refresh_rotation(Facts({"http.refresh": refresh}), {}).outcome is Outcome.NOT_RUN
