"""Service checks: the service starts and answers; what it stores survives a restart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader.facts import Facts
from grader.model import Evidence, Verdict
from grader.plugin import check
from grader.probes.live import ServiceFacts
from grader.probes.persistence import PersistenceFacts


@check(
    "service.start",
    title="The service starts and answers",
    requires=("service",),
    remediation="Make the service start with one command from a clean clone: a `start` script in package.json "
    "(or, in Python, a FastAPI/Flask app module), listening on the port given in the PORT environment variable "
    "(`process.env.PORT`, `os.environ['PORT']`) and answering GET /health. If it needs more, say so in grade.toml "
    '(`grade init` writes a commented one): `[service] start = "npm run start:prod"`, `health = "/api/health"`, '
    '`env = { JWT_SECRET = "dev-only" }`, and `[services] postgres = true` for a database.',
)
def service_start(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Starts the service as grade.toml says (or as detected) on a free port and waits until it answers HTTP."""
    service = facts.get("service", ServiceFacts)
    assumed = tuple(Evidence(f"assumed: {note}") for note in service.assumed)
    if service.running:
        evidence = (Evidence(service.how), Evidence(f"answering at {service.base_url}"), *assumed)
        return Verdict.passed(f"it answers at {service.base_url}", evidence=evidence)
    evidence = (Evidence(service.reason, detail=service.log_tail or None), Evidence(service.how), *assumed)
    return Verdict.failed(f"the service did not start: {service.reason}", evidence=evidence)


@check(
    "api.persistence",
    title="Data created survives a restart of the service",
    requires=("api", "persistence"),
    remediation="Keep the data in a database, not in the process's memory: connect to PostgreSQL through "
    "DATABASE_URL (with `[services] postgres = true` in grade.toml the grader starts a throwaway one and sets "
    "DATABASE_URL, PGHOST, PGPORT, PGUSER and PGDATABASE). Make start-up safe to repeat (migrations that can run "
    "twice, no lock or pid file left behind) so the service starts again after a restart.",
)
def api_persistence(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Creates an item in the main collection through the API, restarts the service and reads the item back."""
    result = facts.get("persistence", PersistenceFacts)
    evidence = tuple(Evidence(exchange.summary, detail=exchange.detail) for exchange in result.exchanges)
    if result.status == "kept":
        return Verdict.passed(result.reason, evidence=evidence)
    if result.status == "lost":
        return Verdict.failed(result.reason, evidence=evidence)
    if result.status == "restart_failed":
        return Verdict.failed(
            result.reason,
            evidence=(*evidence, Evidence("the service log after the restart", detail=result.log_tail or None)),
        )
    return Verdict.not_run(f"not run: {result.reason}", evidence=evidence)
