"""The phase 2/5 sample projects run for real: PostgreSQL, Redis, migrations, seed data, cache and BullMQ jobs.

express-perf-good caches product pages, lists in one query and processes its jobs; express-perf-flawed
never hits its cache, lists with N+1 queries and leaves its jobs waiting. Each service gets its own
throwaway PostgreSQL and Redis (grader.probes.local_deps) and runs `node src/server.js` in its own
process group. Timings (slow search, event-loop stalls, p95) are not asserted here: see the fixtures'
docs and bench/.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from grader.probes.local_deps import postgres_bindir, start_postgres, start_redis
from grader.probes.ports import free_port
from grader.sandbox import kill_group, scrubbed_env, spawn
from tests.conftest import require, require_tool
from tests.live.conftest import wait_until_answering

START_TIMEOUT_S = 120.0  # npm-free start, but the flawed project seeds 300,000 rows first
JOB_TIMEOUT_S = 15.0
NEW_PRODUCT = {"name": "Blue Desk Lamp", "price": 29.99, "categoryId": 3}


@dataclass(frozen=True, slots=True)
class RunningFixture:
    """A sample project serving on loopback, with the databases it was given."""

    http: httpx.Client
    database_url: str
    redis: redis.Redis
    pg_log: Path  # PostgreSQL's server log, where log_statement = 'all' writes every query

    def statements_during(self, action: Callable[[], object]) -> list[str]:
        """The SQL statements the service ran while `action` ran (from the server log)."""
        offset = self.pg_log.stat().st_size
        action()
        with self.pg_log.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
        entries = re.split(r"\n(?![ \t])", text)  # a multi-line statement continues on indented lines
        return [e for e in entries if "LOG:  statement: " in e or "LOG:  execute " in e]

    def keyspace(self) -> tuple[int, int]:
        """Redis (keyspace_hits, keyspace_misses) so far."""
        stats = self.redis.info("stats")
        return int(stats["keyspace_hits"]), int(stats["keyspace_misses"])


@pytest.fixture(scope="module")
def run_fixture(
    installed_fixture: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], RunningFixture]]:
    """Start a sample project with its own PostgreSQL and Redis; everything is stopped after the module."""
    require(postgres_bindir() is not None, "PostgreSQL (initdb, postgres, pg_isready) is not installed")
    require_tool("redis-server")
    require_tool("node")
    with ExitStack() as stack:

        def start(name: str) -> RunningFixture:
            app = installed_fixture(name)
            workdir = tmp_path_factory.mktemp(f"{name}-run")
            env: dict[str, str] = {}
            for starter in (start_postgres, start_redis):
                started = starter(workdir, stack.callback)
                assert started is not None
                env.update(started.env)
            pg_log = _log_every_statement(env["DATABASE_URL"])
            port = free_port()
            env.update(PORT=str(port), HOST="127.0.0.1", HOME=str(workdir))
            with (workdir / "service.log").open("wb") as out:
                proc = spawn(["node", "src/server.js"], cwd=app, env=scrubbed_env(env), stdout=out)
            stack.callback(_stop, proc)
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_answering(base + "/health", proc, timeout_s=START_TIMEOUT_S)
            except RuntimeError as exc:
                raise AssertionError(f"{exc}\n{(workdir / 'service.log').read_text(errors='replace')}") from None
            http = stack.enter_context(httpx.Client(base_url=base, timeout=30.0, trust_env=False))
            client = redis.Redis.from_url(env["REDIS_URL"])
            stack.callback(client.close)
            return RunningFixture(http, env["DATABASE_URL"], client, pg_log)

        yield start


def _stop(proc: subprocess.Popen[bytes]) -> None:
    kill_group(proc.pid)
    proc.wait()


def _log_every_statement(database_url: str) -> Path:
    """Turn on log_statement = 'all' and return the server log (start_postgres writes it beside the data folder)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("SELECT pg_reload_conf()")
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    log = Path(row[0]).parent / "postgresql.log"
    assert log.is_file(), log
    return log


@pytest.fixture(scope="module")
def good(run_fixture: Callable[[str], RunningFixture]) -> RunningFixture:
    return run_fixture("express-perf-good")


@pytest.fixture(scope="module")
def flawed(run_fixture: Callable[[str], RunningFixture]) -> RunningFixture:
    return run_fixture("express-perf-flawed")


def documented_example_id(service: RunningFixture) -> int:
    """The example id of GET /products/{id} in the served OpenAPI document (what the load probe uses)."""
    spec = service.http.get("/api-docs.json").json()
    item = spec["paths"]["/products/{id}"]
    params = item.get("parameters") or item["get"]["parameters"]
    return int(next(p["example"] for p in params if p["name"] == "id"))


def assert_product_api_works(service: RunningFixture, search: str) -> dict[str, object]:
    """List, get, search and create work on the seeded catalog; returns the created product."""
    page = service.http.get("/products")
    assert page.status_code == 200, page.text
    products = page.json()["data"]
    assert len(products) == 20 and all(p["category"]["name"] for p in products)
    assert len(service.http.get("/products", params={"limit": 100}).json()["data"]) == 100

    example = documented_example_id(service)
    one = service.http.get(f"/products/{example}")
    assert one.status_code == 200 and one.json()["id"] == example and one.json()["category"]["id"] == 3
    assert service.http.get("/products/999999999").status_code == 404

    found = service.http.get("/products/search", params={"q": search})
    assert found.status_code == 200 and found.json()["data"]
    assert all(search in p["name"].lower() for p in found.json()["data"])
    assert service.http.get("/products/search").status_code == 400

    assert service.http.post("/products", json={"name": "", "price": -1}).status_code == 400
    created = service.http.post("/products", json=NEW_PRODUCT)
    assert created.status_code == 201, created.text
    body: dict[str, object] = created.json()
    assert body["name"] == NEW_PRODUCT["name"] and body["price"] == NEW_PRODUCT["price"]
    return body


def keyspace_delta(service: RunningFixture, product_id: int, requests: int = 50) -> tuple[int, int]:
    """Redis (hits, misses) added by `requests` GETs of one product."""
    hits, misses = service.keyspace()
    for _ in range(requests):
        assert service.http.get(f"/products/{product_id}").status_code == 200
    after_hits, after_misses = service.keyspace()
    return after_hits - hits, after_misses - misses


def notified_at(service: RunningFixture, product_id: object) -> object:
    with psycopg.connect(service.database_url) as conn:
        row = conn.execute("SELECT notified_at FROM products WHERE id = %s", (product_id,)).fetchone()
    assert row is not None
    return row[0]


def test_good_migrates_seeds_and_serves_the_catalog(good: RunningFixture) -> None:
    with psycopg.connect(good.database_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        counts = conn.execute("SELECT (SELECT count(*) FROM categories), (SELECT count(*) FROM products)").fetchone()
    assert versions == [
        "001_create_catalog.sql",
        "002_soft_delete_and_notifications.sql",
        "003_product_indexes.sql",
    ]
    assert counts is not None and counts[0] == 20 and counts[1] >= 5000
    assert_product_api_works(good, search="green de")
    cursor = good.http.get("/products", params={"limit": 5}).json()["nextCursor"]
    second = good.http.get("/products", params={"limit": 5, "cursor": cursor}).json()["data"]
    assert [p["id"] for p in second] == [6, 7, 8, 9, 10]


def test_good_worker_processes_the_product_created_job(good: RunningFixture) -> None:
    product = good.http.post("/products", json=NEW_PRODUCT).json()
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while notified_at(good, product["id"]) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert notified_at(good, product["id"]) is not None
    assert good.redis.zcard("bull:notifications:completed") >= 1
    assert good.redis.llen("bull:notifications:wait") == 0
    assert good.http.get(f"/products/{product['id']}").json()["notifiedAt"] is not None


def test_good_product_page_is_served_from_the_cache(good: RunningFixture) -> None:
    hits, misses = keyspace_delta(good, product_id=7)
    assert hits > misses, (hits, misses)
    assert hits >= 45
    assert good.http.get("/products/7").headers["x-cache"] == "HIT"


def test_good_list_is_one_query_whatever_the_page_size(good: RunningFixture) -> None:
    for limit in (5, 50):
        statements = good.statements_during(partial(good.http.get, "/products", params={"limit": limit}))
        assert len(statements) == 1, statements
        assert "JOIN categories" in statements[0]


def test_flawed_serves_the_catalog(flawed: RunningFixture) -> None:
    with psycopg.connect(flawed.database_url) as conn:
        count = conn.execute("SELECT count(*) FROM products").fetchone()
    assert count is not None and count[0] >= 300_000
    assert_product_api_works(flawed, search="lamp")


def test_flawed_job_stays_waiting_without_a_worker(flawed: RunningFixture) -> None:
    before = flawed.redis.llen("bull:notifications:wait")
    assert flawed.http.post("/products", json=NEW_PRODUCT).status_code == 201
    time.sleep(2)  # long enough for any worker to pick the job up
    assert flawed.redis.llen("bull:notifications:wait") == before + 1
    assert flawed.redis.zcard("bull:notifications:completed") == 0
    assert flawed.redis.llen("bull:notifications:active") == 0


def test_flawed_cache_never_hits(flawed: RunningFixture) -> None:
    hits, misses = keyspace_delta(flawed, product_id=7)
    assert hits == 0
    assert misses >= 50


def test_flawed_list_runs_one_query_per_product(flawed: RunningFixture) -> None:
    for limit in (5, 50):
        statements = flawed.statements_during(partial(flawed.http.get, "/products", params={"limit": limit}))
        assert len(statements) == limit + 1, statements
        assert sum("FROM categories WHERE id" in s for s in statements) == limit
