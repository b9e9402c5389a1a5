"""End to end: the Express + PostgreSQL + Redis + BullMQ projects graded on their data checks.

Phase 2 judges query times and N+1 queries from pg_stat_statements of the throwaway database the
grader starts; phase 5 judges whether jobs enqueued through the API are processed (BullMQ in the
throwaway Redis) and the load run: p95 latency and errors at 100 users, and the Redis cache hit
rate meanwhile. The good project passes each; the flawed one (an N+1 list, an unindexed search,
no worker, a cache that never hits, an endpoint that stalls) fails each with evidence. On a
machine too busy for the load generator to keep its schedule, the latency and concurrency
checks must say "inconclusive" (not run), never fail the good project.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from grader.api import grade
from grader.model import CheckResult, GradeRequest, Outcome
from grader.probes.local_deps import postgres_bindir
from tests.conftest import require, require_tool
from tests.test_e2e_fixtures import results

pytestmark = pytest.mark.slow

PHASE_2 = ("service.start", "perf.query_time", "perf.n_plus_one")
PHASE_5 = ("service.start", "jobs.background", "perf.cache_hit_rate")
LOAD = ("perf.latency_p95", "perf.concurrency")


@pytest.fixture(scope="module")
def graded(built_fixture: Callable[[str], Path]) -> dict[str, dict[str, CheckResult]]:
    """Each perf fixture graded at phase 2 and phase 5 (only the data checks), results by check id."""
    require_tool("npm")
    require_tool("redis-server")
    require(postgres_bindir() is not None, "PostgreSQL is not installed")
    out: dict[str, dict[str, CheckResult]] = {}
    for name in ("express-perf-good", "express-perf-flawed"):
        repo = built_fixture(name)
        by_id: dict[str, CheckResult] = {}
        for phase, only in ((2, PHASE_2), (5, (*PHASE_5, *LOAD))):
            by_id |= results(grade(GradeRequest(path=repo, phase=phase, only=only)))
        out[name] = by_id
    return out


def evidence(result: CheckResult) -> str:
    return "\n".join(e.message for e in result.evidence)


def test_the_good_perf_project_passes_the_data_checks(graded: dict[str, dict[str, CheckResult]]) -> None:
    by_id = graded["express-perf-good"]
    outcomes = {cid: by_id[cid].outcome for cid in (*PHASE_2, *PHASE_5)}
    assert set(outcomes.values()) == {Outcome.PASS}, {cid: by_id[cid].summary for cid in outcomes}
    assert by_id["perf.n_plus_one"].summary.startswith("GET /products: 1 then 1 statement(s)")
    assert by_id["perf.query_time"].value is not None and by_id["perf.query_time"].value < 100
    assert "throwaway" in evidence(by_id["perf.query_time"])
    assert by_id["jobs.background"].summary.startswith("bull:notifications: ")


def test_the_flawed_perf_project_fails_each_with_evidence(graded: dict[str, dict[str, CheckResult]]) -> None:
    by_id = graded["express-perf-flawed"]
    assert by_id["service.start"].outcome is Outcome.PASS, by_id["service.start"].summary
    plus_one = by_id["perf.n_plus_one"]
    assert plus_one.outcome is Outcome.FAIL, plus_one.summary
    assert plus_one.value is not None and plus_one.value >= 1.0
    assert "time(s) per request: SELECT * FROM categories WHERE id = $1" in evidence(plus_one)
    timing = by_id["perf.query_time"]
    assert timing.outcome is Outcome.FAIL, timing.summary
    assert timing.value is not None and timing.value >= 100
    assert "ILIKE" in timing.evidence[0].message
    jobs = by_id["jobs.background"]
    assert jobs.outcome is Outcome.FAIL, jobs.summary
    assert "waiting, none processed" in jobs.summary and "(no worker?)" in jobs.summary


def inconclusive(result: CheckResult) -> bool:
    """The load generator could not keep its schedule on this machine: no verdict either way."""
    return result.outcome is Outcome.NOT_RUN and result.summary.startswith("inconclusive: load generator saturated")


def test_the_good_perf_project_is_fast_under_load(graded: dict[str, dict[str, CheckResult]]) -> None:
    by_id = graded["express-perf-good"]
    for check_id in LOAD:
        result = by_id[check_id]
        assert result.outcome is Outcome.PASS or inconclusive(result), (check_id, result.summary)
    latency = by_id["perf.latency_p95"]
    assert "100 virtual users" in evidence(latency)
    assert any(e.distribution is not None for e in latency.evidence)
    cache = by_id["perf.cache_hit_rate"]
    assert cache.value is not None and cache.value > 60


def test_the_flawed_perf_project_stalls_and_never_hits_its_cache(graded: dict[str, dict[str, CheckResult]]) -> None:
    by_id = graded["express-perf-flawed"]
    latency = by_id["perf.latency_p95"]
    assert latency.outcome is Outcome.FAIL or inconclusive(latency), latency.summary
    if latency.outcome is Outcome.FAIL:
        assert latency.value is not None and latency.value > 200
    cache = by_id["perf.cache_hit_rate"]
    assert cache.outcome is Outcome.FAIL and cache.value == 0.0, cache.summary
    assert "Redis INFO stats" in evidence(cache)
