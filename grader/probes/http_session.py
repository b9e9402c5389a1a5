"""Shared HTTP helpers for live probes: JSON bodies, ids and tokens in them, and a logged-in throwaway user.

The `http.session` probe registers a random user and logs in once per run (through ApiMap.register_path
and login_path); probes that need a token take it with ``ctx.fact("http.session", Session)``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.api_config import AuthConfig
from grader.probes.live import ApiMap, Exchange, live_service, send
from grader.probes.openapi import example_body

TOKEN_PATHS = ("token", "accessToken", "access_token", "jwt", "data.token", "data.accessToken")
ID_PATHS = ("id", "_id", "uuid", "data.id", "data._id")


@dataclass(frozen=True, slots=True)
class Credentials:
    """A throwaway account the grader creates; never a learner's real user."""

    email: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Session:
    """The outcome of signing up and logging in: a bearer token, or why there is none."""

    token: str | None = field(repr=False)
    credentials: Credentials | None
    exchanges: tuple[Exchange, ...]
    problem: str = ""  # why there is no token ("" when logged in)

    @property
    def headers(self) -> dict[str, str]:
        """`Authorization: Bearer <token>`, or no header when there is no token."""
        return bearer(self.token)


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header for a bearer token (empty without one)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def parse_json(response: httpx.Response) -> tuple[bool, Any]:
    """(True, value) when the whole body parses as JSON, else (False, None); ignores the Content-Type."""
    try:
        return True, json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return False, None


def is_json_type(headers: Mapping[str, str]) -> bool:
    """Whether a Content-Type header says JSON (application/json or a +json type)."""
    value = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    media = value.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def dig(data: Any, dotted: str) -> Any:
    """`data["a"]["b"]` for "a.b", or None when a step is missing."""
    for key in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def first_scalar(data: Any, paths: Sequence[str]) -> str | None:
    """The first non-empty string or number found at one of `paths`, as a string."""
    for path in paths:
        value = dig(data, path)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def find_token(data: Any) -> str | None:
    """A token in a login (or register) response body: token, accessToken, access_token, jwt, data.token."""
    return first_scalar(data, TOKEN_PATHS)


def find_id(data: Any) -> str | None:
    """A created item's id: id, _id, uuid or data.id."""
    return first_scalar(data, ID_PATHS)


def random_credentials() -> Credentials:
    """A fresh account that satisfies common password rules (length, cases, digit, symbol)."""
    tag = secrets.token_hex(5)
    return Credentials(f"grader-{tag}@example.com", f"grader_{tag}", f"Gr4der-{secrets.token_urlsafe(9)}!")


def credential_body(
    schema: Mapping[str, Any] | None, creds: Credentials, *, login: bool, auth: AuthConfig | None = None
) -> dict[str, Any]:
    """A register or login body: the schema's credential fields filled in, other required fields made up.

    Without a schema: email, password (and a name to register), or the fields grade.toml `[auth]`
    username_field / password_field name; `[auth] extra` is added to the register body.
    """
    auth = auth or AuthConfig()
    if schema and isinstance(schema.get("properties"), Mapping):
        body = example_body(schema)
        body.update({n: v for n in schema["properties"] if (v := _credential_value(n, creds, login=login))})
    else:
        user = auth.username_field or "email"
        body = {user: creds.email if "mail" in user.lower() else creds.username}
        body[auth.password_field or "password"] = creds.password
        if not (login or auth.username_field):
            body["name"] = "Grader Bot"
    return body if login else {**body, **auth.extra}


def _credential_value(name: str, creds: Credentials, *, login: bool) -> str | None:
    lowered = name.lower().replace("_", "")
    if "email" in lowered:
        return creds.email
    if "pass" in lowered:
        return creds.password
    if lowered in ("username", "login", "handle", "user"):
        return creds.username
    if "name" in lowered and not login:
        return "Grader Bot"
    return None


def sign_up_and_log_in(client: httpx.Client, api: ApiMap, auth: AuthConfig | None = None) -> Session:
    """Register a random user (api.register_path), log in (api.login_path) and keep the bearer token."""
    if not api.login_path and not api.register_path:
        return Session(
            None, None, (), "no register or login route is known; set [auth] register and login in grade.toml"
        )
    creds = random_credentials()
    exchanges: list[Exchange] = []
    token = None
    for path, login in ((api.register_path, False), (api.login_path, True)):
        if path is None:
            continue
        response, exchange = send(
            client, "POST", path, json_body=credential_body(_schema(api, path), creds, login=login, auth=auth)
        )
        exchanges.append(exchange)
        if response is not None and response.is_success:
            token = find_token(parse_json(response)[1]) or token
    return Session(token, creds, tuple(exchanges), "" if token else _no_token(exchanges))


def _no_token(exchanges: Sequence[Exchange]) -> str:
    failed = [e for e in exchanges if e.status is None or not 200 <= e.status < 300]
    if failed:
        return f"{failed[-1].summary} (expected a 2xx answer)"
    return f"no token found in the login response (looked for {', '.join(TOKEN_PATHS)})"


def _schema(api: ApiMap, path: str) -> Mapping[str, Any] | None:
    return next((o.request_schema for o in api.operations if o.method == "POST" and o.path == path), None)


def auth_config(ctx: ProbeContext) -> AuthConfig:
    """The learner's grade.toml `[auth]` table (all defaults when there is none)."""
    return ctx.config.auth


@probe("http.session", timeout_s=30)
def session_probe(ctx: ProbeContext) -> Session:
    """Registers a throwaway user and logs in, for probes that call protected routes.

    It does not take LiveService.exclusive, so a probe may ask for it while holding the lock.
    """
    service = live_service(ctx)
    api = ctx.fact("api", ApiMap)
    with service.client(timeout_s=10.0) as client:
        return sign_up_and_log_in(client, api, auth_config(ctx))
