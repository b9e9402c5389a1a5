"""The `[api]` and `[auth]` tables of grade.toml: where the OpenAPI document is, the routes, the auth endpoints.

This module imports nothing from the engine but errors, so `grader.project_config` can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grader.errors import ConfigError

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")
_API_KEYS = frozenset({"spec", "routes", "resource", "cors_origin"})
_AUTH_KEYS = frozenset({"register", "login", "refresh", "username_field", "password_field", "extra"})


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """`[api]`: the OpenAPI document (repo path or URL path), declared routes and the main resource."""

    spec: str | None = None
    routes: tuple[tuple[str, str], ...] = ()  # ("GET", "/tasks/{id}"); Express ":id" is rewritten to "{id}"
    resource: str | None = None
    cors_origin: str | None = None  # an origin the service should allow, for the CORS preflight check


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """`[auth]`: the auth endpoints and how to fill the register form."""

    register: str | None = None
    login: str | None = None
    refresh: str | None = None
    username_field: str | None = None
    password_field: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # extra register fields, e.g. {name = "Grader"}


def parse_api_config(raw: Mapping[str, Any]) -> ApiConfig:
    """Parse the `[api]` table; ConfigError names the bad key."""
    table = _table(raw, "api", _API_KEYS)
    routes = table.get("routes", [])
    if not isinstance(routes, list) or not all(isinstance(r, str) for r in routes):
        raise ConfigError('grade.toml: [api] routes must be a list of strings like "GET /tasks"')
    return ApiConfig(
        spec=_text(table, "api", "spec"),
        routes=tuple(_route(r) for r in routes),
        resource=_path(table, "api", "resource"),
        cors_origin=_text(table, "api", "cors_origin"),
    )


def parse_auth_config(raw: Mapping[str, Any]) -> AuthConfig:
    """Parse the `[auth]` table; ConfigError names the bad key."""
    table = _table(raw, "auth", _AUTH_KEYS)
    extra = table.get("extra", {})
    if not isinstance(extra, dict):
        raise ConfigError("grade.toml: [auth] extra must be a table of register fields")
    return AuthConfig(
        register=_path(table, "auth", "register"),
        login=_path(table, "auth", "login"),
        refresh=_path(table, "auth", "refresh"),
        username_field=_text(table, "auth", "username_field"),
        password_field=_text(table, "auth", "password_field"),
        extra=dict(extra),
    )


def express_to_template(path: str) -> str:
    """'/tasks/:id' -> '/tasks/{id}' (an OpenAPI path template)."""
    return "/".join(f"{{{part[1:].rstrip('?')}}}" if part.startswith(":") else part for part in path.split("/"))


def _table(raw: Mapping[str, Any], name: str, keys: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"grade.toml: [{name}] must be a table")
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise ConfigError(f"grade.toml: [{name}] has unknown key(s) {', '.join(unknown)}")
    return raw


def _text(table: Mapping[str, Any], name: str, key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"grade.toml: [{name}] {key} must be a non-empty string")
    return value.strip()


def _path(table: Mapping[str, Any], name: str, key: str) -> str | None:
    value = _text(table, name, key)
    if value is not None and not value.startswith("/"):
        raise ConfigError(f"grade.toml: [{name}] {key} must be a URL path starting with '/', not {value!r}")
    return None if value is None else express_to_template(value)


def _route(text: str) -> tuple[str, str]:
    parts = text.split()
    if len(parts) != 2 or parts[0].upper() not in HTTP_METHODS or not parts[1].startswith("/"):
        raise ConfigError(f'grade.toml: [api] routes entry {text!r} must look like "GET /tasks/:id"')
    return parts[0].upper(), express_to_template(parts[1])
