"""The `perf.load` probe against small real services: scenario building, the run, cache counters, the checks."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from checks import performance
from grader.facts import FactNotRun
from grader.model import Outcome
from grader.probes import load
from grader.probes.live import Operation
from grader.probes.load import LoadFacts
from tests.live.harness import Reply, api_map, fact_store, judge, python_service

# A small, short load: 10 users each sending every 0.1 s (100 req/s), 0.5 s warm-up, 2 s measured.
SMALL_LOAD = {"load": {"users": 10, "pacing_s": 0.1, "warmup_s": 0.5, "duration_s": 2}}
ITEMS_API = api_map(Operation("GET", "/items"), Operation("GET", "/items/{id}"), Operation("GET", "/health"))


def items_app(method: str, path: str, body: bytes) -> Reply:
    """A list of three items, each readable by id; anything else is 404."""
    if path == "/items":
        return Reply(200, {"data": [{"id": 7}, {"id": 8}, {"id": 9}], "next": None})
    if path in ("/items/7", "/items/8", "/items/9", "/health"):
        return Reply(200, {"id": path.rsplit("/", 1)[-1]})
    return Reply(404, {"error": "not found"})


def test_documented_reads_become_the_scenario_with_real_ids(tmp_path: Path) -> None:
    with python_service(items_app) as live:
        store = fact_store(live, ITEMS_API, tmp_path, load, performance, config=SMALL_LOAD)
        facts = store.get("perf.load")
        assert isinstance(facts, LoadFacts)
        assert facts.scenario == ("GET /items", "GET /items/7", "GET /items/8", "GET /items/9")
        result = facts.result
        assert result.offered_rps == pytest.approx(100.0)
        assert 150 <= result.samples <= 250  # about 2 s at 100 req/s, warm-up left out
        assert result.ok == result.completed
        assert facts.cache is None and "no Redis" in facts.cache_problem
        verdict = judge(store, "perf.concurrency", users=10)
        assert verdict.outcome in (Outcome.PASS, Outcome.NOT_RUN)  # NOT_RUN only if this machine saturated
        assert "100 req/s" in verdict.evidence[2].message or verdict.outcome is Outcome.NOT_RUN


def test_a_request_the_grader_got_wrong_is_left_out_with_a_note(tmp_path: Path) -> None:
    api = api_map(Operation("GET", "/items"), Operation("GET", "/reports/{id}"))
    with python_service(items_app) as live:
        store = fact_store(live, api, tmp_path, load, config=SMALL_LOAD)
        facts = store.get("perf.load")
    assert isinstance(facts, LoadFacts)
    assert facts.scenario == ("GET /items",)
    assert any("GET /reports/{id}" in note and "no id" in note for note in facts.notes)


def test_configured_requests_are_used_and_a_404_among_them_is_left_out(tmp_path: Path) -> None:
    config = {"load": {**SMALL_LOAD["load"], "requests": ["GET /items/8", "GET /nowhere"]}}
    with python_service(items_app) as live:
        facts = fact_store(live, ITEMS_API, tmp_path, load, config=config).get("perf.load")
    assert isinstance(facts, LoadFacts)
    assert facts.scenario == ("GET /items/8",)
    assert any("left out GET /nowhere: it answered 404" in note for note in facts.notes)


def test_nothing_to_load_is_not_run_with_the_reason(tmp_path: Path) -> None:
    with python_service(items_app) as live:
        outcome = fact_store(live, api_map(Operation("GET", "/health")), tmp_path, load).get("perf.load")
    assert isinstance(outcome, FactNotRun)
    assert "no request to load the service with" in outcome.reason


def test_cache_counters_on_metrics_give_the_hit_rate_of_the_run(tmp_path: Path) -> None:
    lookups = itertools.count()

    def app(method: str, path: str, body: bytes) -> Reply:
        if path == "/metrics":
            seen = next(lookups) * 100  # each scrape sees 100 more lookups: 75 hits, 25 misses
            text = "".join(
                f'app_cache_lookups_total{{result="{kind}"}} {count}\n'
                for kind, count in (("hit", seen * 3 // 4), ("miss", seen // 4))
            )
            return Reply(200, text, content_type="text/plain; version=0.0.4")
        return items_app(method, path, body)

    with python_service(app) as live:
        store = fact_store(live, ITEMS_API, tmp_path, load, performance, config=SMALL_LOAD)
        facts = store.get("perf.load")
        assert isinstance(facts, LoadFacts) and facts.cache is not None
        assert (facts.cache.hits, facts.cache.misses) == (75, 25)
        assert "app_cache_lookups_total" in facts.cache.source
        verdict = judge(store, "perf.cache_hit_rate")
    assert verdict.outcome is Outcome.PASS and verdict.value == 75.0


def test_a_service_that_stalls_fails_the_latency_check(tmp_path: Path) -> None:
    """Every request to /slow takes 300 ms: p95 is over a 200 ms limit whatever the generator does."""

    def app(method: str, path: str, body: bytes) -> Reply:
        if path == "/slow":
            time.sleep(0.3)
            return Reply(200, {"ok": True})
        return items_app(method, path, body)

    config = {"load": {"users": 5, "pacing_s": 0.5, "warmup_s": 0.5, "duration_s": 2, "requests": ["GET /slow"]}}
    with python_service(app) as live:
        store = fact_store(live, ITEMS_API, tmp_path, load, performance, config=config)
        verdict = judge(store, "perf.latency_p95", users=5)
    assert verdict.outcome in (Outcome.FAIL, Outcome.NOT_RUN)
    if verdict.outcome is Outcome.FAIL:
        assert verdict.value is not None and verdict.value >= 300
