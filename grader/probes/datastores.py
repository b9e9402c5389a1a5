"""Read the statistics of the service's databases: PostgreSQL pg_stat_statements and Redis INFO stats.

The URLs come from `LiveService.datastores`. Snapshots are cumulative counters; subtracting an
earlier snapshot gives what happened in between. The grader's own statements (every one that
mentions pg_stat_statements) are left out, and it reads in autocommit mode so it adds no
BEGIN/COMMIT of its own. A database that cannot be reached, or lacks pg_stat_statements, raises
NotRunnable with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

from grader.facts import NotRunnable

CONNECT_TIMEOUT_S = 5
# One row per statement of the current database; never the grader's own reads (they all name the view).
_STATEMENTS_SQL = """
SELECT queryid, min(query), sum(calls)::bigint, sum(total_exec_time), max(max_exec_time)
FROM pg_stat_statements
WHERE queryid IS NOT NULL
  AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query NOT ILIKE '%pg_stat_statements%'
GROUP BY queryid
"""
_ENABLE = "CREATE EXTENSION pg_stat_statements (with shared_preload_libraries = 'pg_stat_statements')"


def safe_url(url: str) -> str:
    """`url` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class RedisKeyspace:
    """Redis keyspace hits and misses (cumulative since the server started, or a difference of two readings)."""

    hits: int
    misses: int

    def __sub__(self, earlier: RedisKeyspace) -> RedisKeyspace:
        return RedisKeyspace(self.hits - earlier.hits, self.misses - earlier.misses)

    @property
    def lookups(self) -> int:
        """Key lookups: hits plus misses."""
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float | None:
        """Hits per lookup (0-1); None when there was no lookup."""
        return self.hits / self.lookups if self.lookups else None


@contextmanager
def redis_client(url: str) -> Iterator[redis.Redis]:
    """A connected Redis client (answers PING); NotRunnable when it cannot be reached."""
    client = redis.Redis.from_url(url, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S)
    try:
        try:
            client.ping()
        except redis.RedisError as exc:
            raise NotRunnable(f"Redis at {safe_url(url)} could not be reached: {exc}") from None
        yield client
    finally:
        client.close()


def redis_keyspace(url: str) -> RedisKeyspace:
    """keyspace_hits and keyspace_misses from `INFO stats`."""
    with redis_client(url) as client:
        try:
            stats = client.info("stats")
        except redis.RedisError as exc:
            raise NotRunnable(f"Redis at {safe_url(url)} did not answer INFO stats: {exc}") from None
    return RedisKeyspace(int(stats.get("keyspace_hits", 0)), int(stats.get("keyspace_misses", 0)))


@dataclass(frozen=True, slots=True)
class Statement:
    """One normalised SQL statement ($1 for values) and its execution counters."""

    queryid: int
    query: str
    calls: int
    total_ms: float
    max_ms: float | None  # the slowest call; None in a difference when no call beat the earlier maximum

    @property
    def mean_ms(self) -> float:
        """Mean execution time per call."""
        return self.total_ms / self.calls if self.calls else 0.0


@dataclass(frozen=True, slots=True)
class StatementSnapshot:
    """The statements pg_stat_statements holds (or those run between two snapshots), by queryid."""

    statements: tuple[Statement, ...]

    def __sub__(self, earlier: StatementSnapshot) -> StatementSnapshot:
        before = {s.queryid: s for s in earlier.statements}
        changed = []
        for now in self.statements:
            then = before.get(now.queryid)
            if then is None and now.calls:
                changed.append(now)
            elif then is not None and now.calls > then.calls:
                rose = now.max_ms is not None and (then.max_ms is None or now.max_ms > then.max_ms)
                calls, total = now.calls - then.calls, max(now.total_ms - then.total_ms, 0.0)
                changed.append(Statement(now.queryid, now.query, calls, total, now.max_ms if rose else None))
        return StatementSnapshot(tuple(changed))

    @property
    def calls(self) -> int:
        """Statements executed, all kinds together."""
        return sum(s.calls for s in self.statements)

    def slowest(self) -> tuple[Statement, ...]:
        """The statements, slowest mean first."""
        return tuple(sorted(self.statements, key=lambda s: (-s.mean_ms, s.query)))


class StatementReader:
    """One connection to the service's PostgreSQL, reading pg_stat_statements as often as needed."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise NotRunnable(f"PostgreSQL at {safe_url(url)} could not be reached: {_first_line(exc)}") from None

    def __enter__(self) -> StatementReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._conn.close()

    def snapshot(self) -> StatementSnapshot:
        """Every statement of the current database so far; NotRunnable when pg_stat_statements is not enabled."""
        try:
            rows = self._conn.execute(_STATEMENTS_SQL).fetchall()
        except (psycopg.errors.UndefinedTable, psycopg.errors.ObjectNotInPrerequisiteState) as exc:
            where = safe_url(self.url)
            raise NotRunnable(f"pg_stat_statements is not enabled in {where}: {_first_line(exc)}; {_ENABLE}") from None
        except psycopg.Error as exc:
            raise NotRunnable(
                f"PostgreSQL at {safe_url(self.url)} failed to list statements: {_first_line(exc)}"
            ) from None
        return StatementSnapshot(
            tuple(
                Statement(int(qid), str(text), int(calls), float(total), float(peak))
                for qid, text, calls, total, peak in rows
            )
        )

    def settled(self, quiet_s: float = 0.1, limit_s: float = 2.0) -> StatementSnapshot:
        """A snapshot once no statement has run for `quiet_s` (or after `limit_s`): late queries are counted."""
        deadline = time.monotonic() + limit_s
        last = self.snapshot()
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            now = self.snapshot()
            if now.calls == last.calls:
                return now
            last = now
        return last


def pg_statements(url: str) -> StatementSnapshot:
    """One snapshot of pg_stat_statements for the database at `url`."""
    with StatementReader(url) as reader:
        return reader.snapshot()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
