"""The `[jobs]` table of grade.toml: how to enqueue a background job through the API and follow it.

    [jobs]
    enqueue = "POST /reports"            # the request that enqueues a job
    body = { kind = "daily" }            # its JSON body (default: {})
    status = "/jobs/{id}"                # where the job's state is read ({id}: the id the enqueue answered)
    timeout_s = 30                       # how long the job may take (default 10 without status, 30 with)

Without `status`, the grader watches the job queues in Redis after sending `enqueue` (or, without
`enqueue`, after creating items through the API).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grader.errors import ConfigError
from grader.probes.api_config import HTTP_METHODS, express_to_template

QUEUE_WAIT_S = 10.0  # default wait for queued jobs to be processed (Redis)
STATUS_WAIT_S = 30.0  # default wait for a job's status to say it is done
MAX_WAIT_S = 300.0
_KEYS = ("enqueue", "body", "status", "timeout_s")


@dataclass(frozen=True, slots=True)
class JobsConfig:
    """`[jobs]`: the request that enqueues a job, and where its status is read."""

    enqueue: tuple[str, str] | None = None  # ("POST", "/reports")
    body: Mapping[str, Any] = field(default_factory=dict)
    status: str | None = None  # "/jobs/{id}"
    timeout_s: float | None = None  # None: QUEUE_WAIT_S or STATUS_WAIT_S

    @property
    def wait_s(self) -> float:
        """How long to wait for the job(s) to be processed."""
        return self.timeout_s or (STATUS_WAIT_S if self.status else QUEUE_WAIT_S)


def parse_jobs_config(raw: Mapping[str, Any], source: str = "grade.toml") -> JobsConfig:
    """Parse `[jobs]`; ConfigError (one line) names the bad key."""
    table = raw.get("jobs", {})
    where = f"{source}: [jobs]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {', '.join(unknown)} (known: {', '.join(_KEYS)})")
    body = table.get("body", {})
    if not isinstance(body, Mapping):
        raise ConfigError(f'{where} body must be a table, e.g. body = {{ kind = "daily" }}')
    status = table.get("status")
    if status is not None and (not isinstance(status, str) or not status.startswith("/") or "{id}" not in status):
        raise ConfigError(f'{where} status must be a path with {{id}} in it, e.g. "/jobs/{{id}}"')
    if status is not None and "enqueue" not in table:
        raise ConfigError(f'{where} status needs enqueue too, e.g. enqueue = "POST /reports"')
    return JobsConfig(
        enqueue=_request(table.get("enqueue"), f"{where} enqueue"),
        body=dict(body),
        status=status,
        timeout_s=_seconds(table.get("timeout_s"), f"{where} timeout_s"),
    )


def _request(value: Any, where: str) -> tuple[str, str] | None:
    if value is None:
        return None
    parts = value.split() if isinstance(value, str) else []
    if len(parts) != 2 or parts[0].upper() not in HTTP_METHODS or not parts[1].startswith("/"):
        raise ConfigError(f'{where} must look like "POST /reports", not {value!r}')
    return parts[0].upper(), express_to_template(parts[1])


def _seconds(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_WAIT_S:
        raise ConfigError(f"{where} must be a number of seconds above 0 and at most {MAX_WAIT_S:.0f}")
    return float(value)
