"""Web-security checks on the running service: security headers, CORS, and rate limiting per endpoint group."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from checks.auth import SubCheck, marked, share
from grader.facts import Facts
from grader.model import Evidence, Outcome, Verdict
from grader.plugin import check
from grader.probes.http_security import Burst, CorsFacts, HeaderSamples, RateLimitFacts, header
from grader.probes.live import Exchange

# --- security.headers ---------------------------------------------------------------------------

HSTS_MIN_AGE = 15_552_000  # 180 days
STRICT_REFERRER = frozenset({"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"})
Judge = Callable[[Exchange], tuple[bool, str]]


@dataclass(frozen=True, slots=True)
class HeaderRule:
    """One header expectation, worth `points` out of 100, judged on the answers in `scope`."""

    name: str
    points: int
    scope: str  # "all", "authenticated" (signed-in answers) or "https" (all answers, only over HTTPS)
    judge: Judge


def _seen(value: str | None) -> str:
    return "missing" if value is None else repr(value)


def _nosniff(e: Exchange) -> tuple[bool, str]:
    value = header(e, "x-content-type-options")
    return (value or "").strip().lower() == "nosniff", _seen(value)


def _frame(e: Exchange) -> tuple[bool, str]:
    xfo = header(e, "x-frame-options")
    ancestors = _directive(header(e, "content-security-policy"), "frame-ancestors")
    ok = (xfo or "").strip().upper() in ("DENY", "SAMEORIGIN") or (ancestors is not None and "*" not in ancestors)
    seen = f"X-Frame-Options {_seen(xfo)}, CSP frame-ancestors {_seen(ancestors)}"
    return ok, seen


def _hsts(e: Exchange) -> tuple[bool, str]:
    value = header(e, "strict-transport-security")
    age = re.search(r"max-age\s*=\s*\"?(\d+)", value or "", re.IGNORECASE)
    return age is not None and int(age.group(1)) >= HSTS_MIN_AGE, _seen(value)


def _referrer(e: Exchange) -> tuple[bool, str]:
    value = header(e, "referrer-policy")
    last = (value or "").split(",")[-1].strip().lower()  # browsers use the last policy they understand
    return last in STRICT_REFERRER, _seen(value)


def _no_store(e: Exchange) -> tuple[bool, str]:
    value = header(e, "cache-control")
    directives = {d.strip().split("=")[0].lower() for d in (value or "").split(",")}
    return bool(directives & {"no-store", "private"}), _seen(value)


def _no_powered_by(e: Exchange) -> tuple[bool, str]:
    value = header(e, "x-powered-by")
    return value is None, "absent" if value is None else repr(value)


def _server_unversioned(e: Exchange) -> tuple[bool, str]:
    value = header(e, "server")
    return value is None or not re.search(r"\d", value), "absent" if value is None else repr(value)


def _directive(policy: str | None, name: str) -> str | None:
    for part in (policy or "").split(";"):
        words = part.strip().split(None, 1)
        if words and words[0].lower() == name:
            return words[1] if len(words) > 1 else ""
    return None


HEADER_RULES = (
    HeaderRule("X-Content-Type-Options: nosniff", 20, "all", _nosniff),
    HeaderRule("frame protection (X-Frame-Options or CSP frame-ancestors)", 15, "all", _frame),
    HeaderRule("Strict-Transport-Security (max-age >= 180 days)", 15, "https", _hsts),
    HeaderRule("Referrer-Policy strict", 10, "all", _referrer),
    HeaderRule("Cache-Control: no-store/private on signed-in answers", 15, "authenticated", _no_store),
    HeaderRule("no X-Powered-By", 15, "all", _no_powered_by),
    HeaderRule("no version in Server", 10, "all", _server_unversioned),
)


def _rule_answers(rule: HeaderRule, facts: HeaderSamples) -> tuple[tuple[Exchange, ...], str]:
    """The answers a rule is judged on, or () and why it does not apply."""
    if rule.scope == "authenticated":
        return facts.authenticated, "no signed-in answer was available"
    if rule.scope == "https" and not facts.https:
        return (), "the service is served over plain http (HSTS is only honoured over HTTPS)"
    return facts.samples, "no answer"


def judge_rule(rule: HeaderRule, facts: HeaderSamples) -> tuple[int, int, Evidence]:
    """(points earned, points possible, evidence line) for one rule; possible is 0 when it does not apply."""
    answers, why = _rule_answers(rule, facts)
    if not answers:
        return 0, 0, Evidence(f"{rule.name}: not applicable, {why}")
    results = [(e, *rule.judge(e)) for e in answers]
    failing = [(e, seen) for e, ok, seen in results if not ok]
    shown, seen = failing[0] if failing else (results[0][0], results[0][2])
    earned = 0 if failing else rule.points
    where = f" on {len(failing)} of {len(results)} answers" if failing and len(results) > 1 else ""
    message = f"{rule.name}: {earned}/{rule.points} points, seen {seen}{where} ({shown.summary})"
    return earned, rule.points, Evidence(message, detail=shown.detail)


@check(
    "security.headers",
    title="Security headers score at least {min_score}/100",
    requires=("http.headers",),
    defaults={"min_score": 70},
    threshold="min_score",
    remediation="Express: `app.use(helmet())` sets nosniff, frame protection (X-Frame-Options and CSP "
    "frame-ancestors), a strict Referrer-Policy and HSTS; add `app.disable('x-powered-by')` and "
    "`res.set('Cache-Control', 'no-store')` in the middleware of signed-in routes. Behind a proxy, hide the "
    "Server version (nginx `server_tokens off;`). Python: the `secure` package or Flask-Talisman / a FastAPI "
    "middleware setting the same headers; run uvicorn with `--no-server-header`.",
)
def security_headers(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Scores the headers of a public answer, an error answer and a signed-in answer, Observatory-style,
    for a JSON API: each header is worth points, earned only when every answer has it right."""
    samples = facts.get("http.headers", HeaderSamples)
    minimum = float(options["min_score"])
    judged = [judge_rule(rule, samples) for rule in HEADER_RULES]
    possible = sum(p for _, p, _ in judged)
    if possible == 0 or not samples.samples:
        return Verdict.not_run("not run: no answer to judge headers on")
    points = round(100 * sum(e for e, _, _ in judged) / possible)
    evidence = tuple(ev for _, _, ev in judged) + tuple(Evidence(n) for n in samples.notes)
    summary = f"security headers score {points}/100 (threshold {minimum:.0f})"
    outcome = Outcome.PASS if points >= minimum else Outcome.FAIL
    return Verdict(outcome, points / 100, summary, value=points, threshold=minimum, unit="points", evidence=evidence)


# --- security.cors ------------------------------------------------------------------------------


def _trust_problem(exchange: Exchange, hostile_origin: str) -> str:
    """What is wrong with the CORS answer to the hostile origin ('' when nothing)."""
    origin = header(exchange, "access-control-allow-origin")
    credentials = (header(exchange, "access-control-allow-credentials") or "").strip().lower() == "true"
    if origin == hostile_origin:
        return f"reflects the hostile origin (Access-Control-Allow-Origin {origin!r})"
    if origin == "*" and credentials:
        return "allows any origin (*) with credentials"
    return ""


def _hostile_subcheck(cors: CorsFacts) -> tuple[SubCheck, bool]:
    """(whether the hostile origin is refused, whether '*' is used on an authenticated API)."""
    label = f"a hostile origin ({cors.hostile_origin}) is not trusted"
    for exchange in cors.hostile:
        if problem := _trust_problem(exchange, cors.hostile_origin):
            return SubCheck(
                label, False, Evidence(f"{label}: {exchange.summary} {problem}", detail=exchange.detail)
            ), False
    star = next((e for e in cors.hostile if header(e, "access-control-allow-origin") == "*"), None)
    if star is not None and cors.authenticated:
        message = f"{label}: {star.summary} allows any origin (*) on an API that needs a token"
        return SubCheck(label, True, Evidence(message, detail=star.detail)), True
    seen = ", ".join(f"{e.summary} ({_seen(header(e, 'access-control-allow-origin'))})" for e in cors.hostile)
    return SubCheck(label, True, Evidence(f"{label}: Access-Control-Allow-Origin {seen}")), False


def _preflight_subcheck(cors: CorsFacts) -> SubCheck:
    label = "a preflight from an allowed origin is answered"
    if cors.allowed_origin is None or cors.preflight is None:
        note = "CORS is closed: no origin is allowed (set [api] cors_origin in grade.toml to check your front-end's)"
        return SubCheck(label, True, Evidence(f"{label}: {note}"))
    e = cors.preflight
    methods = header(e, "access-control-allow-methods")
    allowed = header(e, "access-control-allow-headers")
    problems = [
        f"status {e.status} (expected 204 or 200)" if e.status not in (200, 204) else "",
        "no Access-Control-Allow-Methods" if not methods else "",
        "no Access-Control-Allow-Headers" if not allowed else "",
        "`Access-Control-Allow-Headers: *` does not cover Authorization" if (allowed or "").strip() == "*" else "",
        "no Access-Control-Allow-Origin" if not header(e, "access-control-allow-origin") else "",
    ]
    problem = "; ".join(p for p in problems if p)
    source = f"origin {cors.allowed_origin} ({cors.origin_source})"
    message = f"{label}: {e.summary} from {source}" + (f": {problem}" if problem else "")
    return SubCheck(label, not problem, Evidence(message, detail=e.detail))


@check(
    "security.cors",
    title="CORS allows only known origins",
    requires=("http.cors",),
    remediation="Express: `app.use(cors({ origin: ['https://your-frontend.example'], credentials: true, methods: "
    "['GET','POST','PUT','PATCH','DELETE'], allowedHeaders: ['Content-Type','Authorization'] }))`: an explicit "
    "allowlist, never `origin: true` (which reflects any origin) and never `*` with credentials. Python: FastAPI "
    "`CORSMiddleware(allow_origins=[...], allow_credentials=True, allow_methods=[...], allow_headers=[...])` or "
    "Flask-CORS `CORS(app, origins=[...])`. Tell the grader your front-end's origin with `[api] cors_origin`.",
)
def security_cors(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Sends requests with `Origin: https://evil.example` (to the loopback service only): the origin must not
    be reflected, nor `*` given with credentials; a preflight from an allowed origin must be answered."""
    cors = facts.get("http.cors", CorsFacts)
    hostile, star = _hostile_subcheck(cors)
    subs = [hostile, _preflight_subcheck(cors)]
    score, passed, judged = share(subs)
    evidence = marked(subs)
    if passed < judged:
        return Verdict.failed(f"{judged - passed} of {judged} CORS expectations fail", score=score, evidence=evidence)
    if star:
        return Verdict.warned(
            "CORS answers `*` on an API that needs a token: list your origins", 0.75, evidence=evidence
        )
    return Verdict.passed("CORS trusts no hostile origin", evidence=evidence)


# --- security.rate_limit ------------------------------------------------------------------------

_LIMIT_HEADERS = ("ratelimit", "x-ratelimit")


def _limit_headers(exchange: Exchange | None, *, retry: bool) -> dict[str, str]:
    """The RateLimit-* / X-RateLimit-* headers of an answer (and Retry-After when `retry`)."""
    if exchange is None:
        return {}
    return {
        k: v
        for k, v in exchange.response_headers.items()
        if k.lower().startswith(_LIMIT_HEADERS) or (retry and k.lower() == "retry-after")
    }


def burst_credit(burst: Burst, max_requests: int) -> tuple[float, Evidence]:
    """Credit for one endpoint group: 1 for a 429 with limit headers within `max_requests`, partial otherwise."""
    where = f"{burst.group} ({burst.method} {burst.path})"
    took = f"{_requests(burst.sent)} in {burst.elapsed_s:.1f} s"
    if burst.limited_at is not None and burst.limited_at <= max_requests:
        spent = ", already spent by an earlier group or earlier requests" if burst.limited_at == 1 else ""
        before = f"{where}: 429 after {_requests(burst.limited_at - 1)} ({took}{spent})"
        shown = _limit_headers(burst.limited, retry=True)
        if not shown:
            return 0.5, Evidence(f"{before}, but no Retry-After or RateLimit header", detail=_detail(burst.limited))
        names = ", ".join(f"{k}: {v}" for k, v in shown.items())
        return 1.0, Evidence(f"{before}; {names}", detail=_detail(burst.limited))
    statuses = ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(burst.statuses.items()))
    advertised = _limit_headers(burst.first, retry=False)
    if advertised:
        names = ", ".join(f"{k}: {v}" for k, v in advertised.items())
        message = f"{where}: no 429 within {max_requests} requests ({took}; {statuses}), though it advertises {names}"
        return 0.25, Evidence(message, detail=_detail(burst.first))
    early = "" if burst.stopped.startswith("no 429") else f"; {burst.stopped}"
    message = f"{where}: no 429 within {max_requests} requests ({took}; {statuses}{early})"
    return 0.0, Evidence(message, detail=_detail(burst.first))


def _requests(count: int) -> str:
    return f"{count} request" if count == 1 else f"{count} requests"


def _detail(exchange: Exchange | None) -> str | None:
    return exchange.detail if exchange else None


@check(
    "security.rate_limit",
    title="Each endpoint group is rate limited (429 within {max_requests} requests)",
    requires=("http.rate_limit",),
    defaults={"max_requests": 150},
    threshold="max_requests",
    remediation="Express: express-rate-limit per router, a strict one for auth (`app.use('/auth', rateLimit({ "
    "windowMs: 15 * 60 * 1000, limit: 20, standardHeaders: 'draft-7', legacyHeaders: false }))`) and a looser "
    "one for the API (`app.use('/tasks', rateLimit({ windowMs: 60 * 1000, limit: 100, standardHeaders: "
    "'draft-7' }))`); use a Redis store (rate-limit-redis) when you run several instances. Python: slowapi "
    "(`@limiter.limit('20/15minutes')`) or Flask-Limiter. Answer 429 with Retry-After and RateLimit headers.",
)
def security_rate_limit(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """After every other live probe, sends a bounded burst to each endpoint group (login, the main resource's
    list, one more documented GET) and looks for a 429 with Retry-After or RateLimit headers."""
    limits = facts.get("http.rate_limit", RateLimitFacts)
    max_requests = min(int(options["max_requests"]), limits.cap)
    notes = tuple(Evidence(n) for n in limits.notes)
    if not limits.bursts:
        return Verdict.not_run("not run: no endpoint group found to send a burst to", evidence=notes)
    credits = [burst_credit(b, max_requests) for b in limits.bursts]
    limited = sum(1 for c, _ in credits if c >= 0.5)
    score = sum(c for c, _ in credits) / len(credits)
    summary = f"{limited} of {len(credits)} endpoint groups answer 429 within {max_requests} requests"
    kw: dict[str, Any] = {"value": limited, "threshold": len(credits), "unit": "groups"}
    evidence = tuple(e for _, e in sorted(credits, key=lambda c: c[0])) + notes
    if all(c == 1.0 for c, _ in credits):
        return Verdict.passed(summary, evidence=evidence, **kw)
    if limited == len(credits):
        return Verdict.warned(f"{summary}, some without Retry-After/RateLimit headers", score, evidence=evidence, **kw)
    return Verdict.failed(summary, score=score, evidence=evidence, **kw)
