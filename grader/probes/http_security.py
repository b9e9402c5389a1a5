"""Live web-security probes: response headers, CORS towards a hostile origin, and rate limits per endpoint group.

The requests go only to the learner's service on loopback; "hostile" origins are just header values.
The rate-limit probe runs after every other live probe (its bursts trip limits for everyone).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.api_config import AuthConfig
from grader.probes.http_auth import protected_path, request_schema, scrub
from grader.probes.http_session import (
    Session,
    auth_config,
    bearer,
    credential_body,
    random_credentials,
    sign_up_and_log_in,
)
from grader.probes.live import ApiMap, Exchange, LiveService, live_service, send, settle_live_probes

HOSTILE_ORIGIN = "https://evil.example"
BURST_CAP = 150  # requests per endpoint group, at most
BURST_SECONDS = 10.0  # wall-clock budget per endpoint group
_EXEMPT = re.compile(r"\b(health|ready|live|ping|metrics|docs|openapi|swagger)", re.IGNORECASE)  # often unlimited


def header(exchange: Exchange, name: str) -> str | None:
    """A response header of the exchange, by case-insensitive name."""
    return next((v for k, v in exchange.response_headers.items() if k.lower() == name.lower()), None)


def _public_path(api: ApiMap) -> str:
    """A documented GET that needs no token and no path parameter (e.g. /health), else '/'."""
    op = next((o for o in api.operations if o.method == "GET" and not o.requires_auth and "{" not in o.path), None)
    return op.path if op else "/"


# --- security headers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderSamples:
    """Answers whose headers are judged: public and error answers, and answers to a signed-in request."""

    https: bool
    samples: tuple[Exchange, ...]  # every header rule is judged on each of these
    authenticated: tuple[Exchange, ...]  # signed-in answers (Cache-Control is judged on these)
    notes: tuple[str, ...] = ()


@probe("http.headers", timeout_s=60)
def security_headers(ctx: ProbeContext) -> HeaderSamples:
    """Fetches a public route, a protected route without a token, and the protected route signed in."""
    live = live_service(ctx)
    api = ctx.fact("api", ApiMap)
    session = ctx.store.get("http.session")  # optional: without it only Cache-Control goes unjudged
    token = session.token if isinstance(session, Session) else None
    private = api.resource or protected_path(api)
    with live.exclusive, live.client() as client:
        samples = tuple(send(client, "GET", path)[1] for path in dict.fromkeys((_public_path(api), private or "/")))
        signed_in = (scrub(send(client, "GET", private, headers=bearer(token))[1], token),) if private and token else ()
    return HeaderSamples(
        live.base_url.startswith("https://"), samples, signed_in, () if signed_in else (_no_token(session),)
    )


def _no_token(session: object) -> str:
    why = session.problem if isinstance(session, Session) else f"no session ({session})"
    return f"no signed-in answer to judge Cache-Control on: {why or 'no protected route'}"


# --- CORS ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CorsFacts:
    """How the service answered a hostile origin, and a preflight from an origin it allows (if any)."""

    hostile_origin: str
    hostile: tuple[Exchange, ...]  # a GET and a preflight sent with the hostile Origin
    allowed_origin: str | None  # the origin of `preflight`; None when no origin is seen to be allowed
    origin_source: str  # how allowed_origin was chosen
    preflight: Exchange | None
    authenticated: bool  # the API has routes that need a token


@probe("http.cors", timeout_s=60)
def cors(ctx: ProbeContext) -> CorsFacts:
    """Sends a GET and an OPTIONS preflight from a hostile Origin, then a preflight from an allowed origin."""
    live = live_service(ctx)
    api = ctx.fact("api", ApiMap)
    path = api.resource or protected_path(api) or "/"
    configured = ctx.config.api.cors_origin
    with live.exclusive, live.client() as client:
        hostile = (
            send(client, "GET", path, headers={"Origin": HOSTILE_ORIGIN})[1],
            _preflight(client, path, HOSTILE_ORIGIN),
        )
        origin, source = _allowed_origin(configured, hostile)
        if origin is None or origin == HOSTILE_ORIGIN:
            preflight = hostile[1] if origin else None
        else:
            preflight = _preflight(client, path, origin)
    authenticated = any(o.requires_auth for o in api.operations) or api.login_path is not None
    return CorsFacts(HOSTILE_ORIGIN, hostile, origin, source, preflight, authenticated)


def _preflight(client: httpx.Client, path: str, origin: str) -> Exchange:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    return send(client, "OPTIONS", path, headers=headers)[1]


def _allowed_origin(configured: str | None, hostile: tuple[Exchange, ...]) -> tuple[str | None, str]:
    """The origin to send a preflight from: grade.toml's, else one the service itself names."""
    if configured:
        return configured, "grade.toml [api] cors_origin"
    seen = {header(e, "access-control-allow-origin") for e in hostile} - {None, ""}
    if seen & {"*", HOSTILE_ORIGIN}:
        return HOSTILE_ORIGIN, "the service allows the hostile origin, so its preflight is judged"
    named = sorted(o for o in seen if o and o != "null")
    if named:
        return named[0], "named by the service's own Access-Control-Allow-Origin"
    return None, "no origin is allowed by what the service answered"


# --- rate limits --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Burst:
    """A bounded burst at one endpoint group, stopped at the first 429."""

    group: str  # "auth", "resource" or "read"
    method: str
    path: str
    sent: int
    limited_at: int | None  # the 1-based number of the first request answered 429
    limited: Exchange | None  # that 429 answer
    first: Exchange | None  # the first answer (shows any RateLimit headers advertised before the limit)
    statuses: Mapping[int, int]  # status -> count; 0 counts transport errors
    elapsed_s: float
    stopped: str  # why the burst ended


@dataclass(frozen=True, slots=True)
class RateLimitFacts:
    """The bursts sent to each endpoint group, after every other live probe was done."""

    bursts: tuple[Burst, ...]
    cap: int
    restarted: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Target:
    group: str
    method: str
    path: str
    headers: Mapping[str, str]
    body: Any = None


@probe("http.rate_limit", timeout_s=120)  # its own time: waits for other probes do not count
def rate_limit(ctx: ProbeContext) -> RateLimitFacts:
    """Waits for every other live probe, restarts a managed service, then bursts each endpoint group."""
    settle_live_probes(ctx, "http.rate_limit")
    live = live_service(ctx)
    api = ctx.fact("api", ApiMap)
    with live.exclusive:
        notes = [_restart(live)]
        with live.client(timeout_s=5.0) as client:
            session = sign_up_and_log_in(client, api, auth_config(ctx))
            if not session.token:
                notes.append(f"bursts sent without a token: {session.problem}")
            targets = _targets(api, session, auth_config(ctx))
            bursts = tuple(_burst(client, t, BURST_CAP, BURST_SECONDS, session.token) for t in targets)
    notes += [f"no {g} group found" for g in ("auth", "resource") if g not in {t.group for t in targets}]
    return RateLimitFacts(bursts, BURST_CAP, live.managed, tuple(notes))


def _restart(live: LiveService) -> str:
    if not live.managed:
        return "not restarted (the service was not started by the grader): earlier requests may count"
    live.restart()
    return "restarted the service before the bursts, so earlier requests do not count towards its limits"


def _targets(api: ApiMap, session: Session, auth: AuthConfig) -> list[_Target]:
    """The endpoint groups: login, the main resource's list, and one more documented GET."""
    targets = []
    if api.login_path:
        body = credential_body(request_schema(api, api.login_path), random_credentials(), login=True, auth=auth)
        targets.append(_Target("auth", "POST", api.login_path, {}, body))
    if api.resource:
        targets.append(_Target("resource", "GET", api.resource, session.headers))
    other = _other_get(api)
    if other:
        targets.append(_Target("read", "GET", other, session.headers))
    return targets


def _other_get(api: ApiMap) -> str | None:
    """A documented GET outside the auth routes and the resource, that is not a health or docs route."""
    auth_root = "/" + (api.login_path or "").strip("/").split("/")[0]
    for op in api.operations:
        path = op.path
        if op.method != "GET" or "{" in path or path == api.resource or _EXEMPT.search(path):
            continue
        if not (api.login_path and path.startswith(auth_root)):
            return path
    return None


def _burst(client: httpx.Client, target: _Target, cap: int, budget_s: float, token: str | None) -> Burst:
    """Send up to `cap` requests (for at most `budget_s`), one after the other, until the first 429."""
    began = time.monotonic()
    statuses: Counter[int] = Counter()
    first = limited = None
    stopped = f"no 429 within {cap} requests"
    while sum(statuses.values()) < cap:
        if time.monotonic() - began > budget_s:
            stopped = f"stopped after {budget_s:.0f} s"
            break
        answer = send(client, target.method, target.path, headers=target.headers, json_body=target.body)[1]
        exchange = scrub(answer, token)
        statuses[exchange.status or 0] += 1
        first = first or exchange
        if exchange.status == 429:
            limited, stopped = exchange, "answered 429"
            break
        if exchange.status is None:
            stopped = f"transport error: {exchange.error}"
            break
    sent = sum(statuses.values())
    return Burst(
        group=target.group,
        method=target.method,
        path=target.path,
        sent=sent,
        limited_at=sent if limited else None,
        limited=limited,
        first=first,
        statuses=dict(statuses),
        elapsed_s=time.monotonic() - began,
        stopped=stopped,
    )
