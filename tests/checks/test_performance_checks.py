"""The load-based performance checks on hand-built load results (no I/O): thresholds, bands, saturation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from checks.performance import cache_hit_rate, concurrency, latency_p95
from grader.loadgen import LoadResult
from grader.model import Outcome
from grader.probes.load import CacheStats, LoadFacts
from tests.checks.test_api_checks_pure import run


def result(p95: float = 120.0, band: float = 4.0, **overrides: Any) -> LoadResult:
    """A measured run of 100 users at 100 req/s for 20 s with the given p95 and error band half-width."""
    base = LoadResult(
        definition="100 virtual users ... (offered 100 req/s)",
        offered_rps=100.0,
        achieved_rps=99.5,
        sent=2_300,
        completed=2_000,
        ok=2_000,
        status_counts={200: 2_000},
        errors={},
        percentiles_ms={"p50": p95 / 3, "p90": p95 * 0.8, "p95": p95, "p99": p95 * 1.5, "max": p95 * 3},
        p95_band_ms=(p95 - band, p95 + band),
        cdf=((p95 / 3, 0.5), (p95, 0.95), (p95 * 3, 1.0)),
        per_request={"GET /tasks": (1_000, p95 * 1.2, 0), "GET /tasks/1": (1_000, p95 * 0.5, 0)},
        saturated=False,
        saturation_reason="",
        send_lag_ms_p99=0.4,
        loop_lag_ms_p99=0.6,
        cpu_fraction=0.2,
        samples=2_000,
    )
    return replace(base, **overrides)


def facts(load: LoadResult | None = None, users: int = 100, cache: CacheStats | None = None) -> LoadFacts:
    return LoadFacts(
        result=load or result(),
        scenario=("GET /tasks", "GET /tasks/1"),
        users=users,
        cache=cache,
        cache_problem="" if cache else "no Redis the grader can read and no cache hit/miss counters on /metrics",
        placement="generator on CPU 0, service (1 processes) on CPUs 1",
    )


def test_p95_under_the_limit_passes_with_the_distribution_drawn() -> None:
    verdict = run(latency_p95, "perf.load", facts(result(p95=120.0)))
    assert verdict.outcome is Outcome.PASS
    assert (verdict.value, verdict.threshold, verdict.unit) == (120.0, 200.0, "ms")
    chart = next(e.distribution for e in verdict.evidence if e.distribution)
    assert chart.threshold == 200.0 and chart.quantile == 0.95
    assert any("GET /tasks: p95 144.0 ms" in e.message for e in verdict.evidence)  # slowest request first


def test_p95_over_the_limit_fails_with_credit_on_a_curve() -> None:
    verdict = run(latency_p95, "perf.load", facts(result(p95=300.0)))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.score == pytest.approx(0.5)
    assert run(latency_p95, "perf.load", facts(result(p95=450.0))).score == 0.0


@pytest.mark.parametrize(("p95", "score"), [(198.0, 1.0), (203.0, 0.985)])
def test_p95_within_the_error_band_of_the_limit_says_so(p95: float, score: float) -> None:
    verdict = run(latency_p95, "perf.load", facts(result(p95=p95, band=6.0)))
    assert verdict.outcome is Outcome.WARN
    assert "too close to call" in verdict.summary
    assert verdict.score == pytest.approx(score)


def test_a_saturated_generator_is_inconclusive_never_a_fail() -> None:
    saturated = result(p95=900.0, saturated=True, saturation_reason="send lag p99 38 ms > 5 ms")
    for check in (latency_p95, concurrency):
        verdict = run(check, "perf.load", facts(saturated))
        assert verdict.outcome is Outcome.NOT_RUN
        assert verdict.summary.startswith("inconclusive: load generator saturated (send lag p99 38 ms")


def test_a_run_with_fewer_users_than_the_criterion_cannot_pass() -> None:
    for check in (latency_p95, concurrency):
        verdict = run(check, "perf.load", facts(users=10))
        assert verdict.outcome is Outcome.FAIL
        assert "10 users" in verdict.summary and "asks for 100" in verdict.summary


def test_concurrency_passes_with_few_errors_and_full_throughput() -> None:
    verdict = run(concurrency, "perf.load", facts())
    assert verdict.outcome is Outcome.PASS
    assert verdict.value == 0.0


def test_concurrency_counts_rate_limiting_and_timeouts_as_errors() -> None:
    load = result(
        completed=1_950, ok=1_700, status_counts={200: 1_700, 429: 250}, errors={"timeout": 50}, achieved_rps=97.5
    )
    verdict = run(concurrency, "perf.load", facts(load))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.score == 0.5  # the rate kept up, the errors did not
    assert verdict.value == pytest.approx(15.0)
    messages = [e.message for e in verdict.evidence]
    assert any(m.startswith("HTTP 429: 250 (rate limited") for m in messages)
    assert "timeout: 50" in messages


def test_concurrency_fails_when_throughput_falls_behind_the_offered_rate() -> None:
    verdict = run(concurrency, "perf.load", facts(result(achieved_rps=60.0)))
    assert verdict.outcome is Outcome.FAIL
    assert "60% of the offered rate" in verdict.summary


def test_cache_hit_rate_above_the_minimum_passes() -> None:
    verdict = run(cache_hit_rate, "perf.load", facts(cache=CacheStats(900, 100, "Redis INFO stats")))
    assert verdict.outcome is Outcome.PASS
    assert (verdict.value, verdict.threshold, verdict.unit) == (90.0, 60.0, "%")


def test_cache_that_never_hits_fails() -> None:
    verdict = run(cache_hit_rate, "perf.load", facts(cache=CacheStats(0, 2_000, "Redis INFO stats")))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.score == 0.0


def test_no_cache_lookup_at_all_fails_and_no_observable_cache_is_not_run() -> None:
    none = run(cache_hit_rate, "perf.load", facts(cache=CacheStats(0, 0, "Redis INFO stats")))
    assert none.outcome is Outcome.FAIL and "not cached" in none.summary
    unseen = run(cache_hit_rate, "perf.load", facts())
    assert unseen.outcome is Outcome.NOT_RUN
    assert "cannot observe a cache" in unseen.summary
