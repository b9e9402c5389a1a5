"""The data checks against real PostgreSQL (pg_stat_statements) and Redis, with small real services.

PostgreSQL and Redis are started once for the module through the grader's own `local_deps`; each
test gets a fresh database (pg_stat_statements is read per database). The shop services are
Python HTTP servers over that database, with an N+1 list and a slow search when flawed; the job
services are Node scripts using the real BullMQ (installed with npm once per session).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import redis

from checks.data import background_jobs, n_plus_one, query_time
from grader.facts import NotRunnable
from grader.model import Outcome
from grader.probes import db_probes, jobs, local_deps
from grader.probes.datastores import pg_statements
from grader.probes.db_probes import EXTRA_ITEMS, NPlusOneFacts
from grader.probes.live import ApiMap, DataStores, LiveService
from grader.probes.local_deps import postgres_bindir, start_postgres, start_redis
from grader.probes.openapi import list_operations
from tests.conftest import require, require_tool
from tests.live.conftest import free_port, wait_until_answering
from tests.live.harness import QuietHandler, Reply, api_map, evidence_text, fact_store, judge, python_service

pytestmark = pytest.mark.slow

SLOW_SEARCH_MS = 150


@dataclass(frozen=True, slots=True)
class Servers:
    postgres: str  # URL of the cluster's `postgres` database
    redis: str


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A real PostgreSQL (pg_stat_statements preloaded) and Redis, as the grader starts them for a service."""
    require(postgres_bindir() is not None, "PostgreSQL (initdb, postgres, pg_isready) is not installed")
    require_tool("redis-server")
    with ExitStack() as stack:
        pg = start_postgres(tmp_path_factory.mktemp("pg"), stack.callback)
        rd = start_redis(tmp_path_factory.mktemp("redis"), stack.callback)
        assert pg is not None and rd is not None
        assert not any("unavailable" in n for n in pg.notes), pg.notes
        yield Servers(pg.env["DATABASE_URL"], rd.env["REDIS_URL"])


def test_postgres_starts_without_pg_stat_statements_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(postgres_bindir() is not None, "PostgreSQL is not installed")
    monkeypatch.setattr(local_deps, "has_pg_stat_statements", lambda _bindir: False)
    with ExitStack() as stack:
        started = start_postgres(tmp_path, stack.callback)
        assert started is not None
        assert started.notes[-1].startswith("query statistics unavailable: pg_stat_statements is not installed")
        with pytest.raises(NotRunnable, match="pg_stat_statements is not enabled"):
            pg_statements(started.env["DATABASE_URL"])


def fresh_database(servers: Servers, *, statistics: bool = True) -> str:
    """A new empty database (with pg_stat_statements unless told otherwise); its URL."""
    name = f"shop_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(servers.postgres, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = servers.postgres.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        if statistics:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("CREATE TABLE categories (id serial PRIMARY KEY, name text NOT NULL)")
        conn.execute(
            "CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL, "
            "category_id integer NOT NULL REFERENCES categories (id))"
        )
        conn.execute("INSERT INTO categories (name) SELECT 'category ' || i FROM generate_series(1, 3) AS i")
    return url


def seed(url: str, products: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO products (name, category_id) SELECT 'product ' || i, 1 + i %% 3 "
            "FROM generate_series(1, %s) AS i",
            (products,),
        )


def shop_handler(url: str, *, flawed: bool) -> type[QuietHandler]:
    """A products API over PostgreSQL; `flawed`: one category query per listed product, and a slow search."""

    class Shop(QuietHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            with psycopg.connect(url, autocommit=True) as conn:
                if parts.path == "/health":
                    self.send_body(200, {"status": "ok"})
                elif parts.path == "/products":
                    limit = int(query.get("limit", 1000))
                    self.send_body(200, {"data": self.products(conn, limit)})
                elif parts.path == "/products/search":
                    sleep = "pg_sleep(%s)" % (SLOW_SEARCH_MS / 1000 if flawed else 0)
                    rows = conn.execute(
                        f"SELECT p.id, p.name FROM products p, {sleep} WHERE p.name LIKE %s ORDER BY p.id LIMIT 20",
                        (query.get("q", "") + "%",),
                    ).fetchall()
                    self.send_body(200, {"data": [{"id": i, "name": n} for i, n in rows]})
                elif parts.path.startswith("/products/"):
                    row = conn.execute("SELECT id, name FROM products WHERE id = %s", (parts.path[10:],)).fetchone()
                    self.send_body(200 if row else 404, {"id": row[0], "name": row[1]} if row else {"error": "no"})
                else:
                    self.send_body(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            with psycopg.connect(url, autocommit=True) as conn:
                row = conn.execute(
                    "INSERT INTO products (name, category_id) VALUES (%s, %s) RETURNING id",
                    (body.get("name"), body.get("categoryId")),
                ).fetchone()
            assert row is not None
            self.send_body(201, {"id": row[0], **body})

        def products(self, conn: psycopg.Connection[Any], limit: int) -> list[dict[str, Any]]:
            if not flawed:
                rows = conn.execute(
                    "SELECT p.id, p.name, c.id, c.name FROM products p JOIN categories c ON c.id = p.category_id "
                    "ORDER BY p.id LIMIT %s",
                    (limit,),
                ).fetchall()
                return [{"id": i, "name": n, "category": {"id": ci, "name": cn}} for i, n, ci, cn in rows]
            items = []
            for i, n, ci in conn.execute(
                "SELECT id, name, category_id FROM products ORDER BY id LIMIT %s", (limit,)
            ).fetchall():
                category = conn.execute("SELECT name FROM categories WHERE id = %s", (ci,)).fetchone()
                items.append({"id": i, "name": n, "category": {"id": ci, "name": category[0] if category else None}})
            return items

    return Shop


def shop_api(*, page_size: bool = True) -> ApiMap:
    """The shop's OpenAPI document as the `api` probe would map it."""
    limit = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}]
    product = {
        "type": "object",
        "required": ["name", "categoryId"],
        "properties": {"name": {"type": "string"}, "categoryId": {"type": "integer", "minimum": 1}},
    }
    ok = {"200": {"description": "ok"}}
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "shop", "version": "1"},
        "paths": {
            "/health": {"get": {"responses": ok}},
            "/products": {
                "get": {"parameters": limit if page_size else [], "responses": ok},
                "post": {"requestBody": {"content": {"application/json": {"schema": product}}}, "responses": ok},
            },
            "/products/search": {
                "get": {
                    "parameters": [{"name": "q", "in": "query", "required": True, "example": "product 1"}],
                    "responses": ok,
                }
            },
            "/products/{id}": {"get": {"responses": ok}},
        },
    }
    return ApiMap("hand-built shop", spec, True, (), list_operations(spec), resource="/products")


@contextlib.contextmanager
def shop(servers: Servers, *, flawed: bool, products: int = 30, statistics: bool = True) -> Iterator[LiveService]:
    url = fresh_database(servers, statistics=statistics)
    seed(url, products)
    with python_service(shop_handler(url, flawed=flawed)) as live:
        live.datastores = DataStores(url, None, "PostgreSQL: a test database")
        yield live


@pytest.mark.parametrize("flawed", [False, True], ids=["good", "flawed"])
def test_query_time_and_n_plus_one_on_a_real_database(servers: Servers, tmp_path: Path, flawed: bool) -> None:
    with shop(servers, flawed=flawed) as live:
        store = fact_store(live, shop_api(), tmp_path, db_probes)
        plus_one = judge(store, n_plus_one)
        timing = judge(store, query_time)
    facts = store.get("perf.n_plus_one")
    assert isinstance(facts, NPlusOneFacts)
    (measure,) = facts.lists
    assert [s.items for s in measure.samples] == [5, 20] and measure.created == 0  # 30 seeded: the page size decides
    text = evidence_text(plus_one)
    if not flawed:
        assert plus_one.outcome is Outcome.PASS, plus_one.summary
        assert plus_one.summary == "GET /products: 1 then 1 statement(s) for 5 then 20 items"
        assert timing.outcome is Outcome.PASS, timing.summary
        assert timing.value is not None and timing.value < 100
        return
    assert plus_one.outcome is Outcome.FAIL and plus_one.value == 1.0, plus_one.summary
    assert plus_one.summary.startswith("GET /products ran 6 statement(s) for 5 item(s) and 21 for 20")
    assert "called 5 then 20 time(s) per request: SELECT name FROM categories WHERE id = $1" in text
    assert "GET /products?limit=5: 5 item(s), 6 statement(s)" in text
    assert timing.outcome is Outcome.FAIL, timing.summary
    assert timing.value is not None and timing.value >= SLOW_SEARCH_MS
    slowest = timing.evidence[0].message
    assert "pg_sleep" in slowest and "over 1 call(s)" in slowest  # the probe read the search itself, once
    sent = store.get("perf.queries").requests
    assert "GET /products/search?q=product+1 -> 200" in [e.summary for e in sent]
    assert any(e.summary.startswith("GET /products/1 -> 200") for e in sent)  # an item path, with a listed id


def test_a_list_without_a_page_size_grows_by_creating_items(servers: Servers, tmp_path: Path) -> None:
    with shop(servers, flawed=True, products=0) as live:
        store = fact_store(live, shop_api(page_size=False), tmp_path, db_probes)
        verdict = judge(store, n_plus_one)
    assert verdict.outcome is Outcome.FAIL, verdict.summary
    assert verdict.summary.startswith(f"GET /products ran 1 statement(s) for 0 item(s) and {EXTRA_ITEMS + 1} for")
    assert f"the grader created {EXTRA_ITEMS} item(s) so the list would return more" in evidence_text(verdict)


def test_without_a_database_or_its_statistics_the_checks_are_not_run(servers: Servers, tmp_path: Path) -> None:
    with python_service(lambda *_: Reply(404, {"error": "not found"})) as live:
        store = fact_store(live, shop_api(), tmp_path, db_probes, jobs)
        for check in (query_time, n_plus_one, background_jobs):
            result = judge(store, check)
            assert result.outcome is Outcome.NOT_RUN, result.summary
            assert "none: set [services] postgres/redis = true in grade.toml" in result.summary
    with shop(servers, flawed=False, statistics=False) as live:
        result = judge(fact_store(live, shop_api(), tmp_path, db_probes), query_time)
    assert result.outcome is Outcome.NOT_RUN and "pg_stat_statements is not enabled in postgresql://" in result.summary
    assert ":***@127.0.0.1" in result.summary  # the password is never shown


# jobs.background: real BullMQ queues in Redis

JOBS_SERVICE = """
const http = require('http');
const { Queue, Worker } = require('bullmq');
const url = new URL(process.env.REDIS_URL);
const connection = { host: url.hostname, port: Number(url.port) };
const queue = new Queue('emails', { connection });
if (process.env.WORKER === '1') {
  new Worker('emails', async (job) => {
    if (job.data.to === 'broken') throw new Error('mail server refused');
    return { sent: job.data.to };
  }, { connection });
}
http.createServer((req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.url === '/health') return send(200, { status: 'ok' });
  if (req.url !== '/messages') return send(404, { error: 'not found' });
  if (req.method === 'GET') return send(200, []);
  let data = '';
  req.on('data', (chunk) => { data += chunk; });
  req.on('end', async () => {
    const body = JSON.parse(data || '{}');
    const job = await queue.add('send', body, { removeOnComplete: process.env.KEEP !== '1', attempts: 1 });
    send(201, { id: job.id, ...body });
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
"""


@pytest.fixture(scope="session")
def bullmq_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the jobs service script and the real bullmq package installed by npm."""
    require_tool("npm")
    app = tmp_path_factory.mktemp("bullmq-app")
    (app / "package.json").write_text('{"name": "jobs-service", "private": true}')
    (app / "server.js").write_text(JOBS_SERVICE)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "bullmq@5"], cwd=app, check=True, capture_output=True, timeout=300
    )
    return app


@pytest.fixture
def jobs_service(bullmq_app: Path, servers: Servers) -> Iterator[Callable[..., LiveService]]:
    """Start the BullMQ service against a flushed Redis; stopped (its whole group) after the test."""
    redis.Redis.from_url(servers.redis).flushall()
    started: list[subprocess.Popen[bytes]] = []

    def start(*, worker: bool, keep: bool = False) -> LiveService:
        port = free_port()
        env = {**os.environ, "PORT": str(port), "REDIS_URL": servers.redis, "WORKER": str(int(worker))}
        proc = subprocess.Popen(
            ["node", "server.js"],
            cwd=bullmq_app,
            env={**env, "KEEP": str(int(keep))},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_until_answering(base + "/health", proc)
        return LiveService(base, managed=True, datastores=DataStores(None, servers.redis, "Redis: a test one"))

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


MESSAGE_API = api_map(
    *list_operations(
        {
            "paths": {
                "/messages": {
                    "get": {"responses": {"200": {"description": "ok"}}},
                    "post": {
                        "requestBody": {
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["to"],
                                        "properties": {"to": {"type": "string", "format": "email"}},
                                    }
                                }
                            }
                        },
                        "responses": {"201": {"description": "ok"}},
                    },
                }
            }
        }
    ),
    resource="/messages",
)


@pytest.mark.parametrize("keep", [False, True], ids=["removed-on-complete", "kept"])
def test_jobs_processed_by_a_bullmq_worker_pass(
    jobs_service: Callable[..., LiveService], tmp_path: Path, keep: bool
) -> None:
    store = fact_store(jobs_service(worker=True, keep=keep), MESSAGE_API, tmp_path, jobs)
    verdict = judge(store, background_jobs)
    assert verdict.outcome is Outcome.PASS, (verdict.summary, evidence_text(verdict))
    assert verdict.summary == "bull:emails: 1 job(s) completed, none left waiting"
    kept = "1 completed, 0 failed kept" if keep else "0 completed, 0 failed kept"
    assert f"queue bull:emails: 0 waiting, 0 active, 0 delayed, {kept}" in evidence_text(verdict)


def test_jobs_without_a_worker_fail_with_the_waiting_count(
    jobs_service: Callable[..., LiveService], tmp_path: Path
) -> None:
    config = {"jobs": {"timeout_s": 1.5}}
    store = fact_store(jobs_service(worker=False), MESSAGE_API, tmp_path, jobs, config=config)
    verdict = judge(store, background_jobs)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.summary.startswith("bull:emails: 1 job(s) waiting, none processed after")
    assert verdict.summary.endswith("s (no worker?)")
    assert "POST /messages -> 201: sent to enqueue work" in evidence_text(verdict)


def test_jobs_that_fail_show_the_reason(jobs_service: Callable[..., LiveService], tmp_path: Path) -> None:
    config = {"jobs": {"enqueue": "POST /messages", "body": {"to": "broken"}}}
    store = fact_store(jobs_service(worker=True), MESSAGE_API, tmp_path, jobs, config=config)
    verdict = judge(store, background_jobs)
    assert verdict.outcome is Outcome.FAIL and verdict.score == 0.5
    assert verdict.summary == "bull:emails: jobs are picked up but every one failed: mail server refused"


def test_no_queue_in_redis_fails(servers: Servers, tmp_path: Path) -> None:
    redis.Redis.from_url(servers.redis).flushall()
    with shop(servers, flawed=False) as live:
        live.datastores = DataStores(None, servers.redis, "Redis: a test one")
        verdict = judge(fact_store(live, shop_api(), tmp_path, jobs), background_jobs)
    assert verdict.outcome is Outcome.FAIL and verdict.summary.startswith("no job queue found in Redis")
    assert "POST /products -> 201: sent to enqueue work" in evidence_text(verdict)


# jobs.background: a documented job status endpoint ([jobs] in grade.toml)


@pytest.mark.parametrize("finishes", [True, False], ids=["completes", "stays-queued"])
def test_a_job_followed_on_its_status_path(tmp_path: Path, finishes: bool) -> None:
    reads: list[str] = []

    def app(method: str, path: str, body: bytes) -> Reply:
        if method == "POST" and path == "/reports":
            return Reply(202, {"jobId": "r1", "status": "queued"})
        if path == "/jobs/r1":
            reads.append(path)
            return Reply(200, {"id": "r1", "state": "completed" if finishes and len(reads) > 2 else "queued"})
        return Reply(404, {"error": "not found"})

    config = {"jobs": {"enqueue": "POST /reports", "body": {"kind": "daily"}, "status": "/jobs/{id}", "timeout_s": 1}}
    with python_service(app) as live:
        verdict = judge(fact_store(live, api_map(), tmp_path, jobs, config=config), background_jobs)
    if finishes:
        assert verdict.outcome is Outcome.PASS and verdict.summary.startswith("job r1 completed within")
        assert len(reads) == 3
    else:
        assert verdict.outcome is Outcome.FAIL and verdict.summary == "job r1 was still 'queued' after 1 s"
    assert "POST /reports -> 202: sent to enqueue work" in evidence_text(verdict)
