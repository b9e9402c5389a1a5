"""grade.toml `[load]`: the load run's scenario and size, validated within fixed bounds.

```toml
[load]
users = 100          # virtual users (default 100), each with its own keep-alive connection
pacing_s = 1.0       # each user starts one request every pacing_s seconds (offered rate = users / pacing_s)
warmup_s = 3         # sent but not measured
duration_s = 20      # measured window (at most 120 s)
timeout_s = 5        # a request slower than this counts as a timeout
requests = ["GET /products", "GET /products/1", "GET /products/1"]   # the mix; repeat a line to weigh it
locustfile = "loadtest/locustfile.py"   # run your own Locust scenario instead (percentiles then bucketed)
```

The checks judge the load that was really offered: a run with fewer users than a criterion
asks for cannot pass it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grader.errors import ConfigError

_KEYS = frozenset({"users", "pacing_s", "warmup_s", "duration_s", "timeout_s", "requests", "locustfile"})
_REQUEST = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (/\S*)$")
# (lowest, highest) accepted for each number: a load run stays bounded whatever grade.toml says.
_BOUNDS: Mapping[str, tuple[float, float]] = {
    "users": (1, 2_000),
    "pacing_s": (0.01, 60),
    "warmup_s": (0, 30),
    "duration_s": (1, 120),
    "timeout_s": (0.1, 60),
}


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """How the load probe loads the service; defaults are the phase-5 definition of 100 concurrent users."""

    users: int = 100
    pacing_s: float = 1.0
    warmup_s: float = 3.0
    duration_s: float = 20.0
    timeout_s: float = 5.0
    requests: tuple[tuple[str, str], ...] = ()  # (method, path); empty: built from the documented API
    locustfile: str | None = None


def parse_load_config(raw: Mapping[str, Any], source: str = "grade.toml") -> LoadConfig:
    """Validate `[load]`; ConfigError names the key and the accepted range."""
    table = raw.get("load", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [load] must be a table")
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(f"{source}: [load] has unknown key(s) {', '.join(sorted(unknown))}")
    numbers = {key: _bounded(table[key], key, source) for key in _BOUNDS if key in table}
    if "users" in numbers and numbers["users"] != int(numbers["users"]):
        raise ConfigError(f"{source}: [load] users must be a whole number")
    locustfile = table.get("locustfile")
    if locustfile is not None and (not isinstance(locustfile, str) or not locustfile.strip()):
        raise ConfigError(f"{source}: [load] locustfile must be a path relative to the project")
    defaults = LoadConfig()
    return LoadConfig(
        users=int(numbers.get("users", defaults.users)),
        pacing_s=numbers.get("pacing_s", defaults.pacing_s),
        warmup_s=numbers.get("warmup_s", defaults.warmup_s),
        duration_s=numbers.get("duration_s", defaults.duration_s),
        timeout_s=numbers.get("timeout_s", defaults.timeout_s),
        requests=_requests(table.get("requests", []), source),
        locustfile=locustfile,
    )


def _bounded(value: Any, key: str, source: str) -> float:
    low, high = _BOUNDS[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{source}: [load] {key} must be a number from {low:g} to {high:g}")
    return float(value)


def _requests(value: Any, source: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise ConfigError(f'{source}: [load] requests must be a list like ["GET /tasks", "GET /tasks/1"]')
    parsed = []
    for item in value:
        match = _REQUEST.match(item.strip()) if isinstance(item, str) else None
        if match is None:
            raise ConfigError(f'{source}: [load] requests: {item!r} is not "METHOD /path" (e.g. "GET /tasks")')
        parsed.append((match.group(1), match.group(2)))
    return tuple(parsed)
