"""Microservices checks (phase 8): services that build alone, a gateway, a queue, tracing and fault tolerance.

The repository is read by `micro.repo`; `micro.live` starts the services grade.toml
[microservices] lists and exercises the gateway. Tracing is judged from the code alone (at most
a warning) when the services could not be started; fault tolerance needs them running.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks.api import exchange_evidence
from grader.facts import Facts
from grader.model import Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.live import Exchange
from grader.probes.micro_live import FaultTest, MicroLive, RouteCall
from grader.probes.micro_scan import Finding
from grader.probes.microservices import MicroRepo, ServiceUnit

STATIC_GATEWAY_SCORE = 0.5  # a gateway in the code, but the services would not start to show it routing
STATIC_TRACING_SCORE = 0.5  # tracing set up in every service, but no trace seen crossing the gateway
HANDLED_SCORE = 0.75  # fault tolerance: the stopped service's route answered fast, with an error or a fallback
SURVIVED_SCORE = 0.25  # fault tolerance: the other services still answered
SLOW_SCORE = 0.25  # fault tolerance: the stopped service's route answered, but slowly or with a 4xx


def finding_evidence(found: Finding, prefix: str = "") -> Evidence:
    """A finding as evidence pointing at its file and line."""
    who = f"{found.service}: " if found.service else ""
    return Evidence(f"{prefix}{who}{found.text}", Location(found.path, found.line) if found.path else None)


@check(
    "micro.services",
    title="At least {min_services} services besides the gateway, each buildable on its own",
    requires=("micro.repo",),
    defaults={"min_services": 3},
    threshold="min_services",
    remediation="Give each service its own folder (e.g. `services/users`, `services/orders`) with its own "
    "package.json and lockfile (or requirements.txt / pyproject.toml) and a Dockerfile, so it builds and deploys "
    "alone. Never import another service's source (`require('../../orders/src/...')`): call its HTTP API or "
    "consume its events, and copy what must be shared into a versioned package.",
)
def micro_services(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Counts the service folders (own manifest or Dockerfile, compose builds) and whether each builds alone."""
    repo = facts.get("micro.repo", MicroRepo)
    minimum = int(options["min_services"])
    apps = repo.application_services
    evidence = [_service_evidence(s) for s in apps]
    evidence += [finding_evidence(f, "imports a sibling's source: ") for s in apps for f in s.sibling_imports]
    if repo.gateway is not None and repo.gateway.service is not None:
        evidence.append(Evidence(f"{repo.gateway.service} is the gateway (not counted)"))
    evidence += [Evidence(note) for note in repo.notes]
    kw: dict[str, Any] = {"value": len(apps), "threshold": minimum, "unit": "services", "evidence": tuple(evidence)}
    if not apps:
        none = (
            "no services found: no folder has its own package.json, pyproject.toml, requirements.txt or "
            "Dockerfile, and no compose service is built from a folder"
        )
        return Verdict.failed("only the gateway was found" if repo.services else none, **kw)
    alone = [s for s in apps if s.independent]
    names = ", ".join(s.name for s in apps)
    summary = f"{len(apps)} service(s) besides the gateway ({names}); {len(alone)} of them build on their own"
    if len(apps) >= minimum and len(alone) == len(apps):
        return Verdict.passed(summary, **kw)
    score = 0.5 * min(len(apps) / minimum, 1.0) + 0.5 * len(alone) / len(apps)
    if len(apps) < minimum:
        summary += f" (at least {minimum} expected)"
    return Verdict.failed(summary, score=round(score, 3), **kw)


def _service_evidence(service: ServiceUnit) -> Evidence:
    parts = [p for p in (service.manifest, service.lockfile, service.dockerfile) if p]
    own = ", ".join(p.rsplit("/", 1)[-1] for p in parts) or "no manifest"
    if not service.builds_alone:
        own += ": no lockfile and no Dockerfile, so it does not build the same way twice on its own"
    where = service.manifest or service.dockerfile or service.folder or "."
    return Evidence(f"{service.name} ({service.folder or 'project root'}): {own}", Location(where))


@check(
    "micro.gateway",
    title="An API gateway routes requests to the services",
    requires=("micro.repo", "micro.live"),
    remediation="Put one entry point in front of the services: a gateway service (Express with "
    "http-proxy-middleware, `@fastify/http-proxy`, Express Gateway) or nginx/Traefik/Kong configuration that routes "
    "`/users/*` to the users service, `/orders/*` to the orders service, and so on, reading each service's URL "
    "from the environment (e.g. `USERS_URL`). List the services in grade.toml [microservices] so the grader can "
    "send requests through it (set a service's `route` when its gateway path is not `/<name>`).",
)
def micro_gateway(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Finds the gateway in the code or configuration; when the services ran, sends each service's route through it."""
    repo = facts.get("micro.repo", MicroRepo)
    live = facts.get("micro.live", MicroLive)
    if repo.gateway is None:
        return Verdict.failed(
            "no API gateway found: no service uses a proxy library or is named gateway, and no nginx, Traefik, "
            "Kong or Envoy configuration routes requests"
        )
    found = finding_evidence(repo.gateway, "gateway: ")
    if live.status == "not_run":
        return Verdict.passed(
            f"gateway found ({repo.gateway.text}); its routes were not exercised: {live.reason}", evidence=(found,)
        )
    if live.status == "not_started":
        return Verdict.warned(
            f"gateway found, but its routes could not be exercised: {_why_not_live(live)}",
            score=STATIC_GATEWAY_SCORE,
            evidence=(found,),
        )
    routed = [r for r in live.routes if r.routed]
    evidence = (found, *(exchange_evidence(r.exchange, f"route of {r.service}") for r in live.routes))
    summary = f"the gateway ({live.gateway}) answered {len(routed)} of {len(live.routes)} services' routes below 400"
    if len(routed) == len(live.routes):
        return Verdict.passed(summary, evidence=evidence)
    share = len(routed) / len(live.routes) if live.routes else 0.0
    return Verdict.failed(summary, score=round(0.25 + 0.75 * share, 3), evidence=evidence)


@check(
    "micro.queue",
    title="Services communicate through a message queue",
    requires=("micro.repo",),
    remediation="Send events between services through a broker: one service publishes (e.g. orders publishes "
    "`order.created` with amqplib `channel.publish`, kafkajs `producer.send` or BullMQ `queue.add`) and another "
    "consumes them (`channel.consume`, a kafkajs consumer, a BullMQ `Worker`). Declare the broker (RabbitMQ, "
    "Kafka, NATS, Redis) as a service in docker-compose.yml.",
)
def micro_queue(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Looks for broker client libraries in the services: one service producing and another consuming."""
    repo = facts.get("micro.repo", MicroRepo)
    producers = [f for f in repo.queue if f.kind == "producer"]
    consumers = [f for f in repo.queue if f.kind == "consumer"]
    evidence = [finding_evidence(f, f"{f.kind}: ") for f in repo.queue]
    evidence += [finding_evidence(b, "broker: ") for b in repo.brokers]
    pair = next(((p, c) for p in producers for c in consumers if p.service != c.service), None)
    if pair is not None:
        if not repo.brokers:
            evidence.append(Evidence("no broker service (RabbitMQ, Kafka, NATS, Redis...) in a compose file"))
        return Verdict.passed(
            f"{pair[0].service} produces messages and {pair[1].service} consumes them", evidence=tuple(evidence)
        )
    if producers or consumers:
        who = ", ".join(sorted({f"{f.service} ({f.kind})" for f in repo.queue}))
        return Verdict.failed(
            f"a broker client is used ({who}), but no service consumes what another produces",
            score=0.5,
            evidence=tuple(evidence),
        )
    if repo.brokers:
        return Verdict.failed(
            "a broker runs in compose, but no service uses a client library to publish or consume",
            score=0.25,
            evidence=tuple(evidence),
        )
    return Verdict.failed(
        "no message queue: no service uses a broker client (amqplib, kafkajs, BullMQ, NATS, SQS, pika, Celery...)"
    )


@check(
    "micro.tracing",
    title="Trace context is propagated across services",
    requires=("micro.repo", "micro.live"),
    remediation="Initialise OpenTelemetry first thing in every service (`@opentelemetry/sdk-node` with "
    "`getNodeAutoInstrumentations()`, or `opentelemetry-instrument` for Python), so the W3C `traceparent` header "
    "is forwarded on every outgoing call; or forward `traceparent` yourself and log the trace id with each "
    "request. The grader sends a `traceparent` through the gateway and looks for its trace id in the logs of the "
    "services behind it (or in the response).",
)
def micro_tracing(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Finds tracing set-up in each service; when the services ran, follows a trace id through the gateway."""
    repo = facts.get("micro.repo", MicroRepo)
    live = facts.get("micro.live", MicroLive)
    names = [s.name for s in repo.services]
    traced = {f.service for f in repo.tracing if f.kind in ("opentelemetry", "w3c")}
    evidence = [finding_evidence(f) for f in repo.tracing]
    evidence += [
        Evidence(f"{s.name}: no tracing set-up (neither OpenTelemetry nor W3C traceparent)", Location(s.folder or "."))
        for s in repo.services
        if s.name not in traced
    ]
    static = f"tracing set up in {len(traced & set(names))} of {len(names)} services"
    if live.status == "ran":
        calls = [r for r in live.routes if r.routed]
        evidence = [_trace_evidence(r) for r in live.routes] + evidence
        crossed = [r for r in calls if r.propagated]
        summary = f"{static}; a trace id sent through the gateway reached the service behind it on "
        summary += f"{len(crossed)} of {len(calls)} routes"
        if calls and len(crossed) == len(calls):
            return Verdict.passed(summary, evidence=tuple(evidence))
        if crossed:
            return Verdict.warned(summary, score=round(len(crossed) / len(calls), 3), evidence=tuple(evidence))
        live_note = "a trace id sent through the gateway reached no service behind it"
    else:
        live_note = f"judged from the code only: the live part was not run ({_why_not_live(live)})"
    share = len(traced & set(names)) / len(names) if names else 0.0
    if names and share == 1.0:
        return Verdict.warned(f"{static}; {live_note}", score=STATIC_TRACING_SCORE, evidence=tuple(evidence))
    return Verdict.failed(
        f"{static}; {live_note}", score=round(STATIC_TRACING_SCORE * share, 3), evidence=tuple(evidence)
    )


def _trace_evidence(call: RouteCall) -> Evidence:
    if call.seen_in:
        note = f"trace id {call.trace_id} logged by {', '.join(call.seen_in)}"
    elif call.echoed:
        note = f"trace id {call.trace_id} echoed in the response"
    else:
        note = f"trace id {call.trace_id} not in any log of the services behind the gateway, nor in the response"
    return exchange_evidence(call.exchange, note)


@check(
    "micro.fault_tolerance",
    title="With one service down, the gateway answers within {max_ms} ms and the others keep working",
    requires=("micro.live",),
    defaults={"max_ms": 2000},
    threshold="max_ms",
    remediation="Give every call to another service a timeout (`fetch(url, { signal: AbortSignal.timeout(1000) })`, "
    "axios `timeout`, `proxyTimeout` in http-proxy-middleware) and answer 503 with a JSON error (or a cached "
    "fallback) when it fails, instead of waiting forever or crashing; a circuit breaker (opossum) stops calling a "
    "service that keeps failing. List the services in grade.toml [microservices] so the grader can stop one.",
)
def micro_fault_tolerance(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Stops one service behind the gateway and times the gateway's answer on its route; checks the other routes."""
    live = facts.get("micro.live", MicroLive)
    max_ms = float(options["max_ms"])
    if live.status == "not_run":
        return Verdict.not_run(f"not run: {live.reason}")
    if live.status == "not_started":
        return Verdict.failed(
            f"could not be tested: {live.reason}", evidence=(Evidence("its log", detail=live.log_tail or None),)
        )
    fault = live.fault
    if fault is None:
        evidence = tuple(exchange_evidence(r.exchange, f"route of {r.service}") for r in live.routes)
        return Verdict.failed(f"could not be tested: {live.fault_reason}", evidence=evidence)
    call = fault.call
    handled = call.status is not None and call.elapsed_ms <= max_ms and _error_or_fallback(call.status)
    broken = [e for e in fault.others if e.status is None or e.status >= 400]
    score = (HANDLED_SCORE if handled else SLOW_SCORE if call.status is not None else 0.0) + (
        0.0 if broken else SURVIVED_SCORE
    )
    summary = f"with {fault.stopped} stopped, {_fault_answer(call, fault.wait_s, max_ms)}; {_others(broken, fault)}"
    evidence = (
        exchange_evidence(call, f"{fault.stopped} stopped"),
        *(exchange_evidence(e, "another service") for e in fault.others),
    )
    kw: dict[str, Any] = {"value": round(call.elapsed_ms, 1), "threshold": max_ms, "unit": "ms", "evidence": evidence}
    if handled and not broken:
        return Verdict.passed(summary, **kw)
    return Verdict.failed(summary, score=score, **kw)


def _error_or_fallback(status: int) -> bool:
    """A 5xx error (503, 504...) or a 2xx fallback answer."""
    return status >= 500 or 200 <= status < 300


def _fault_answer(call: Exchange, wait_s: float, max_ms: float) -> str:
    if call.status is None and "Timeout" in (call.error or ""):
        return f"{call.method} {call.url} got no answer within {wait_s:.0f} s (no timeout on the call?)"
    if call.status is None:
        return f"{call.summary}: the gateway itself stopped answering"
    kind = "an error" if call.status >= 500 else "a fallback" if call.status < 300 else "not a 5xx error nor a fallback"
    slow = f", slower than {max_ms:.0f} ms" if call.elapsed_ms > max_ms else ""
    return f"{call.summary} in {call.elapsed_ms:.0f} ms ({kind}{slow})"


def _others(broken: list[Exchange], fault: FaultTest) -> str:
    if broken:
        return f"{len(broken)} of {len(fault.others)} other services' routes failed too"
    if fault.others:
        return f"the other services' routes still answered ({len(fault.others)})"
    return "no other service to check"


def _why_not_live(live: MicroLive) -> str:
    return live.reason if live.status == "not_run" else f"the services did not all start: {live.reason}"
