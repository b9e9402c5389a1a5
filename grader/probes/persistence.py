"""The `persistence` probe: does an item created through the API survive a restart of the service?

It creates one item in the main collection (`ApiMap.resource`) with a minimal body built from
the documented request schema (`openapi.example_body`, with a unique marker in its plain text
fields), reads it back, restarts the service (holding `LiveService.exclusive`, so no other live
probe talks to it meanwhile) and reads it again. When the collection needs authentication it
uses the run's throwaway user (the `http.session` fact), and signs that user in again after the
restart if the old token is refused. Every request and response is kept for evidence.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from grader.facts import NotRunnable, ProbeContext
from grader.plugin import probe
from grader.probes.http_session import Session, bearer, credential_body, find_id, find_token, parse_json
from grader.probes.live import ApiMap, Exchange, LiveService, Operation, live_service, send, settle_live_probes
from grader.probes.openapi import example_body
from grader.probes.service import ServiceDown
from grader.sandbox import TAIL_LINES

_UNAUTHORIZED = (401, 403)
_VALIDATION = (400, 422)
_CONSTRAINED = frozenset({"format", "enum", "const", "pattern"})


@dataclass(frozen=True, slots=True)
class PersistenceFacts:
    """What happened to an item across a restart of the service."""

    status: str  # "kept" | "lost" | "restart_failed" | "untestable"
    reason: str  # one sentence
    exchanges: tuple[Exchange, ...] = ()
    log_tail: str = ""


@probe("persistence", timeout_s=300)
def persistence(ctx: ProbeContext) -> PersistenceFacts:
    """Create an item through the API, restart the service, and read the item back."""
    live = live_service(ctx)
    if not live.managed:
        raise NotRunnable("the service was given with --url, so the grader cannot restart it to see what survives")
    settle_live_probes(ctx, "persistence")  # the restart must not cut another probe's requests short
    return restart_round_trip(live, ctx.fact("api", ApiMap), lambda: ctx.fact("http.session", Session))


def restart_round_trip(live: LiveService, api: ApiMap, sign_in: Callable[[], Session]) -> PersistenceFacts:
    """Create, read, restart, read again; `sign_in` is called only if the API asks for authentication."""
    if api.resource is None:
        return PersistenceFacts(
            "untestable", "no main collection is known: set [api] resource in grade.toml or publish an OpenAPI document"
        )
    with live.exclusive, _Trip(live, api, sign_in) as trip:
        item = trip.create(api.resource)
        if isinstance(item, str):
            return trip.facts("untestable", item)
        if not trip.read(item):
            return trip.facts("untestable", f"the new item could not be read back before the restart ({trip.last})")
        try:
            live.restart()
        except ServiceDown as exc:
            tail = "\n".join(live.log_text().splitlines()[-TAIL_LINES:])
            return trip.facts("restart_failed", f"the service did not start again after a restart: {exc}", tail)
        trip.reconnect()
        if trip.read(item):
            return trip.facts("kept", f"the item created with POST {api.resource} was still there after a restart")
        return trip.facts("lost", f"the item created before the restart was gone after it ({trip.last_read})")


@dataclass(frozen=True, slots=True)
class _Item:
    """Where to read the created item, and text its representation must contain ("" : any 200 will do)."""

    path: str
    marker: str


class _Trip:
    """The grader's conversation with the API across the restart: credentials, cookies and every exchange."""

    def __init__(self, live: LiveService, api: ApiMap, sign_in: Callable[[], Session]) -> None:
        self.live = live
        self.api = api
        self.client = live.client()
        self.headers: dict[str, str] = {}
        self.exchanges: list[Exchange] = []
        self.session: Session | None = None
        self._sign_in = sign_in

    def __enter__(self) -> _Trip:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.client.close()

    @property
    def last(self) -> str:
        """The last exchange, e.g. 'POST /tasks -> 400'."""
        return self.exchanges[-1].summary if self.exchanges else "no request sent"

    @property
    def last_read(self) -> str:
        """The last GET, and a failed sign-in after it, e.g. 'GET /tasks/3 -> 401; the user could no longer sign in'."""
        gets = [e for e in self.exchanges if e.method == "GET"]
        read = gets[-1].summary if gets else self.last
        if self.exchanges and self.exchanges[-1].method != "GET":
            return f"{read}; the grader's user could no longer sign in: {self.last}"
        return read

    def send(self, method: str, path: str, body: Any = None) -> httpx.Response | None:
        """Send one request with the trip's credentials, recording it."""
        response, exchange = send(self.client, method, path, json_body=body, headers=self.headers)
        self.exchanges.append(exchange)
        return response

    def create(self, resource: str) -> _Item | str:
        """POST a minimal item (signing in first, or when refused); the item, or why there is none."""
        op = _operation(self.api, "POST", resource)
        if op is not None and op.requires_auth and not self.authenticate():
            problem = self.session.problem if self.session else "no register or login route is known ([auth])"
            return f"POST {resource} needs authentication and the grader could not sign in: {problem}"
        marker = f"grade-{secrets.token_hex(4)}"
        bodies = _item_bodies(op, marker)
        response = self._post_first(resource, bodies)
        if _status(response) in _UNAUTHORIZED and self.session is None and self.authenticate():
            response = self._post_first(resource, bodies)
        if response is None or not response.is_success:
            return f"the grader could not create an item to test with ({self.last})"
        return _created_item(resource, response, marker)

    def read(self, item: _Item) -> bool:
        """Whether GET on the item answers 200 with the marker, signing in again if the token is refused."""
        response = self.send("GET", item.path)
        if _status(response) in _UNAUTHORIZED and self._log_in_again():
            response = self.send("GET", item.path)
        return response is not None and response.status_code == 200 and item.marker in response.text

    def reconnect(self) -> None:
        """A fresh connection pool after the restart, keeping the cookies."""
        cookies = self.client.cookies
        self.client.close()
        self.client = self.live.client()
        self.client.cookies = cookies

    def authenticate(self) -> bool:
        """Take the run's throwaway user (registered and logged in once); True if it has a token."""
        if self.session is None and (self.api.register_path or self.api.login_path):
            self.session = self._sign_in()
            self.exchanges.extend(self.session.exchanges)
            self.headers.update(bearer(self.session.token))
        return self.session is not None and self.session.token is not None

    def facts(self, status: str, reason: str, log_tail: str = "") -> PersistenceFacts:
        """The fact, with every exchange so far."""
        return PersistenceFacts(status, reason, tuple(self.exchanges), log_tail)

    def _post_first(self, path: str, bodies: Sequence[Any]) -> httpx.Response | None:
        """POST each body in turn until one is not refused as invalid."""
        response = None
        for body in bodies:
            response = self.send("POST", path, body)
            if response is None or response.status_code not in _VALIDATION:
                break
        return response

    def _log_in_again(self) -> bool:
        """Log the throwaway user in again (after a restart the old token may be refused); True on a new token."""
        creds = self.session.credentials if self.session else None
        if creds is None or self.api.login_path is None:
            return False
        op = _operation(self.api, "POST", self.api.login_path)
        body = credential_body(op.request_schema if op else None, creds, login=True)
        response = self.send("POST", self.api.login_path, body)
        token = find_token(parse_json(response)[1]) if response is not None and response.is_success else None
        self.headers.update(bearer(token))
        return token is not None


def _item_bodies(op: Operation | None, marker: str) -> list[Any]:
    """The documented schema's minimal example with the marker in it, else common shapes of a first item."""
    if op is not None and op.request_schema:
        return [_marked(op.request_schema, example_body(op.request_schema), marker)]
    return [{"title": marker}, {"name": marker}, {"title": marker, "description": marker}, {"text": marker}]


def _marked(schema: Mapping[str, Any], body: dict[str, Any], marker: str) -> dict[str, Any]:
    """`body` with the marker in its free-text fields (no format, enum or pattern), to recognise the item later."""
    properties = schema.get("properties") or {}
    marked = dict(body)
    for name, value in body.items():
        sub = properties.get(name)
        if isinstance(value, str) and isinstance(sub, Mapping) and not _CONSTRAINED & set(sub):
            low, high = sub.get("minLength") or 0, sub.get("maxLength")
            if low <= len(marker) and (not isinstance(high, int) or len(marker) <= high):
                marked[name] = marker
    return marked


def _created_item(resource: str, response: httpx.Response, marker: str) -> _Item:
    """Where the new item lives: by its id, else the Location header, else the collection (found by the marker)."""
    echoed = marker if marker in response.text else ""
    item_id = find_id(parse_json(response)[1])
    if item_id is not None:
        return _Item(f"{resource.rstrip('/')}/{quote(item_id, safe='')}", echoed)
    location = response.headers.get("location")
    if location:
        return _Item(urlsplit(location).path or resource, echoed)
    return _Item(resource, marker)


def _operation(api: ApiMap, method: str, path: str) -> Operation | None:
    return next((op for op in api.operations if op.method == method and op.path.rstrip("/") == path.rstrip("/")), None)


def _status(response: httpx.Response | None) -> int | None:
    return response.status_code if response is not None else None
