"""What to send: the scenario mix and the open-model schedule, checked and (de)serialised as JSON."""

from __future__ import annotations

import base64
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Request:
    """One entry of the scenario mix: picked for each send with probability weight / sum of weights."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    weight: float = 1.0

    @property
    def name(self) -> str:
        """E.g. 'GET /tasks': the key of per-request figures."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """An open-model load: `users` keep-alive connections, each starting a request every `pacing_s`.

    User i starts at i * pacing_s / users (staggered), so requests leave evenly spaced at
    users / pacing_s per second whatever the service does. Refuses a base_url that is not loopback.
    """

    base_url: str
    requests: tuple[Request, ...]
    users: int = 100
    pacing_s: float = 1.0
    warmup_s: float = 3.0
    duration_s: float = 20.0
    timeout_s: float = 5.0
    max_requests: int = 20_000
    cpu: int | None = None
    max_lag_ms: float = 5.0
    seed: int = 0  # seeds each user's pick from the mix, so a run is reproducible

    def __post_init__(self) -> None:
        loopback_address(self.base_url)
        if not self.requests:
            raise ValueError("a load plan needs at least one request")
        if any(r.weight < 0 or not math.isfinite(r.weight) for r in self.requests):
            raise ValueError("request weights must be finite and >= 0")
        if sum(r.weight for r in self.requests) <= 0:
            raise ValueError("at least one request needs a positive weight")
        if any(not r.path.startswith("/") for r in self.requests):
            raise ValueError("request paths must start with '/'")
        for name in ("users", "pacing_s", "duration_s", "timeout_s", "max_requests", "max_lag_ms"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if not (self.warmup_s >= 0 and math.isfinite(self.warmup_s)):
            raise ValueError(f"warmup_s must be >= 0, not {self.warmup_s!r}")

    @property
    def offered_rps(self) -> float:
        """Requests per second the schedule asks for."""
        return self.users / self.pacing_s

    def definition(self) -> str:
        """The load in words, for reports."""
        return (
            f"{self.users} virtual users, each with its own keep-alive connection, each starting a request "
            f"every {_pacing(self.pacing_s)} s on a fixed schedule (offered {_rate(self.offered_rps)} req/s), "
            f"{self.warmup_s:g} s warm-up then {self.duration_s:g} s measured; "
            "latency timed from the intended send time"
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (bodies as base64)."""
        plan = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "requests"}
        plan["requests"] = [
            {
                "method": r.method,
                "path": r.path,
                "headers": dict(r.headers),
                "body": None if r.body is None else base64.b64encode(r.body).decode("ascii"),
                "weight": r.weight,
            }
            for r in self.requests
        ]
        return plan

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadPlan:
        """The inverse of :meth:`to_json`."""
        requests = tuple(
            Request(
                method=r["method"],
                path=r["path"],
                headers=dict(r.get("headers") or {}),
                body=None if r.get("body") is None else base64.b64decode(r["body"]),
                weight=float(r.get("weight", 1.0)),
            )
            for r in data["requests"]
        )
        return cls(**{**data, "requests": requests})


def loopback_address(base_url: str) -> tuple[str, int]:
    """(host, port) of an http:// URL on this machine's loopback; ValueError for anything else."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"load generation needs an http:// URL with a host, not {base_url!r}")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(f"base_url must be scheme://host:port only, not {base_url!r}")
    host = parts.hostname
    if host != "localhost" and not _is_loopback_ip(host):
        raise ValueError(f"load generation only targets loopback (127.0.0.0/8, ::1, localhost), not {host}")
    return host, parts.port or 80


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pacing(seconds: float) -> str:
    """1 -> '1.0', 0.25 -> '0.25'."""
    return f"{seconds:.1f}" if seconds == int(seconds) else f"{seconds:g}"


def _rate(per_s: float) -> str:
    """100 -> '100', 2.5 -> '2.5'."""
    return f"{per_s:.0f}" if per_s >= 10 else f"{per_s:.2g}"
