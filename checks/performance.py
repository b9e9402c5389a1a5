"""Performance checks: load testing documented, and latency, concurrency and caching measured under load."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader.facts import Facts
from grader.model import Distribution, Evidence, Location, Verdict
from grader.plugin import check
from grader.probes.load import LoadFacts
from grader.probes.loadtest_docs import LoadTestArtifacts


@check(
    "perf.load_test_documented",
    title="A load test script exists and its results are documented",
    requires=("loadtest.files",),
    remediation="Commit the load test you ran (e.g. `loadtest/k6.js` for k6, a `locustfile.py`, an Artillery "
    "YAML or an autocannon script) and a document (e.g. `docs/load-testing.md` or a README section) giving the "
    "scenario, the number of users or the rate, and the measured results: p95/p99 latency in ms, requests per "
    "second and the error rate.",
)
def load_test_documented(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Looks for k6/Locust/Artillery/autocannon scripts and a document that reports measured figures."""
    found = facts.get("loadtest.files", LoadTestArtifacts)
    evidence = [Evidence(f"{s.tool} load test", Location(s.path)) for s in found.scripts]
    with_figures = [d for d in found.docs if d.figure]
    evidence += [Evidence(f"reports {d.figure!r}", Location(d.path, d.line)) for d in with_figures]
    evidence += [
        Evidence("mentions load testing but reports no figure", Location(d.path)) for d in found.docs if not d.figure
    ]
    if found.scripts and with_figures:
        return Verdict.passed(
            f"{len(found.scripts)} load test script(s); results in {with_figures[0].path}", evidence=tuple(evidence)
        )
    if found.scripts:
        return Verdict.failed(
            "a load test script exists but no document reports its results", score=0.5, evidence=tuple(evidence)
        )
    if with_figures:
        return Verdict.failed(
            "results are documented but the load test script is not in the repository",
            score=0.5,
            evidence=tuple(evidence),
        )
    return Verdict.failed(
        "no load test script (k6, Locust, Artillery, autocannon) and no documented results", evidence=tuple(evidence)
    )


def _inconclusive(load: LoadFacts) -> Verdict | None:
    """A run the generator could not keep on schedule says nothing about the service."""
    result = load.result
    if not result.saturated:
        return None
    return Verdict.not_run(
        f"inconclusive: load generator saturated ({result.saturation_reason})", evidence=_run_evidence(load)
    )


def _short_of_users(load: LoadFacts, options: Mapping[str, Any]) -> Verdict | None:
    """A run with fewer users than the criterion names cannot judge it."""
    wanted = int(options["users"])
    if load.users >= wanted:
        return None
    return Verdict.failed(
        f"the load run had {load.users} users (grade.toml [load] users); the criterion asks for {wanted}",
        evidence=_run_evidence(load),
    )


def _run_evidence(load: LoadFacts) -> tuple[Evidence, ...]:
    """How the load was defined, where it ran, and how well the generator kept its schedule."""
    r = load.result
    evidence = [
        Evidence(f"load: {r.definition}"),
        Evidence(f"scenario: {', '.join(load.scenario)}"),
        Evidence(f"offered {r.offered_rps:.1f} req/s, achieved {r.achieved_rps:.1f} req/s ({r.samples:,} measured)"),
        Evidence(
            f"generator self-check: send lag p99 {r.send_lag_ms_p99:.1f} ms, event-loop lag p99 "
            f"{r.loop_lag_ms_p99:.1f} ms, CPU {r.cpu_fraction:.0%}; {load.placement}"
        ),
    ]
    return (*evidence, *(Evidence(note) for note in load.notes))


def _latency_score(p95: float, limit: float) -> float:
    """Partial credit: full at the limit, falling linearly to 0 at twice the limit."""
    return max(0.0, min(1.0, 2.0 - p95 / limit))


@check(
    "perf.latency_p95",
    title="API response time (p95) under the limit at the phase's load",
    requires=("perf.load",),
    defaults={"max_ms": 200.0, "users": 100},
    remediation="Find the slow requests in the evidence (per-request p95). Cache hot reads (e.g. Redis "
    "cache-aside with a TTL), add indexes for the queries they run, avoid N+1 queries, and never block the "
    "event loop (no synchronous crypto, compression or large JSON work in a request).",
)
def latency_p95(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """p95 of all measured requests (timed from their intended send time) against `max_ms`, with its error band."""
    load = facts.get("perf.load", LoadFacts)
    early = _inconclusive(load) or _short_of_users(load, options)
    if early:
        return early
    r, limit = load.result, float(options["max_ms"])
    if r.completed == 0:
        return Verdict.failed("no request completed during the load run", evidence=_errors_evidence(load))
    p95 = r.percentiles_ms["p95"]
    low, high = r.p95_band_ms
    chart = Distribution("ms", tuple(r.cdf), threshold=limit, quantile=0.95)
    evidence = (
        Evidence(
            "p50 {p50:.1f} ms, p90 {p90:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {max:.1f} ms".format(
                **r.percentiles_ms
            ),
            distribution=chart,
        ),
        Evidence(f"p95 error band {low:.1f}-{high:.1f} ms (95% confidence, widened by the generator's own lag)"),
        *_slowest_requests(load),
        *_run_evidence(load),
    )
    measured = {"value": round(p95, 1), "threshold": limit, "unit": "ms", "evidence": evidence}
    if low <= limit <= high:
        where = "under" if p95 <= limit else "over"
        return Verdict.warned(
            f"p95 {p95:.1f} ms is {where} the {limit:g} ms limit but within the measurement's error band "
            f"({low:.1f}-{high:.1f} ms): too close to call",
            score=_latency_score(p95, limit),
            **measured,
        )
    if p95 <= limit:
        return Verdict.passed(f"p95 {p95:.1f} ms at {r.offered_rps:.0f} req/s (limit {limit:g} ms)", **measured)
    return Verdict.failed(
        f"p95 {p95:.1f} ms at {r.offered_rps:.0f} req/s is over the {limit:g} ms limit",
        score=_latency_score(p95, limit),
        **measured,
    )


def _slowest_requests(load: LoadFacts, count: int = 5) -> list[Evidence]:
    ranked = sorted(load.result.per_request.items(), key=lambda item: item[1][1], reverse=True)
    return [
        Evidence(f"{name}: p95 {p95:.1f} ms over {n:,} requests" + (f", {errors:,} errors" if errors else ""))
        for name, (n, p95, errors) in ranked[:count]
    ]


def _errors_evidence(load: LoadFacts) -> tuple[Evidence, ...]:
    """Responses by status and transport errors by kind, worst first."""
    r = load.result
    by_status = [
        Evidence(
            f"HTTP {status}: {count:,}" + (" (rate limited: raise the limit for grading)" if status == 429 else "")
        )
        for status, count in sorted(r.status_counts.items())
        if status >= 400
    ]
    by_kind = [Evidence(f"{kind}: {count:,}") for kind, count in sorted(r.errors.items(), key=lambda kv: -kv[1])]
    return (*by_status, *by_kind, *_run_evidence(load))


@check(
    "perf.concurrency",
    title="Handles the phase's concurrent users: few errors, throughput keeps up",
    requires=("perf.load",),
    defaults={"users": 100, "max_error_rate": 0.01, "min_throughput_ratio": 0.95},
    remediation="Look at the error breakdown: 5xx under load usually means an exhausted database pool, an "
    "unhandled rejection or a crash; timeouts mean a blocked event loop or missing indexes; 429s mean your rate "
    "limiter throttled the grader (raise it for grading with grade.toml [service] env). Size the database pool, "
    "keep handlers non-blocking, and cache hot reads.",
)
def concurrency(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Error rate (HTTP >= 400, timeouts, transport errors) and achieved vs offered rate at `users` users."""
    load = facts.get("perf.load", LoadFacts)
    early = _inconclusive(load) or _short_of_users(load, options)
    if early:
        return early
    r = load.result
    measured = r.completed + sum(r.errors.values())
    error_rate = (measured - r.ok) / measured if measured else 1.0
    ratio = r.achieved_rps / r.offered_rps if r.offered_rps else 0.0
    max_errors, min_ratio = float(options["max_error_rate"]), float(options["min_throughput_ratio"])
    errors_ok, rate_ok = error_rate <= max_errors, ratio >= min_ratio
    evidence = (
        Evidence(f"{measured - r.ok:,} of {measured:,} requests failed ({error_rate:.2%}; limit {max_errors:.0%})"),
        Evidence(f"achieved {ratio:.0%} of the offered rate ({r.achieved_rps:.1f} of {r.offered_rps:.1f} req/s)"),
        *_errors_evidence(load),
    )
    measured_value = {"value": round(error_rate * 100, 2), "threshold": max_errors * 100, "unit": "%"}
    summary = f"{load.users} users: {error_rate:.2%} errors, {ratio:.0%} of the offered rate achieved"
    if errors_ok and rate_ok:
        return Verdict.passed(summary, evidence=evidence, **measured_value)
    return Verdict.failed(summary, score=0.5 * errors_ok + 0.5 * rate_ok, evidence=evidence, **measured_value)


@check(
    "perf.cache_hit_rate",
    title="Cache hit rate during the load run",
    requires=("perf.load",),
    defaults={"min_rate": 0.6},
    remediation="Cache the reads the load repeats (cache-aside: look up the key, on a miss read the database "
    "and set the key with a TTL), build the key from the request alone (not a timestamp), and invalidate on "
    "writes. Declare Redis in grade.toml ([services] redis = true) so the grader can measure it.",
)
def cache_hit_rate(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Keyspace hits / (hits + misses) over the load run, from Redis INFO stats or the service's counters."""
    load = facts.get("perf.load", LoadFacts)
    minimum = float(options["min_rate"])
    if load.cache is None:
        return Verdict.not_run(f"the grader cannot observe a cache: {load.cache_problem}")
    cache = load.cache
    evidence = (
        Evidence(f"{cache.hits:,} hits, {cache.misses:,} misses during the load run, from {cache.source}"),
        *_run_evidence(load),
    )
    if cache.hit_rate is None:
        return Verdict.failed("no cache lookup during the load run: the reads are not cached", evidence=evidence)
    rate = cache.hit_rate
    measured = {"value": round(rate * 100, 1), "threshold": minimum * 100, "unit": "%", "evidence": evidence}
    summary = f"hit rate {rate:.1%} over {cache.hits + cache.misses:,} lookups (needs > {minimum:.0%})"
    if rate > minimum:
        return Verdict.passed(summary, **measured)
    return Verdict.failed(summary, score=rate / minimum if minimum else 0.0, **measured)
