"""`[service]` and `[services]` in grade.toml, and the extra environment given on the command line.

`[service]` says how to start the learner's service (`start`, `port`, `health`, `env`,
`ready_timeout`, `cwd`); `[services]` asks for throwaway PostgreSQL and Redis instances, or names
the learner's own (`postgres_url`, `redis_url`, loopback only) so the grader can read their statistics
when it does not start the databases itself (e.g. with `--url`).
Values in `[service] env` may refer to what the grader provides (`${PORT}`, `${DATABASE_URL}`,
`${PGPORT}`, `${REDIS_URL}`…), never to the grader's own environment.
"""

from __future__ import annotations

import io
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from dotenv.parser import parse_stream

from grader.errors import ConfigError, UsageError

DEFAULT_READY_TIMEOUT_S = 30.0
MAX_READY_TIMEOUT_S = 600.0
SERVICE_KEYS = ("start", "port", "health", "env", "ready_timeout", "cwd")
SERVICES_KEYS = ("postgres", "redis", "postgres_url", "redis_url")
_URL_SCHEMES = {"postgres_url": ("postgres", "postgresql"), "redis_url": ("redis", "rediss")}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """How to run the learner's service; `start=None` means the grader detects it."""

    start: str | None = None  # a shell command, run with `sh -c` in the project copy
    port: int | None = None  # None: the grader picks a free port and passes it in PORT
    health: str | None = None  # None: try /health, /healthz, /api/health, then /
    env: Mapping[str, str] = field(default_factory=dict)
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S
    cwd: str | None = None  # a subfolder of the project to start in
    postgres: bool = False  # [services] postgres = true: a throwaway PostgreSQL
    redis: bool = False  # [services] redis = true: a throwaway Redis
    postgres_url: str | None = None  # the learner's own PostgreSQL, on this machine, for its statistics
    redis_url: str | None = None  # the learner's own Redis, on this machine, for its statistics


def parse_service_config(raw: Mapping[str, Any], source: str = "grade.toml") -> ServiceConfig:
    """The `[service]` and `[services]` tables of a parsed grade.toml; ConfigError (one line) if malformed."""
    service = _table(raw, "service", SERVICE_KEYS, source)
    services = _table(raw, "services", SERVICES_KEYS, source)
    where = f"{source}: [service]"
    return ServiceConfig(
        start=_text(service.get("start"), f"{where} start"),
        port=_port(service.get("port"), f"{where} port"),
        health=_health(service.get("health"), f"{where} health"),
        env=_env(service.get("env", {}), f"{where} env"),
        ready_timeout_s=_timeout(service.get("ready_timeout"), f"{where} ready_timeout"),
        cwd=_cwd(service.get("cwd"), f"{where} cwd"),
        postgres=_flag(services.get("postgres"), f"{source}: [services] postgres"),
        redis=_flag(services.get("redis"), f"{source}: [services] redis"),
        postgres_url=_loopback_url(services, "postgres_url", source),
        redis_url=_loopback_url(services, "redis_url", source),
    )


def _table(raw: Mapping[str, Any], name: str, keys: tuple[str, ...], source: str) -> Mapping[str, Any]:
    table = raw.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [{name}] must be a table")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ConfigError(f"{source}: [{name}] has unknown key(s) {', '.join(unknown)} (known: {', '.join(keys)})")
    return table


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string")
    return value


def _port(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{where} must be a whole number from 1 to 65535, not {value!r}")
    return value


def _health(value: Any, where: str) -> str | None:
    path = _text(value, where)
    if path is not None and not path.startswith("/"):
        raise ConfigError(f"{where} must be a path starting with '/', e.g. \"/health\"")
    return path


def _env(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(f'{where} must be a table, e.g. env = {{ JWT_SECRET = "dev-only" }}')
    env = {}
    for name, item in value.items():
        if not _ENV_NAME.match(name):
            raise ConfigError(f"{where}: {name!r} is not a valid environment variable name")
        if name == "PORT":
            raise ConfigError(f"{where} must not set PORT: use [service] port")
        if not isinstance(item, str | int | float | bool):
            raise ConfigError(f"{where}: {name} must be a string, number or boolean")
        env[name] = str(item).lower() if isinstance(item, bool) else str(item)
    return env


def _timeout(value: Any, where: str) -> float:
    if value is None:
        return DEFAULT_READY_TIMEOUT_S
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_READY_TIMEOUT_S:
        raise ConfigError(f"{where} must be a number of seconds above 0 and at most {MAX_READY_TIMEOUT_S:.0f}")
    return float(value)


def _cwd(value: Any, where: str) -> str | None:
    text = _text(value, where)
    if text is None:
        return None
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts:
        raise ConfigError(f'{where} must be a folder inside the project, e.g. "backend"')
    return path.as_posix()


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false")
    return value


def _loopback_url(services: Mapping[str, Any], key: str, source: str) -> str | None:
    """A database URL with the expected scheme whose host is this machine (the grader reads, never reaches out)."""
    where = f"{source}: [services] {key}"
    url = _text(services.get(key), where)
    if url is None:
        return None
    schemes = _URL_SCHEMES[key]
    example = f"{schemes[0]}://user:password@127.0.0.1:{5432 if key == 'postgres_url' else 6379}/..."
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  # raises ValueError on a malformed port
    except ValueError:
        raise ConfigError(f"{where} is not a valid URL, e.g. {example}") from None
    if parts.scheme not in schemes:
        raise ConfigError(f"{where} must start with {' or '.join(s + '://' for s in schemes)}, e.g. {example}")
    if not _loopback(host):
        raise ConfigError(f"{where} must point at this machine (127.0.0.1, localhost or ::1), not {host or 'no host'}")
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_env_assignments(items: Iterable[str], where: str = "--env") -> dict[str, str]:
    """`KEY=VALUE` strings as a dict; UsageError naming the bad one."""
    env = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not _ENV_NAME.match(name):
            raise UsageError(f"{where} {item!r}: expected KEY=VALUE, e.g. JWT_SECRET=dev-only")
        env[name] = value
    return env


def read_env_file(path: Path) -> dict[str, str]:
    """Variables from a dotenv file (no interpolation); UsageError if it is missing or a line is malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--env-file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--env-file {path}: cannot be read: {exc}") from None
    env = {}
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error or (binding.key is not None and binding.value is None):
            raise UsageError(f"--env-file {path}: line {line} is not KEY=VALUE: {binding.original.string.strip()!r}")
        if binding.key is not None and binding.value is not None:
            env[binding.key] = binding.value
    return env
