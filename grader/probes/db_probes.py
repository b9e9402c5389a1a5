"""What the service asks of PostgreSQL, read from pg_stat_statements: query times, and queries per list request.

`perf.queries` takes a snapshot once the service is up, waits for every other live probe
(:data:`grader.probes.live.SETTLE_STAGES`: it is the last), reads each documented GET endpoint
once itself (required query parameters filled in, item paths with an id from their list), and
keeps the difference: every statement the service ran while it was graded, with its calls and
mean and slowest times.

`perf.n_plus_one` finds list endpoints (a GET on a collection that a POST adds to), and asks
each for a small and a large page (the documented `limit`-like parameter), creating items
through the API when there are too few to fill it. Each size is requested three times with the
service otherwise quiet (it holds `LiveService.exclusive`, and waits until no statement runs
before and after each request); the median request's statements are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from grader.facts import NotRunnable, ProbeContext
from grader.plugin import probe
from grader.probes.api_requests import (
    PARAM,
    ApiCaller,
    PageSize,
    list_collections,
    needs_token,
    new_item,
    page_size,
    required_query,
    with_query,
)
from grader.probes.datastores import Statement, StatementReader
from grader.probes.http_api import NOT_JSON_BY_DESIGN, list_items
from grader.probes.http_session import Session, find_id, parse_json
from grader.probes.live import ApiMap, Exchange, LiveService, Operation, live_service, settle_live_probes

TIMEOUT_S = 10.0
MAX_READS = 20  # documented GETs the query-time probe sends itself
MAX_LISTS = 3  # list endpoints measured for N+1
SMALL_PAGE, LARGE_PAGE = 5, 20  # items asked for in the two list measurements
EXTRA_ITEMS = 10  # items created when a list without a page size cannot grow otherwise
REPEATS = 3  # requests per list size; the median one is kept
_HEALTH = re.compile(r"(?:^|/)(?:health\w*|ready\w*|live\w*)/?$", re.I)


@dataclass(frozen=True, slots=True)
class QueryStats:
    """The statements the service ran on PostgreSQL while it was graded, slowest mean first."""

    statements: tuple[Statement, ...]
    source: str  # where the database came from, e.g. "PostgreSQL: a throwaway one the grader started"
    requests: tuple[Exchange, ...]  # the reads the probe sent itself
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ListSample:
    """One list request: how many items it returned and the statements it made PostgreSQL run."""

    path: str  # with its query string, e.g. "/products?limit=5"
    items: int
    queries: int  # statements executed while it was served
    statements: tuple[tuple[str, int], ...]  # (statement, calls), most calls first
    exchange: Exchange


@dataclass(frozen=True, slots=True)
class ListMeasure:
    """A list endpoint measured at two sizes (fewer items first), or why it could not be."""

    path: str
    samples: tuple[ListSample, ...]
    created: int = 0  # items the probe created so the list could grow
    problem: str = ""  # why there are not two samples with different item counts ("" when there are)
    exchanges: tuple[Exchange, ...] = ()  # requests that went wrong, for evidence


@dataclass(frozen=True, slots=True)
class NPlusOneFacts:
    """Queries per request of each list endpoint at two sizes."""

    lists: tuple[ListMeasure, ...]
    reason: str = ""  # why no list was measured
    notes: tuple[str, ...] = ()


def postgres_url(live: LiveService) -> str:
    """The service's PostgreSQL the grader can read; NotRunnable saying how to provide one."""
    url = live.datastores.postgres_url
    if url is None:
        raise NotRunnable(f"no PostgreSQL the grader can read query statistics from ({live.datastores.source})")
    return url


@probe("perf.queries", timeout_s=180)  # its own time: waiting for the other probes does not count
def queries(ctx: ProbeContext) -> QueryStats:
    """Every statement the service ran on PostgreSQL from when it was up until the other live probes were done."""
    live = live_service(ctx)
    with StatementReader(postgres_url(live)) as reader:
        before = reader.snapshot()
        settle_live_probes(ctx, "perf.queries")
        api = ctx.fact("api", ApiMap)
        reads = _documented_reads(api)
        with live.exclusive, live.client(TIMEOUT_S) as client:
            caller = ApiCaller(client, lambda: ctx.fact("http.session", Session), needs_token(reads))
            requests = _read_each(caller, api, reads)
        ran = reader.settled() - before
    return QueryStats(ran.slowest(), live.datastores.source, requests, tuple(caller.notes))


def _documented_reads(api: ApiMap) -> list[Operation]:
    """GET operations worth reading: not health, metrics or documentation; collections before items."""
    reads = [
        o
        for o in api.operations
        if o.method == "GET" and not NOT_JSON_BY_DESIGN.search(o.path) and not _HEALTH.search(o.path)
    ]
    return sorted(reads, key=lambda o: len(PARAM.findall(o.path)))[:MAX_READS]


def _read_each(caller: ApiCaller, api: ApiMap, reads: list[Operation]) -> tuple[Exchange, ...]:
    """GET each operation once; an item path gets the id of the first item its collection listed."""
    listed: dict[str, str] = {}  # collection path -> an id it listed
    sent = []
    for op in reads:
        path = op.path
        if PARAM.search(path):
            parent = PARAM.split(path, maxsplit=1)[0].rstrip("/")
            if parent not in listed or len(PARAM.findall(path)) > 1:
                continue
            path = PARAM.sub(listed[parent], path, count=1)
        response, exchange = caller.send("GET", with_query(path, required_query(api, op)))
        sent.append(exchange)
        items = list_items(parse_json(response)[1], op.path) if response is not None else []
        first_id = find_id(items[0]) if items else None
        if first_id is not None and not PARAM.search(op.path):
            listed[op.path] = first_id
    return tuple(sent)


@probe("perf.n_plus_one", timeout_s=180)  # its own time: waiting for the other probes does not count
def n_plus_one(ctx: ProbeContext) -> NPlusOneFacts:
    """Statements per list request at a small and a large page, on each list endpoint (up to three)."""
    live = live_service(ctx)
    url = postgres_url(live)
    settle_live_probes(ctx, "perf.n_plus_one")
    api = ctx.fact("api", ApiMap)
    lists = list_collections(api)[:MAX_LISTS]
    if not lists:
        return NPlusOneFacts(
            (), "no list endpoint found (a documented GET on a collection with a POST that adds to it)"
        )
    creates = [o for o in api.operations if o.method == "POST" and o.path in {op.path for op in lists}]
    with StatementReader(url) as reader, live.exclusive, live.client(TIMEOUT_S) as client:
        caller = ApiCaller(client, lambda: ctx.fact("http.session", Session), needs_token([*lists, *creates]))
        measures = tuple(_ListMeasurement(reader, caller, api, op).run() for op in lists)
    return NPlusOneFacts(measures, notes=tuple(caller.notes))


class _ListMeasurement:
    """Measure one list endpoint at a small and a large size, creating items if there are too few."""

    def __init__(self, reader: StatementReader, caller: ApiCaller, api: ApiMap, op: Operation) -> None:
        self.reader = reader
        self.caller = caller
        self.api = api
        self.op = op
        self.page: PageSize | None = page_size(api, op)
        self.problems: list[Exchange] = []

    def run(self) -> ListMeasure:
        path = self.op.path
        response, exchange = self.caller.send("GET", self._path(LARGE_PAGE))  # warms up; signs in if needed
        if response is None or not response.is_success:
            return ListMeasure(path, (), problem=f"the list request failed: {exchange.summary}", exchanges=(exchange,))
        listed = list_items(parse_json(response)[1], path)
        small = self._sample(SMALL_PAGE)
        large = self._sample(LARGE_PAGE)
        created = 0
        if large.items <= small.items:
            created = self._add_items(len(listed), listed[0] if listed else None)
            large = self._sample(LARGE_PAGE)
        if large.items <= small.items:
            grew = f"after creating {created} item(s)" if created else "and no item could be created"
            return ListMeasure(
                path, (small, large), created, f"the list did not return more items {grew}", tuple(self.problems)
            )
        return ListMeasure(path, (small, large), created, exchanges=tuple(self.problems))

    def _path(self, size: int) -> str:
        query = required_query(self.api, self.op)
        if self.page is not None:
            query[self.page.name] = str(self.page.clamp(size))
        return with_query(self.op.path, query)

    def _add_items(self, have: int, like: Any) -> int:
        """Create items so a large page can be filled (EXTRA_ITEMS without a page size); how many were created."""
        wanted = max(LARGE_PAGE - have, 1) if self.page is not None else EXTRA_ITEMS
        created = 0
        for _ in range(wanted):
            body = new_item(self.api, self.op.path, like, self.caller.notes)
            response, exchange = self.caller.send("POST", self.op.path, body)
            if response is None or not response.is_success:
                self.problems.append(exchange)
                break
            created += 1
        return created

    def _sample(self, size: int) -> ListSample:
        """REPEATS requests for one page size, each between two quiet snapshots; the median by statements run."""
        path = self._path(size)
        samples = []
        before = self.reader.settled()
        for _ in range(REPEATS):
            response, exchange = self.caller.send("GET", path)
            after = self.reader.settled()
            ran = after - before
            before = after
            items = len(list_items(parse_json(response)[1], self.op.path)) if response is not None else 0
            counts = sorted(((s.query, s.calls) for s in ran.statements), key=lambda sc: (-sc[1], sc[0]))
            samples.append(ListSample(path, items, ran.calls, tuple(counts), exchange))
        return sorted(samples, key=lambda s: s.queries)[len(samples) // 2]
