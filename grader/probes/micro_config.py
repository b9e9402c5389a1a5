"""`[microservices]` in grade.toml: how the grader starts each service of a microservices project.

```toml
[microservices]
gateway = "gateway"          # the service every request goes through (required)
stop = "users"               # the service stopped for the fault-tolerance test (default: the first that routes)
ready_timeout = 30           # seconds each service gets to answer

[[microservices.service]]
name = "users"               # letters, digits, - and _; USERS_URL is given to the others
start = "node src/server.js" # a shell command, run in `cwd` of the project copy
cwd = "services/users"       # optional folder
port = 4001                  # optional: default a free loopback port, passed as PORT
health = "/health"           # optional: default /health, /healthz, /api/health, /
route = "/users"             # optional: a gateway path this service answers (default "/<name>")
```

Like :mod:`grader.probes.service_config`, this imports nothing from the engine but errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grader.errors import ConfigError
from grader.probes.service_config import DEFAULT_READY_TIMEOUT_S, _cwd, _health, _port, _text, _timeout

TABLE_KEYS = ("gateway", "stop", "ready_timeout", "service")
SERVICE_KEYS = ("name", "start", "cwd", "port", "health", "route")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class MicroService:
    """One `[[microservices.service]]` entry."""

    name: str
    start: str
    cwd: str | None = None
    port: int | None = None
    health: str | None = None
    route: str | None = None  # None: "/<name>"

    @property
    def url_variable(self) -> str:
        """The environment variable the other services find this one in, e.g. ORDERS_URL."""
        return re.sub(r"[^A-Z0-9]", "_", self.name.upper()) + "_URL"

    @property
    def gateway_path(self) -> str:
        """The gateway path that reaches this service."""
        return self.route or f"/{self.name}"


@dataclass(frozen=True, slots=True)
class MicroservicesConfig:
    """The parsed `[microservices]` table; no services means the grader starts nothing."""

    gateway: str | None = None
    stop: str | None = None
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S
    services: tuple[MicroService, ...] = ()

    def service(self, name: str) -> MicroService:
        """The entry called `name` (the config was validated, so it exists)."""
        return next(s for s in self.services if s.name == name)


def parse_microservices_config(raw: Mapping[str, Any], source: str = "grade.toml") -> MicroservicesConfig:
    """The `[microservices]` table of a parsed grade.toml; ConfigError (one line) if malformed."""
    if "microservices" not in raw:
        return MicroservicesConfig()
    where = f"{source}: [microservices]"
    table = _known(raw["microservices"], TABLE_KEYS, where)
    entries = table.get("service", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where} needs [[microservices.service]] entries, one per service (name, start, ...)")
    services = tuple(_service(entry, i, where) for i, entry in enumerate(entries, 1))
    names = [s.name for s in services]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ConfigError(f"{where}: two services are called {duplicate!r}")
    ports = [s.port for s in services if s.port is not None]
    shared = next((p for p in ports if ports.count(p) > 1), None)
    if shared is not None:
        raise ConfigError(f"{where}: two services are given port {shared}")
    gateway = _text(table.get("gateway"), f"{where} gateway")
    if gateway is None:
        raise ConfigError(f'{where} gateway must name the service requests go through, e.g. gateway = "gateway"')
    if gateway not in names:
        raise ConfigError(f"{where} gateway {gateway!r} is not one of the services ({', '.join(names)})")
    if len(services) < 2:
        raise ConfigError(f"{where} lists only the gateway: add the services behind it")
    stop = _text(table.get("stop"), f"{where} stop")
    if stop is not None and (stop not in names or stop == gateway):
        raise ConfigError(f"{where} stop {stop!r} must name a service other than the gateway")
    return MicroservicesConfig(
        gateway=gateway,
        stop=stop,
        ready_timeout_s=_timeout(table.get("ready_timeout"), f"{where} ready_timeout"),
        services=services,
    )


def _service(entry: Any, index: int, where: str) -> MicroService:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} service #{index} must be a table")
    name = entry.get("name")
    named = isinstance(name, str) and bool(_NAME.match(name))
    here = f"{where} service {name!r}" if named else f"{where} service #{index}"
    _known(entry, SERVICE_KEYS, here)
    if not isinstance(name, str) or not named:
        raise ConfigError(f'{here} name must be letters, digits, "-" or "_", starting with a letter, e.g. "orders"')
    start = _text(entry.get("start"), f"{here} start")
    if start is None:
        raise ConfigError(f'{here} start must be the command that starts it, e.g. start = "node src/server.js"')
    return MicroService(
        name=name,
        start=start,
        cwd=_cwd(entry.get("cwd"), f"{here} cwd"),
        port=_port(entry.get("port"), f"{here} port"),
        health=_health(entry.get("health"), f"{here} health"),
        route=_health(entry.get("route"), f"{here} route"),
    )


def _known(value: Any, keys: tuple[str, ...], where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {', '.join(unknown)} (known: {', '.join(keys)})")
    return value
