"""Live auth probes: the register/login/protected-route flow, and refresh-token rotation.

Both start from the throwaway account of the shared `http.session` probe, talk to the running service
through :func:`grader.probes.live.send`, and keep every exchange as evidence with the password and every
token scrubbed out of the bodies (send() already redacts secret headers and request fields).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from http.cookies import CookieError, SimpleCookie
from typing import Any

import httpx

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.api_config import AuthConfig
from grader.probes.http_session import (
    TOKEN_PATHS,
    Credentials,
    Session,
    auth_config,
    bearer,
    credential_body,
    dig,
    find_token,
    first_scalar,
    parse_json,
)
from grader.probes.live import REDACTED, ApiMap, Exchange, live_service, send

REFRESH_PATHS = ("refreshToken", "refresh_token", "data.refreshToken", "data.refresh_token")
_MIN_SECRET = 6  # shorter values are not scrubbed from evidence (they would mangle ordinary text)
_ROUTE_STEPS = ("no_token", "tampered", "alg_none", "with_token")
_REFRESH_STEPS = ("login", "refresh", "reuse")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One step of a live flow: the exchange it produced, or why it was not tried."""

    step: str
    exchange: Exchange | None = None
    reason: str = ""  # why there is no exchange
    applicable: bool = True  # False: the step does not apply here (e.g. alg:none on a token that is not a JWT)


@dataclass(frozen=True, slots=True)
class AuthFacts:
    """What the auth flow probe saw, step by step."""

    protected_path: str | None
    attempts: tuple[Attempt, ...]
    token_field: str | None  # where the login answer carried the token, e.g. "token" or "data.token"
    claims: Mapping[str, Any] | None  # the JWT payload (decoded, not verified); None when there is no JWT
    lifetime_s: float | None  # exp - iat (or exp - now when there is no iat)
    echoed: tuple[str, ...]  # the register/login exchanges whose answer showed the password or a password field
    notes: tuple[str, ...] = ()

    def attempt(self, step: str) -> Attempt | None:
        """The attempt for `step`, if the probe recorded one."""
        return next((a for a in self.attempts if a.step == step), None)


@dataclass(frozen=True, slots=True)
class RefreshFacts:
    """What the refresh-rotation probe saw: a login, one use of its refresh token, a replay of it."""

    refresh_path: str | None
    attempts: tuple[Attempt, ...] = ()
    carrier: str | None = None  # "JSON field refreshToken" or "cookie refresh_token"; None when none came
    new_access: bool = False  # the refresh answer carried an access token
    rotated: bool = False  # the refresh answer carried a refresh token different from the one used
    notes: tuple[str, ...] = ()

    def attempt(self, step: str) -> Attempt | None:
        """The attempt for `step`, if the probe recorded one."""
        return next((a for a in self.attempts if a.step == step), None)


# --- evidence hygiene and tokens ----------------------------------------------------------------


def scrub(exchange: Exchange, *values: str | None) -> Exchange:
    """The exchange with the given secrets redacted wherever they appear in its bodies.

    send() already redacts secret-named JSON fields; this also catches a password or token echoed
    under another name or in a body that is not JSON.
    """
    hidden = sorted({v for v in values if v and len(v) >= _MIN_SECRET}, key=len, reverse=True)

    def clean(text: str) -> str:
        for value in hidden:
            text = text.replace(value, REDACTED)
        return text

    request_body = clean(exchange.request_body) if exchange.request_body else exchange.request_body
    return replace(exchange, request_body=request_body, response_body=clean(exchange.response_body))


def _leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """(innermost key, value) of every leaf of a JSON value."""
    if isinstance(value, dict):
        for inner_key, inner in value.items():
            yield from _leaves(inner, str(inner_key))
    elif isinstance(value, list):
        for inner in value:
            yield from _leaves(inner, key)
    else:
        yield key, value


def set_cookies(response: httpx.Response | None) -> list[tuple[str, str]]:
    """(name, value) of every cookie the response sets."""
    cookies: list[tuple[str, str]] = []
    for header in response.headers.get_list("set-cookie") if response is not None else ():
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            continue
        cookies += [(name, morsel.value) for name, morsel in jar.items()]
    return cookies


def protected_path(api: ApiMap) -> str | None:
    """A route that needs a token: a documented GET with requires_auth and no path parameter, else the resource."""
    op = next((o for o in api.operations if o.requires_auth and o.method == "GET" and "{" not in o.path), None)
    return op.path if op else api.resource


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(header, claims) of a JWT, decoded without verifying it; None when the token is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (json.loads(_b64url_decode(p)) for p in parts[:2])
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or "alg" not in header:
        return None
    return header, claims


def tampered(token: str) -> str:
    """The token with one character of its signature changed (the first: the last may only hold padding bits)."""
    head, dot, signature = token.rpartition(".")
    if not dot or not signature:
        middle = len(token) // 2
        return token[:middle] + _other(token[middle]) + token[middle + 1 :]
    return f"{head}.{_other(signature[0])}{signature[1:]}"


def alg_none(token: str) -> str:
    """The token re-headed as {"alg":"none","typ":"JWT"}, with its real payload and an empty signature."""
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return f"{header}.{token.split('.')[1]}."


def _other(char: str) -> str:
    return "B" if char == "A" else "A"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def request_schema(api: ApiMap, path: str | None) -> Mapping[str, Any] | None:
    """The JSON body schema of the documented POST at `path`, if any."""
    return next((o.request_schema for o in api.operations if o.method == "POST" and o.path == path), None)


# --- the auth flow probe ------------------------------------------------------------------------


@probe("http.auth", timeout_s=120)
def auth_flow(ctx: ProbeContext) -> AuthFacts:
    """Takes the shared session's register and login, then tries a duplicate registration, a wrong password,
    and the protected route without a token, with a tampered one, with an alg:none one and with the real one."""
    live = live_service(ctx)
    api = ctx.fact("api", ApiMap)
    session = ctx.fact("http.session", Session)
    with live.exclusive, live.client() as client:
        facts = _run_flow(client, api, session, auth_config(ctx))
    return replace(facts, notes=(*facts.notes, _database_note(ctx)))


def _run_flow(client: httpx.Client, api: ApiMap, session: Session, auth: AuthConfig) -> AuthFacts:
    creds = session.credentials
    hidden = [creds.password if creds else None, session.token]
    register, login = (_sent(session, path) for path in (api.register_path, api.login_path))
    echoed = tuple(e.summary for e in (register, login) if e and creds and _echoes(e, creds.password))
    attempts = [
        _attempt("register", register, api.register_path, session.problem, hidden),
        _attempt("login", login, api.login_path, session.problem, hidden),
        *_abuse_attempts(client, api, creds, auth, hidden),
    ]
    target = protected_path(api)
    parts = jwt_parts(session.token) if session.token else None
    attempts += _route_attempts(client, target, session.token, parts is not None, hidden)
    claims = parts[1] if parts else None
    return AuthFacts(
        protected_path=target,
        attempts=tuple(attempts),
        token_field=_token_field(login) if session.token else None,
        claims=claims,
        lifetime_s=_lifetime(claims),
        echoed=echoed,
        notes=() if parts or not session.token else ("the login token is not a JWT",),
    )


def _sent(session: Session, path: str | None) -> Exchange | None:
    """The shared session's exchange with `path` (as sent: its answer may hold secrets)."""
    return next((e for e in session.exchanges if path and e.method == "POST" and e.url == path), None)


def _attempt(step: str, exchange: Exchange | None, path: str | None, problem: str, hidden: list[str | None]) -> Attempt:
    if exchange is not None:
        return Attempt(step, scrub(exchange, *hidden))
    if path is None:
        return Attempt(step, reason=f"no {step} route found (set [auth] {step} in grade.toml)")
    return Attempt(step, reason=problem or "not sent")


def _abuse_attempts(
    client: httpx.Client, api: ApiMap, creds: Credentials | None, auth: AuthConfig, hidden: list[str | None]
) -> Iterator[Attempt]:
    """A second registration of the same account, and a login with a wrong password."""
    plan = (("duplicate", "register", api.register_path), ("wrong_password", "login", api.login_path))
    for step, route, path in plan:
        if path is None or creds is None:
            yield Attempt(step, reason=f"no {route} route found" if path is None else "no account was created")
            continue
        login = route == "login"
        body = credential_body(request_schema(api, path), creds, login=login, auth=auth)
        if login:
            body = {k: (f"{v}x" if v == creds.password else v) for k, v in body.items()}
        yield Attempt(step, scrub(send(client, "POST", path, json_body=body)[1], *hidden))


def _route_attempts(
    client: httpx.Client, path: str | None, token: str | None, is_jwt: bool, hidden: list[str | None]
) -> Iterator[Attempt]:
    """The protected route without a token, with forged tokens, then with the real one."""
    if path is None:
        reason = "no protected route found (no operation requires auth, no [api] resource)"
        yield from (Attempt(step, reason=reason) for step in _ROUTE_STEPS)
        return
    yield _get(client, "no_token", path, {}, hidden)
    if token is None:
        yield from (Attempt(step, reason="login gave no token") for step in _ROUTE_STEPS[1:])
        return
    yield _get(client, "tampered", path, bearer(tampered(token)), hidden)
    if is_jwt:
        yield _get(client, "alg_none", path, bearer(alg_none(token)), hidden)
    else:
        yield Attempt("alg_none", reason="the token is not a JWT", applicable=False)
    yield _get(client, "with_token", path, bearer(token), hidden)


def _get(client: httpx.Client, step: str, path: str, headers: Mapping[str, str], hidden: list[str | None]) -> Attempt:
    return Attempt(step, scrub(send(client, "GET", path, headers=headers)[1], *hidden))


def _echoes(exchange: Exchange, password: str) -> bool:
    """Whether an answer shows the password, or carries a password-like field (e.g. passwordHash)."""
    if password in exchange.response_body:
        return True
    ok, body = _parsed(exchange.response_body)
    return ok and any("password" in key.lower() for key, _ in _leaves(body))


def _token_field(login: Exchange | None) -> str | None:
    """Which of the usual places in the login answer holds a token (its value is redacted by then)."""
    ok, body = _parsed(login.response_body) if login else (False, None)
    return next((p for p in TOKEN_PATHS if ok and isinstance(dig(body, p), str) and dig(body, p)), None)


def _parsed(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


def _lifetime(claims: Mapping[str, Any] | None) -> float | None:
    if not claims or not isinstance(claims.get("exp"), int | float):
        return None
    issued = claims.get("iat")
    return float(claims["exp"]) - (float(issued) if isinstance(issued, int | float) else time.time())


def _database_note(ctx: ProbeContext) -> str:
    if "DATABASE_URL" in ctx.live.env:
        return "password storage not checked: reading the learner's database is not automated yet"
    return "password storage not checked: no database access (no DATABASE_URL given)"


# --- the refresh rotation probe -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Carried:
    """A refresh token and where it travels: a JSON body field or a cookie."""

    cookie: bool
    name: str
    value: str

    @property
    def where(self) -> str:
        """E.g. 'cookie refresh_token' or 'JSON field refreshToken'."""
        return f"cookie {self.name}" if self.cookie else f"JSON field {self.name}"


@probe("http.refresh", timeout_s=120)
def refresh_rotation(ctx: ProbeContext) -> RefreshFacts:
    """Logs the shared session's account in again, uses the refresh token once, then replays the old one."""
    live = live_service(ctx)
    api = ctx.fact("api", ApiMap)
    if not api.refresh_path:
        return RefreshFacts(None, notes=("no refresh endpoint found (set [auth] refresh in grade.toml)",))
    session = ctx.fact("http.session", Session)
    if session.credentials is None or api.login_path is None:
        return RefreshFacts(api.refresh_path, notes=(f"no account to log in with: {session.problem}",))
    creds = session.credentials
    body = credential_body(request_schema(api, api.login_path), creds, login=True, auth=auth_config(ctx))
    with live.exclusive, live.client() as client:
        response, login = send(client, "POST", api.login_path, json_body=body)
        return _run_refresh(client, api, api.refresh_path, (response, login), creds.password)


def _run_refresh(
    client: httpx.Client, api: ApiMap, path: str, logged_in: tuple[httpx.Response | None, Exchange], password: str
) -> RefreshFacts:
    """Use the refresh token of the `logged_in` answer once, then replay it."""
    response, login = logged_in
    hidden = [password, *_tokens(response)]
    old = _refresh_token(response)
    if old is None:
        attempt = Attempt("login", scrub(login, *hidden))
        return RefreshFacts(path, (attempt,), notes=("the login answer carried no refresh token",))
    answer, first = _use_refresh(client, api, path, old)
    hidden += _tokens(answer)
    new = _refresh_token(answer)
    reuse = _use_refresh(client, api, path, old)[1]
    return RefreshFacts(
        refresh_path=path,
        attempts=tuple(
            Attempt(step, scrub(e, *hidden)) for step, e in zip(_REFRESH_STEPS, (login, first, reuse), strict=True)
        ),
        carrier=old.where,
        new_access=answer is not None and find_token(parse_json(answer)[1]) is not None,
        rotated=new is not None and new.value != old.value,
    )


def _tokens(response: httpx.Response | None) -> list[str]:
    """Every token the answer carries, in its JSON body or its cookies."""
    if response is None:
        return []
    body = parse_json(response)[1]
    found = [first_scalar(body, TOKEN_PATHS), first_scalar(body, REFRESH_PATHS)]
    return [t for t in found if t] + [value for _, value in set_cookies(response)]


def _refresh_token(response: httpx.Response | None) -> _Carried | None:
    """A refreshToken/refresh_token JSON field, else a cookie whose name mentions refresh."""
    if response is None or not response.is_success:
        return None
    body = parse_json(response)[1]
    field = next((p for p in REFRESH_PATHS if isinstance(dig(body, p), str) and dig(body, p)), None)
    if field:
        return _Carried(False, field.rsplit(".", 1)[-1], dig(body, field))
    cookie = next(((n, v) for n, v in set_cookies(response) if "refresh" in n.lower()), None)
    return _Carried(True, *cookie) if cookie else None


def _use_refresh(
    client: httpx.Client, api: ApiMap, path: str, token: _Carried
) -> tuple[httpx.Response | None, Exchange]:
    """POST the refresh route with `token`, where the login put it (a body field or a cookie)."""
    client.cookies.clear()  # only the cookie chosen here may travel
    if token.cookie:
        return send(client, "POST", path, headers={"Cookie": f"{token.name}={token.value}"}, json_body={})
    return send(client, "POST", path, json_body={_refresh_field(api, path) or token.name: token.value})


def _refresh_field(api: ApiMap, path: str) -> str | None:
    """The documented body field of the refresh route that mentions refresh, if any."""
    props = (request_schema(api, path) or {}).get("properties") or {}
    return next((name for name in props if "refresh" in name.lower()), None)
