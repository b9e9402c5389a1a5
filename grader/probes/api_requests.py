"""Requests the data probes build from the API map: list endpoints, query strings, new items, credentials.

Built on the OpenAPI document (`ApiMap.spec`) where it says more than the operation list
(query parameters and their examples), and on the bodies :func:`grader.probes.http_api.create_body`
makes from the request schemas. :class:`ApiCaller` sends with the run's throwaway user's token
once the API asks for one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from grader.probes.http_api import create_body
from grader.probes.http_session import Session
from grader.probes.live import ApiMap, Exchange, Operation, send
from grader.probes.openapi import base_path, example_body, resolve_refs

PAGE_SIZE_NAMES = ("limit", "pagesize", "page_size", "per_page", "perpage", "size", "take", "first", "count")
PARAM = re.compile(r"\{[^}/]+\}")
_UNAUTHORIZED = (401, 403)
_FIXED_STRING = frozenset({"format", "enum", "const", "pattern"})


def query_parameters(api: ApiMap, op: Operation) -> list[Mapping[str, Any]]:
    """The documented query parameters of `op` (path-level and operation-level, `$ref`s resolved)."""
    spec = api.spec
    paths = spec.get("paths") if spec is not None else None
    if spec is None or not isinstance(paths, Mapping):
        return []
    base = base_path(spec)
    for template, raw in paths.items():
        if base + str(template) != op.path:
            continue
        item = resolve_refs(spec, raw)
        operation = item.get(op.method.lower()) if isinstance(item, dict) else None
        params = [*_list(item, "parameters"), *_list(operation, "parameters")]
        return [p for p in params if isinstance(p, dict) and p.get("in") == "query" and isinstance(p.get("name"), str)]
    return []


def parameter_value(param: Mapping[str, Any]) -> str:
    """A value for a query parameter: its documented example, else a valid one made from its schema."""
    schema = _mapping(param.get("schema"))
    for source in (param, schema):
        if "example" in source and source["example"] is not None:
            return _text(source["example"])
    return _text(example_body({"type": "object", "required": ["v"], "properties": {"v": schema}}).get("v", "sample"))


def required_query(api: ApiMap, op: Operation) -> dict[str, str]:
    """The required query parameters of `op`, each with a valid value."""
    return {p["name"]: parameter_value(p) for p in query_parameters(api, op) if p.get("required") is True}


@dataclass(frozen=True, slots=True)
class PageSize:
    """A documented page-size query parameter and its bounds."""

    name: str
    minimum: int
    maximum: int | None

    def clamp(self, wanted: int) -> int:
        """`wanted`, within the documented bounds."""
        return max(self.minimum, min(wanted, self.maximum or wanted))


def page_size(api: ApiMap, op: Operation) -> PageSize | None:
    """The page-size parameter of a list operation (limit, pageSize, per_page...), if one is documented."""
    for param in query_parameters(api, op):
        if param["name"].lower() in PAGE_SIZE_NAMES:
            schema = _mapping(param.get("schema"))
            low, high = schema.get("minimum"), schema.get("maximum")
            number = (int, float)
            return PageSize(
                param["name"],
                int(low) if isinstance(low, number) and not isinstance(low, bool) else 1,
                int(high) if isinstance(high, number) and not isinstance(high, bool) else None,
            )
    return None


def list_collections(api: ApiMap) -> list[Operation]:
    """GET operations on collections that a POST on the same path adds to: the main resource first."""
    posts = {o.path for o in api.operations if o.method == "POST"}
    auth = {api.register_path, api.login_path, api.refresh_path}
    lists = [o for o in api.operations if o.method == "GET" and o.path in posts and not PARAM.search(o.path)]
    return sorted((o for o in lists if o.path not in auth), key=lambda o: o.path != api.resource)


def create_operations(api: ApiMap) -> list[Operation]:
    """POST operations that create items (not the auth routes, no path parameter): the main resource first."""
    auth = {api.register_path, api.login_path, api.refresh_path}
    creates = [o for o in api.operations if o.method == "POST" and o.path not in auth and not PARAM.search(o.path)]
    return sorted(creates, key=lambda o: o.path != api.resource)


def new_item(api: ApiMap, path: str, like: Any, notes: list[str]) -> dict[str, Any]:
    """A body for POST `path`: the schema's fields, free text made unique, `...Id` fields taken from `like`.

    `like` is an item the list already holds (or None): its `categoryId` (or `category.id`) is reused,
    because a made-up reference to another table is usually refused.
    """
    body = create_body(api, path, notes)
    op = next((o for o in api.operations if o.method == "POST" and o.path == path), None)
    props = _mapping((op.request_schema or {}).get("properties") if op is not None else None)
    tag = secrets.token_hex(3)
    for name, value in body.items():
        prop = _mapping(props.get(name))
        related = _reference(name, like)
        if related is not None:
            body[name] = related
        elif isinstance(value, str) and not _FIXED_STRING & set(prop):
            body[name] = _unique(value, tag, prop.get("maxLength"))
    return body


def _unique(value: str, tag: str, limit: Any) -> str:
    """`value` with `tag` appended, cut to fit `maxLength` (unchanged when even the tag would not fit)."""
    if not isinstance(limit, int):
        return f"{value} {tag}"
    if limit < len(tag):
        return value
    room = limit - len(tag) - 1
    return f"{value[:room]} {tag}" if room > 0 else tag


def _reference(name: str, item: Any) -> Any:
    """The value of a reference field (`categoryId`, `category_id`) in an existing item, if it has one."""
    match = re.fullmatch(r"(\w+?)_?(?:Id|ID|_id)", name)
    if match is None or not isinstance(item, Mapping):
        return None
    if item.get(name) is not None:
        return item[name]
    nested = item.get(match.group(1))
    return nested.get("id") if isinstance(nested, Mapping) else None


def with_query(path: str, query: Mapping[str, str]) -> str:
    """`path?a=1&b=2` (just `path` without parameters)."""
    return f"{path}?{urlencode(query)}" if query else path


class ApiCaller:
    """Sends requests as the run's throwaway user: signed in first when needed, or after the first 401/403."""

    def __init__(self, client: httpx.Client, sign_in: Callable[[], Session], needed: bool = False) -> None:
        self.client = client
        self.headers: dict[str, str] = {}
        self.notes: list[str] = []
        self._sign_in = sign_in
        self._tried = False
        if needed:
            self._log_in()

    def send(self, method: str, path: str, body: Any = None) -> tuple[httpx.Response | None, Exchange]:
        """One request (with the token once there is one); a 401/403 without a token signs in and retries."""
        response, exchange = send(self.client, method, path, json_body=body, headers=self.headers)
        refused = response is not None and response.status_code in _UNAUTHORIZED
        if refused and not self._tried and self._log_in():
            response, exchange = send(self.client, method, path, json_body=body, headers=self.headers)
        return response, exchange

    def _log_in(self) -> bool:
        self._tried = True
        session = self._sign_in()
        self.headers = session.headers
        if not session.token:
            self.notes.append(f"could not sign in: {session.problem}")
        return bool(session.token)


def needs_token(ops: Sequence[Operation]) -> bool:
    """Whether any of the operations is documented as needing credentials."""
    return any(o.requires_auth for o in ops)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(node: Any, key: str) -> list[Any]:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
