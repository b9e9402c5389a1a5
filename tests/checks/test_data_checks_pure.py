"""The data checks (query time, N+1, background jobs) on hand-built facts, and the pure parts of their probes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from checks.data import background_jobs, n_plus_one, query_time
from grader.errors import ConfigError
from grader.facts import Facts, FactStore, ProbeContext
from grader.model import Outcome, Verdict
from grader.plugin import ProbeSpec
from grader.probes.api_requests import PageSize, new_item, page_size, parameter_value, required_query
from grader.probes.datastores import RedisKeyspace, Statement, StatementSnapshot, safe_url
from grader.probes.db_probes import ListMeasure, ListSample, NPlusOneFacts, QueryStats
from grader.probes.jobs import JobsFacts, JobStatus, QueueCounts
from grader.probes.jobs_config import JobsConfig, parse_jobs_config
from grader.probes.live import ApiMap, Exchange, Operation, settle_live_probes
from grader.probes.openapi import list_operations
from grader.probes.service import reachable_datastores
from grader.probes.service_config import ServiceConfig, parse_service_config
from grader.project_config import ProjectConfig


def run(check: Callable[[Facts, Mapping[str, Any]], Verdict], fact_id: str, fact: object, **options: Any) -> Verdict:
    """Call a check on one fact with its default options (overridden by `options`)."""
    spec = check.__grade_check__  # type: ignore[attr-defined]
    return check(Facts({fact_id: fact}), {**spec.defaults, **options})


def ex(method: str, url: str, status: int | None, body: str = "") -> Exchange:
    return Exchange(method, url, {}, None, status, {"Content-Type": "application/json"}, body, 3.0)


def texts(verdict: Verdict) -> str:
    return "\n".join(e.message for e in verdict.evidence)


# datastores: snapshots and their differences


def test_a_statement_snapshot_difference_keeps_what_ran_in_between() -> None:
    earlier = StatementSnapshot((Statement(1, "SELECT 1", 10, 50.0, 9.0), Statement(2, "SELECT $1", 4, 8.0, 3.0)))
    later = StatementSnapshot(
        (
            Statement(1, "SELECT 1", 12, 70.0, 9.0),  # 2 more calls, no new maximum
            Statement(2, "SELECT $1", 4, 8.0, 3.0),  # did not run
            Statement(3, "INSERT", 1, 2.5, 2.5),  # new
            Statement(4, "UPDATE", 0, 0.0, 0.0),  # known, never run
        )
    )
    ran = later - earlier
    by_id = {s.queryid: s for s in ran.statements}
    assert set(by_id) == {1, 3}
    assert by_id[1] == Statement(1, "SELECT 1", 2, 20.0, None) and by_id[1].mean_ms == 10.0
    assert by_id[3].max_ms == 2.5 and ran.calls == 3
    risen = StatementSnapshot((Statement(1, "SELECT 1", 11, 80.0, 30.0),)) - earlier
    assert risen.statements[0].max_ms == 30.0  # a new maximum happened in between: it is known
    assert [s.queryid for s in (later - earlier).slowest()] == [1, 3]


def test_redis_keyspace_differences_and_hit_rate() -> None:
    delta = RedisKeyspace(130, 40) - RedisKeyspace(100, 30)
    assert delta == RedisKeyspace(30, 10) and delta.lookups == 40 and delta.hit_rate == 0.75
    assert RedisKeyspace(5, 5) - RedisKeyspace(5, 5) == RedisKeyspace(0, 0)
    assert RedisKeyspace(0, 0).hit_rate is None


def test_urls_in_messages_never_show_the_password() -> None:
    assert safe_url("postgresql://app:s3cret@127.0.0.1:5432/app") == "postgresql://app:***@127.0.0.1:5432/app"
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


# perf.query_time


def stats(*statements: Statement) -> QueryStats:
    return QueryStats(statements, "PostgreSQL: a throwaway one the grader started", ())


def test_query_time_passes_when_every_mean_is_under_the_threshold_and_says_when_close() -> None:
    verdict = run(query_time, "perf.queries", stats(Statement(1, "SELECT * FROM products", 10, 850.0, 95.0)))
    assert verdict.outcome is Outcome.PASS and verdict.value == 85.0 and verdict.threshold == 100
    assert "close to the threshold" in verdict.summary
    assert "mean 85.0 ms, slowest 95.0 ms over 10 call(s): SELECT * FROM products" in texts(verdict)


def test_query_time_fails_with_partial_credit_and_lists_the_slow_statements() -> None:
    slow = Statement(1, "SELECT *\n  FROM products WHERE name ILIKE $1", 4, 1000.0, 300.0)
    fine = [Statement(i, f"SELECT {i}", 1, 1.0, 1.0) for i in range(2, 5)]
    verdict = run(query_time, "perf.queries", stats(slow, *fine))
    assert verdict.outcome is Outcome.FAIL and verdict.score == 0.75 and verdict.value == 250.0
    assert "1 of 4 statement(s) took 100 ms or more on average" in verdict.summary
    assert "mean 250.0 ms, slowest 300.0 ms over 4 call(s): SELECT * FROM products WHERE name ILIKE $1" in texts(
        verdict
    )
    assert run(query_time, "perf.queries", stats(slow), max_ms=400).outcome is Outcome.PASS


def test_query_time_warns_when_only_a_single_call_was_slow() -> None:
    spike = Statement(1, "SELECT * FROM orders", 20, 200.0, 150.0)  # mean 10 ms, once 150 ms
    verdict = run(query_time, "perf.queries", stats(spike))
    assert verdict.outcome is Outcome.WARN and "1 took longer at least once" in verdict.summary


def test_query_time_is_not_run_when_the_service_ran_no_statement() -> None:
    verdict = run(query_time, "perf.queries", stats())
    assert verdict.outcome is Outcome.NOT_RUN and "DATABASE_URL" in verdict.summary


# perf.n_plus_one


def sample(size: int, items: int, statements: dict[str, int]) -> ListSample:
    queries = sum(statements.values())
    counts = tuple(sorted(statements.items(), key=lambda kv: -kv[1]))
    return ListSample(f"/products?limit={size}", items, queries, counts, ex("GET", f"/products?limit={size}", 200))


LIST = "SELECT * FROM products ORDER BY id LIMIT $1"
CATEGORY = "SELECT * FROM categories WHERE id = $1"


def test_n_plus_one_fails_on_a_statement_run_once_per_item_and_shows_it() -> None:
    measure = ListMeasure("/products", (sample(5, 5, {LIST: 1, CATEGORY: 5}), sample(20, 20, {LIST: 1, CATEGORY: 20})))
    verdict = run(n_plus_one, "perf.n_plus_one", NPlusOneFacts((measure,)))
    assert verdict.outcome is Outcome.FAIL and verdict.value == 1.0 and verdict.unit == "queries per item"
    assert verdict.summary.startswith("GET /products ran 6 statement(s) for 5 item(s) and 21 for 20")
    assert f"called 5 then 20 time(s) per request: {CATEGORY}" in texts(verdict)


def test_n_plus_one_passes_a_constant_count_and_tolerates_a_little_noise() -> None:
    joined = "SELECT p.*, c.name FROM products p JOIN categories c ON c.id = p.category_id LIMIT $1"
    measure = ListMeasure("/products", (sample(5, 5, {joined: 1}), sample(20, 20, {joined: 1, "BEGIN": 1})))
    verdict = run(n_plus_one, "perf.n_plus_one", NPlusOneFacts((measure,)))
    assert verdict.outcome is Outcome.PASS, verdict.summary
    assert verdict.summary == "GET /products: 1 then 2 statement(s) for 5 then 20 items"
    assert run(n_plus_one, "perf.n_plus_one", NPlusOneFacts((measure,)), max_growth=0.05).outcome is Outcome.FAIL


def test_n_plus_one_is_not_run_without_a_measurable_list() -> None:
    stuck = ListMeasure(
        "/tags",
        (sample(5, 3, {LIST: 1}), sample(20, 3, {LIST: 1})),
        problem="the list did not return more items and no item could be created",
        exchanges=(ex("POST", "/tags", 422, '{"error":"name taken"}'),),
    )
    verdict = run(n_plus_one, "perf.n_plus_one", NPlusOneFacts((stuck,)))
    assert verdict.outcome is Outcome.NOT_RUN and "/tags: the list did not return more items" in verdict.summary
    assert verdict.evidence[0].detail is not None and "POST /tags" in verdict.evidence[0].detail
    none = run(n_plus_one, "perf.n_plus_one", NPlusOneFacts((), "no list endpoint found"))
    assert none.outcome is Outcome.NOT_RUN and none.summary.endswith("no list endpoint found")


# jobs.background


def queue(**counts: int) -> QueueCounts:
    base = dict.fromkeys(
        ("waiting", "active", "delayed", "completed", "failed", "counter", "added_events", "completed_events"), 0
    )
    return QueueCounts("bull:notifications", **{**base, "failed_events": 0, **counts})


def jobs(*after: QueueCounts) -> JobsFacts:
    return JobsFacts("queues", (ex("POST", "/products", 201),), 10.0, (), after, source="Redis: throwaway")


@pytest.mark.parametrize(
    ("counts", "outcome", "summary"),
    [
        ({"added_events": 3, "completed_events": 3}, Outcome.PASS, "3 job(s) completed, none left waiting"),
        ({"completed": 2, "waiting": 1}, Outcome.WARN, "but 1 still waiting or active after 10 s"),
        ({"waiting": 4, "added_events": 4}, Outcome.FAIL, "4 job(s) waiting, none processed after 10 s (no worker?)"),
        ({"failed": 2}, Outcome.FAIL, "every one failed"),
        ({"delayed": 2}, Outcome.WARN, "2 job(s) delayed"),
        ({"counter": 5}, Outcome.PASS, "5 job(s) added and none left waiting (completed jobs are not kept)"),
        ({}, Outcome.FAIL, "exist but no job was ever added"),
    ],
)
def test_jobs_verdict_from_the_queue_counts(counts: dict[str, int], outcome: Outcome, summary: str) -> None:
    verdict = run(background_jobs, "jobs.background", jobs(queue(**counts)))
    assert verdict.outcome is outcome and summary in verdict.summary, verdict.summary
    assert "queue bull:notifications:" in texts(verdict)
    assert "POST /products -> 201: sent to enqueue work" in texts(verdict)


def test_jobs_fail_without_any_queue_and_the_worst_queue_decides() -> None:
    verdict = run(background_jobs, "jobs.background", jobs())
    assert verdict.outcome is Outcome.FAIL and verdict.summary.startswith("no job queue found in Redis")
    stuck = QueueCounts("bull:emails", 3, 0, 0, 0, 0, 3, 0, 0, 0)
    mixed = run(background_jobs, "jobs.background", jobs(queue(completed=1), stuck))
    assert mixed.outcome is Outcome.FAIL and mixed.summary.startswith("bull:emails: 3 job(s) waiting")


@pytest.mark.parametrize(
    ("status", "outcome", "summary"),
    [
        (JobStatus("7", "completed", "done", None, 3), Outcome.PASS, "job 7 done within 2.0 s"),
        (JobStatus("7", "failed", "failed", None, 1), Outcome.FAIL, "job 7 failed"),
        (JobStatus("7", "pending", "waiting", None, 9), Outcome.FAIL, "job 7 was still 'waiting' after 2 s"),
        (JobStatus(None, "unknown", None, None), Outcome.FAIL, "did not answer with a job id"),
        (JobStatus("7", "unknown", None, ex("GET", "/jobs/7", 404), 1), Outcome.FAIL, "could not be read"),
    ],
)
def test_jobs_followed_on_a_status_path(status: JobStatus, outcome: Outcome, summary: str) -> None:
    facts = JobsFacts("status", (ex("POST", "/reports", 202),), 2.0, status=status)
    verdict = run(background_jobs, "jobs.background", facts)
    assert verdict.outcome is outcome and summary in verdict.summary, verdict.summary


# grade.toml: [jobs] and [services] postgres_url / redis_url


def test_jobs_config_parses_and_defaults() -> None:
    config = parse_jobs_config(
        {"jobs": {"enqueue": "post /reports/:kind", "body": {"a": 1}, "status": "/jobs/{id}", "timeout_s": 5}}
    )
    assert config == JobsConfig(("POST", "/reports/{kind}"), {"a": 1}, "/jobs/{id}", 5.0)
    assert config.wait_s == 5.0
    assert parse_jobs_config({}).wait_s == 10.0 and parse_jobs_config({"jobs": {"enqueue": "POST /x"}}).status is None
    assert JobsConfig(("POST", "/r"), status="/jobs/{id}").wait_s == 30.0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("nope", "[jobs] must be a table"),
        ({"queue": "x"}, "[jobs] has unknown key(s) queue"),
        ({"enqueue": "/reports"}, '[jobs] enqueue must look like "POST /reports"'),
        ({"enqueue": "POST /r", "body": "{}"}, "[jobs] body must be a table"),
        ({"enqueue": "POST /r", "status": "/jobs"}, "[jobs] status must be a path with {id} in it"),
        ({"status": "/jobs/{id}"}, "[jobs] status needs enqueue too"),
        ({"timeout_s": 0}, "[jobs] timeout_s must be a number of seconds above 0"),
    ],
)
def test_bad_jobs_settings_are_one_line_config_errors(table: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_jobs_config({"jobs": table}, "proj/grade.toml")
    assert message in str(caught.value) and str(caught.value).startswith("proj/grade.toml: ")


@pytest.mark.parametrize(
    ("key", "url", "message"),
    [
        ("postgres_url", "mysql://127.0.0.1/app", "must start with postgres:// or postgresql://"),
        ("postgres_url", "postgresql://db.example.com/app", "must point at this machine"),
        (
            "redis_url",
            "redis://10.0.0.5:6379",
            "must point at this machine (127.0.0.1, localhost or ::1), not 10.0.0.5",
        ),
        ("redis_url", "redis://127.0.0.1:99999", "is not a valid URL"),
        ("redis_url", "", "must be a non-empty string"),
    ],
)
def test_database_urls_must_be_local_and_of_the_right_kind(key: str, url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_service_config({"services": {key: url}}, "proj/grade.toml")
    assert f"proj/grade.toml: [services] {key}" in str(caught.value) and message in str(caught.value)


def test_reachable_datastores_prefer_the_throwaway_ones() -> None:
    config = parse_service_config(
        {"services": {"postgres_url": "postgres://me:pw@localhost:5432/app", "redis_url": "redis://[::1]:6379/1"}}
    )
    mine = reachable_datastores({}, config)
    assert (mine.postgres_url, mine.redis_url) == (config.postgres_url, config.redis_url)
    assert mine.source == "PostgreSQL: grade.toml [services] postgres_url; Redis: grade.toml [services] redis_url"
    started = reachable_datastores({"DATABASE_URL": "postgresql://grade@127.0.0.1:5/postgres"}, config)
    assert started.postgres_url == "postgresql://grade@127.0.0.1:5/postgres"
    assert started.source.startswith("PostgreSQL: a throwaway one the grader started; Redis: grade.toml")
    none = reachable_datastores({}, ServiceConfig())
    assert none.postgres_url is None and none.redis_url is None and none.source.startswith("none:")


# the requests the probes build from the OpenAPI document

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/products": {
            "get": {
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}},
                    {"$ref": "#/components/parameters/Sort"},
                ],
                "responses": {"200": {"description": "ok"}},
            },
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name", "categoryId", "sku"],
                                "properties": {
                                    "name": {"type": "string", "maxLength": 12},
                                    "categoryId": {"type": "integer"},
                                    "sku": {"type": "string", "pattern": "^[A-Z]+$"},
                                },
                            }
                        }
                    }
                },
                "responses": {"201": {"description": "ok"}},
            },
        },
        "/products/search": {
            "parameters": [{"name": "q", "in": "query", "required": True, "example": "lamp", "schema": {}}],
            "get": {
                "parameters": [{"name": "exact", "in": "query", "required": True, "schema": {"type": "boolean"}}],
                "responses": {"200": {"description": "ok"}},
            },
        },
    },
    "components": {
        "parameters": {"Sort": {"name": "sort", "in": "query", "required": True, "schema": {"enum": ["asc"]}}}
    },
}
API = ApiMap("test", SPEC, True, (), list_operations(SPEC), resource="/products")


def test_query_parameters_come_from_the_document_with_refs_and_path_level_ones() -> None:
    products, search = Operation("GET", "/products"), Operation("GET", "/products/search")
    assert page_size(API, products) == PageSize("limit", 1, 50)
    assert PageSize("limit", 1, 50).clamp(100) == 50 and PageSize("size", 5, None).clamp(2) == 5
    assert page_size(API, search) is None
    assert required_query(API, products) == {"sort": "asc"}
    assert required_query(API, search) == {"q": "lamp", "exact": "true"}
    assert parameter_value({"name": "n", "schema": {"type": "integer", "minimum": 3}}) == "3"


def test_new_items_are_unique_and_reuse_the_references_of_a_listed_item() -> None:
    notes: list[str] = []
    like = {"id": 9, "name": "Lamp", "category": {"id": 4, "name": "Garden"}}
    first, second = (new_item(API, "/products", like, notes) for _ in range(2))
    assert first["categoryId"] == 4 and first["name"] != second["name"] and len(first["name"]) <= 12
    assert first["sku"] == second["sku"]  # a patterned string is left as the schema made it
    assert new_item(API, "/products", {"categoryId": 2}, notes)["categoryId"] == 2
    assert new_item(API, "/products", None, notes)["categoryId"] == 1


# the order live probes settle in


def test_settling_probes_run_in_stages_without_waiting_for_each_other(tmp_path: Path) -> None:
    finished: list[str] = []

    def settling(probe_id: str) -> ProbeSpec:
        def run(ctx: ProbeContext) -> str:
            settle_live_probes(ctx, probe_id)
            finished.append(probe_id)
            return probe_id

        return ProbeSpec(probe_id, run, 30, "stand-in")

    def quiet_first(ctx: ProbeContext) -> str:  # how perf.load waits: for every probe but the perf./jobs. ones
        for other in ctx.store.started():
            if other != "perf.load" and not other.startswith(("perf.", "jobs.")):
                ctx.store.get(other)
        finished.append("perf.load")
        return "perf.load"

    def plain(ctx: ProbeContext) -> str:
        time.sleep(0.2)
        finished.append("http.json")
        return "http.json"

    specs = {s.id: s for s in map(settling, ("persistence", "perf.n_plus_one", "jobs.background", "perf.queries"))}
    specs |= {"http.json": ProbeSpec("http.json", plain, 30, "stand-in")}
    specs |= {"perf.load": ProbeSpec("perf.load", quiet_first, 30, "stand-in")}
    store = FactStore(specs, lambda s: ProbeContext(tmp_path, ProjectConfig(), tmp_path, s, 30.0))
    store.start(*reversed(specs))
    done = threading.Thread(target=lambda: [store.get(p) for p in specs], daemon=True)
    done.start()
    done.join(timeout=20)
    assert not done.is_alive(), f"deadlock: finished only {finished}"
    assert finished[0] == "http.json" and finished[-1] == "perf.queries"
    assert finished.index("persistence") < finished.index("perf.load")  # perf.load waits for stage 1 itself
