"""Live API probes: JSON on the read endpoints, a CRUD round trip on the main resource, provoked errors."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from grader.facts import ProbeContext
from grader.plugin import probe
from grader.probes.api_config import AuthConfig
from grader.probes.http_obs import HealthFacts
from grader.probes.http_session import auth_config, find_id, is_json_type, parse_json, sign_up_and_log_in
from grader.probes.live import ApiMap, Exchange, Operation, live_service, send
from grader.probes.openapi import example_body

MAX_READ_ENDPOINTS = 15
TIMEOUT_S = 5.0
LIST_KEYS = ("data", "items", "results")
_PARAM = re.compile(r"\{[^}/]+\}")
# Documented GETs that are not JSON by design: Prometheus metrics and documentation UIs.
NOT_JSON_BY_DESIGN = re.compile(r"(?:^|/)(?:metrics|docs|api-docs|swagger|swagger-ui|redoc)/?$")
# Stack frames and server paths that must never reach a client.
LEAK_PATTERNS = (
    re.compile(r"at (?:Function|Layer|Route|Object|Module|process)\.[\w<>$]+"),
    re.compile(r"(?:\n|\\n)\s{2,}at \S+"),
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'File \\?"[^"\\]+\\?", line \d+'),
    re.compile(r"(?:/home|/Users|/usr/src|/app|/var/www|/srv|/opt|/root)/[\w.@-]+/[\w./@-]*"),
    re.compile(r"node_modules[/\\]"),
    re.compile(r"[A-Z]:\\\\(?:Users|app)"),
)


@dataclass(frozen=True, slots=True)
class JsonReply:
    """One GET on a read endpoint and whether its body is JSON."""

    exchange: Exchange
    documented: bool  # listed in the API map (else the root or the health path)
    json_type: bool  # Content-Type is application/json
    parses: bool  # the whole body parses as JSON


@dataclass(frozen=True, slots=True)
class JsonFacts:
    """Replies of the read endpoints (GET without path parameters, `/` and the health path)."""

    replies: tuple[JsonReply, ...]


@dataclass(frozen=True, slots=True)
class CrudRun:
    """A create, read, list, update, delete, read-again round trip on the main resource."""

    resource: str | None
    authenticated: bool = False
    login: tuple[Exchange, ...] = ()
    login_problem: str = ""
    create: Exchange | None = None
    item_id: str | None = None
    read: Exchange | None = None
    listing: Exchange | None = None
    in_list: bool = False
    update: Exchange | None = None
    reread: Exchange | None = None
    change_visible: bool = False
    delete: Exchange | None = None
    after_delete: Exchange | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """The response to one provoked error."""

    case: str  # "unknown route", "unknown id", "invalid body", "no token", "malformed JSON"
    exchange: Exchange
    is_json: bool  # JSON Content-Type and a body that parses
    shape: str | None  # the top-level keys, e.g. "{error}", or "[array]"; None when not JSON
    leaks: tuple[str, ...]  # stack-trace or path fragments found in the body


@dataclass(frozen=True, slots=True)
class ErrorFacts:
    """Responses to provoked errors, and the cases that could not be provoked here."""

    replies: tuple[ErrorReply, ...]
    skipped: tuple[str, ...] = ()


@probe("http.json", timeout_s=60)
def json_probe(ctx: ProbeContext) -> JsonFacts:
    """GETs the documented read endpoints (not /metrics or docs UIs), `/` and the health path without a token."""
    service = live_service(ctx)
    api = ctx.fact("api", ApiMap)
    documented = [
        o.path
        for o in api.operations
        if o.method == "GET" and not _PARAM.search(o.path) and not NOT_JSON_BY_DESIGN.search(o.path)
    ]
    health = ctx.store.get("http.health")
    extra = ["/", *([health.path] if isinstance(health, HealthFacts) and health.path else [])]
    paths = list(dict.fromkeys(documented + extra))[:MAX_READ_ENDPOINTS]
    replies = []
    with service.exclusive, service.client(TIMEOUT_S) as client:
        for path in paths:
            response, exchange = send(client, "GET", path)
            parses = response is not None and parse_json(response)[0]
            json_type = is_json_type(exchange.response_headers)
            replies.append(JsonReply(exchange, path in documented, json_type, parses))
    return JsonFacts(tuple(replies))


@probe("http.crud", timeout_s=60)
def crud_probe(ctx: ProbeContext) -> CrudRun:
    """Creates, reads, lists, updates and deletes one item of the main resource, logging in when needed."""
    service = live_service(ctx)
    api = ctx.fact("api", ApiMap)
    if not api.resource:
        return CrudRun(resource=None)
    with service.exclusive, service.client(TIMEOUT_S) as client:
        return _Crud(client, api, api.resource, auth_config(ctx)).run()


class _Crud:
    """One CRUD round trip; collects its exchanges into a CrudRun."""

    def __init__(self, client: httpx.Client, api: ApiMap, resource: str, auth: AuthConfig) -> None:
        self.client = client
        self.api = api
        self.resource = resource
        self.auth = auth
        self.headers: dict[str, str] = {}
        self.facts: dict[str, Any] = {"resource": resource}
        self.notes: list[str] = []

    def run(self) -> CrudRun:
        body = create_body(self.api, self.resource, self.notes)
        response = self._create(body)
        item_id = find_id(parse_json(response)[1]) if response is not None else None
        self.facts["item_id"] = item_id
        if item_id is not None:
            item = _item_path(self.api, self.resource, item_id)
            self._read(item, item_id)
            self._update(item, body)
            self.facts["delete"] = send(self.client, "DELETE", item, headers=self.headers)[1]
            self.facts["after_delete"] = send(self.client, "GET", item, headers=self.headers)[1]
        return CrudRun(**self.facts, notes=tuple(self.notes))

    def _create(self, body: dict[str, Any]) -> httpx.Response | None:
        if needs_auth(self.api, self.resource):
            self._log_in()
        response, exchange = send(self.client, "POST", self.resource, json_body=body, headers=self.headers)
        if response is not None and response.status_code in (401, 403) and not self.headers:
            self.notes.append(f"POST {self.resource} answered {response.status_code} without a token: logged in")
            self._log_in()
            response, exchange = send(self.client, "POST", self.resource, json_body=body, headers=self.headers)
        self.facts["create"] = exchange
        return response

    def _log_in(self) -> None:
        session = sign_up_and_log_in(self.client, self.api, self.auth)
        self.headers = session.headers
        self.facts.update(authenticated=True, login=session.exchanges, login_problem=session.problem)

    def _read(self, item: str, item_id: str) -> None:
        self.facts["read"] = send(self.client, "GET", item, headers=self.headers)[1]
        response, self.facts["listing"] = send(self.client, "GET", self.resource, headers=self.headers)
        items = list_items(parse_json(response)[1], self.resource) if response is not None else []
        self.facts["in_list"] = any(find_id(i) == item_id for i in items)

    def _update(self, item: str, body: dict[str, Any]) -> None:
        name, value = _changed_field(self.api, self.resource, body)
        method = _update_method(self.api, self.resource)
        change = {name: value} if method == "PATCH" else {**body, name: value}
        self.facts["update"] = send(self.client, method, item, json_body=change, headers=self.headers)[1]
        response, self.facts["reread"] = send(self.client, "GET", item, headers=self.headers)
        data = parse_json(response)[1] if response is not None else None
        self.facts["change_visible"] = _field_value(data, name) == value


@probe("http.errors", timeout_s=60)
def errors_probe(ctx: ProbeContext) -> ErrorFacts:
    """Provokes 404, 400/422, 401 and malformed-JSON errors and records each response."""
    service = live_service(ctx)
    api = ctx.fact("api", ApiMap)
    crud = ctx.store.get("http.crud")
    if not isinstance(crud, CrudRun):  # the round trip failed: aim from the API map alone
        crud = CrudRun(api.resource, authenticated=bool(api.resource) and needs_auth(api, api.resource or ""))
    with service.exclusive, service.client(TIMEOUT_S) as client:
        headers = sign_up_and_log_in(client, api, auth_config(ctx)).headers if crud.authenticated else {}
        cases, skipped = _error_cases(api, crud, headers)
        replies = tuple(_provoke(client, case, args) for case, args in cases.items())
    return ErrorFacts(replies, skipped)


def _error_cases(
    api: ApiMap, crud: CrudRun, headers: dict[str, str]
) -> tuple[dict[str, dict[str, Any]], tuple[str, ...]]:
    """The requests that should each produce an error, and the cases with nothing to aim at."""
    cases: dict[str, dict[str, Any]] = {"unknown route": {"path": f"/grader-no-such-route-{secrets.token_hex(4)}"}}
    skipped = []
    resource = crud.resource
    if resource:
        absent = _item_path(api, resource, absent_id_like(crud.item_id))
        cases["unknown id"] = {"path": absent, "headers": headers}
        cases["invalid body"] = {"method": "POST", "path": resource, "json_body": {}, "headers": headers}
    else:
        skipped += ["unknown id", "invalid body"]
    protected = _protected_path(api, crud)
    if protected:
        cases["no token"] = {"path": protected}
    else:
        skipped.append("no token (no protected route is known)")
    post = resource or api.login_path or next((o.path for o in api.operations if o.method == "POST"), None)
    if post:
        bad = {"Content-Type": "application/json", **headers}
        cases["malformed JSON"] = {"method": "POST", "path": post, "content": b'{"bad json', "headers": bad}
    else:
        skipped.append("malformed JSON (no POST route is known)")
    return cases, tuple(skipped)


def _provoke(client: httpx.Client, case: str, args: Mapping[str, Any]) -> ErrorReply:
    kwargs = {k: v for k, v in args.items() if k not in ("method", "path")}
    response, exchange = send(client, args.get("method", "GET"), args["path"], **kwargs)
    if response is None:
        return ErrorReply(case, exchange, False, None, ())
    parses, data = parse_json(response)
    is_json = parses and is_json_type(exchange.response_headers)
    return ErrorReply(case, exchange, is_json, body_shape(data) if parses else None, find_leaks(response.text))


def body_shape(data: Any) -> str:
    """A JSON body's shape for comparing error responses: its sorted top-level keys, or its type."""
    if isinstance(data, dict):
        return "{" + ", ".join(sorted(data)) + "}"
    return "[array]" if isinstance(data, list) else f"<{type(data).__name__}>"


def find_leaks(text: str) -> tuple[str, ...]:
    """Fragments of stack traces or server file paths in a response body."""
    found = (m.group(0) for p in LEAK_PATTERNS if (m := p.search(text)))
    return tuple(dict.fromkeys(f[:120] for f in found))


def absent_id_like(item_id: str | None) -> str:
    """An id shaped like the real ones (number, Mongo ObjectId or UUID) that no item has."""
    if item_id is not None and item_id.isdigit():
        return "987654321"
    if item_id is not None and re.fullmatch(r"[0-9a-f]{24}", item_id):
        return "0" * 24
    return str(uuid.uuid4())


def _protected_path(api: ApiMap, crud: CrudRun) -> str | None:
    protected = [o.path for o in api.operations if o.method == "GET" and o.requires_auth and not _PARAM.search(o.path)]
    if protected:
        return protected[0]
    return crud.resource if crud.authenticated else None


def _resource_ops(api: ApiMap, resource: str) -> list[Operation]:
    """The operations on the collection and on one of its items (`/tasks`, `/tasks/{id}`)."""
    item = re.compile(re.escape(resource) + r"/\{[^}/]+\}")
    return [o for o in api.operations if o.path == resource or item.fullmatch(o.path)]


def needs_auth(api: ApiMap, resource: str) -> bool:
    """Whether the collection or its items are documented as needing credentials."""
    return any(o.requires_auth for o in _resource_ops(api, resource))


def create_body(api: ApiMap, resource: str, notes: list[str]) -> dict[str, Any]:
    """A body for POST on the resource: the schema's required fields, or all of them when none is required."""
    schema = _request_schema(api, resource, "POST") or {}
    if schema.get("required"):
        return example_body(schema)
    props = schema.get("properties") or {}
    writable = [name for name, prop in props.items() if not (isinstance(prop, Mapping) and prop.get("readOnly"))]
    if writable:
        notes.append(f"the POST {resource} schema requires no field: sent every documented field")
        return example_body({**schema, "required": writable})
    notes.append(f"no documented body for POST {resource}: sent a guessed one")
    marker = f"grader {secrets.token_hex(3)}"
    return {"title": marker, "name": marker}


def _request_schema(api: ApiMap, resource: str, method: str) -> Mapping[str, Any] | None:
    op = next((o for o in _resource_ops(api, resource) if o.method == method and o.request_schema), None)
    return op.request_schema if op else None


def _item_path(api: ApiMap, resource: str, item_id: str) -> str:
    template = next((o.path for o in _resource_ops(api, resource) if o.path != resource), resource + "/{id}")
    return _PARAM.sub(item_id, template, count=1)


def _update_method(api: ApiMap, resource: str) -> str:
    methods = {o.method for o in _resource_ops(api, resource)}
    return "PATCH" if "PATCH" in methods and "PUT" not in methods else "PUT"


def _changed_field(api: ApiMap, resource: str, body: Mapping[str, Any]) -> tuple[str, str]:
    """A free-text field of the item to change, and its new value."""
    props = (_request_schema(api, resource, "POST") or {}).get("properties") or {}
    free = [
        k
        for k, v in body.items()
        if isinstance(v, str) and not {"enum", "format"} & set(props.get(k) or {}) and not k.lower().endswith("id")
    ]
    return (free[0] if free else "title"), f"grader updated {secrets.token_hex(3)}"


def list_items(data: Any, resource: str) -> list[Any]:
    """The items of a list response: the body itself, or its data/items/results/<collection name> array."""
    if isinstance(data, list):
        return data
    keys = (*LIST_KEYS, resource.rstrip("/").rsplit("/", 1)[-1])
    return next((data[k] for k in keys if isinstance(data, dict) and isinstance(data.get(k), list)), [])


def _field_value(data: Any, name: str) -> Any:
    if isinstance(data, dict) and name not in data and isinstance(data.get("data"), dict):
        data = data["data"]
    return data.get(name) if isinstance(data, dict) else None
