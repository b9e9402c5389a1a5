"""Loaded by locust beside a learner's locustfile: writes locust's final stats as JSON for the grader.

Locust's CSV files are rewritten once a second and can miss the last second; this writes the
complete figures when locust quits, to the file named by $GRADE_LOCUST_STATS.
"""

from __future__ import annotations

import json
import os
from typing import Any

from locust import events
from locust.env import Environment
from locust.stats import StatsEntry, StatsError

_ENVIRONMENT: list[Environment] = []


@events.init.add_listener
def _keep(environment: Environment, **_kwargs: Any) -> None:
    _ENVIRONMENT.append(environment)


@events.quit.add_listener
def _dump(**_kwargs: Any) -> None:
    target = os.environ.get("GRADE_LOCUST_STATS")
    if not target or not _ENVIRONMENT:
        return
    environment = _ENVIRONMENT[0]
    stats = environment.stats
    data = {
        "total": _entry(stats.total),
        "entries": [_entry(e) for e in stats.entries.values() if e.num_requests or e.num_failures],
        "errors": [
            {"method": e.method, "name": e.name, "error": StatsError.parse_error(e.error), "occurrences": e.occurrences}
            for e in stats.errors.values()
        ],
        "cpu_warning": bool(getattr(environment.runner, "cpu_warning_emitted", False)),
    }
    with open(target, "w", encoding="utf-8") as file:
        json.dump(data, file)


def _entry(entry: StatsEntry) -> dict[str, Any]:
    return {
        "method": entry.method or "",
        "name": entry.name,
        "num_requests": entry.num_requests,
        "num_failures": entry.num_failures,
        "max_ms": entry.max_response_time,
        "response_times": {str(ms): n for ms, n in entry.response_times.items()},
        "start_time": entry.start_time,
        "last_request_timestamp": entry.last_request_timestamp,
    }
