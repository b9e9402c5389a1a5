"""The `perf.load` probe: load the running service on a fixed schedule and measure it honestly.

The scenario is the documented read endpoints (OpenAPI GET operations; item paths get real ids
from their collection's listing, or the spec's examples), authenticated with the throwaway
user when an operation needs it, or grade.toml `[load] requests`, or the learner's own
locustfile. Each request of the scenario is tried once first: one the grader got wrong (404,
401, 422...) is left out with a note, a server error stays in. The run itself is
:func:`grader.loadgen.run_load` (open model, latency from the intended send time, HdrHistogram,
warm-up excluded, saturation detected), inside the machine-wide load slot, holding the
service exclusively, after every probe of an earlier settle stage has finished (`SETTLE_STAGES`
in live.py: every probe but `perf.queries`), with the generator and the service on separate CPUs
where there are two or more. Redis keyspace hits and misses (or the service's own cache counters
on /metrics) are read before and after.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from grader.facts import NotRunnable, ProbeContext
from grader.isolation import Cell
from grader.loadgen import LoadPlan, LoadResult, Request, run_load, run_locustfile
from grader.plugin import probe
from grader.probes.datastores import RedisKeyspace, redis_keyspace
from grader.probes.http_session import Session, find_id, parse_json
from grader.probes.live import SETTLE_STAGES, ApiMap, LiveService, Operation, live_service
from grader.probes.load_config import LoadConfig
from grader.slots import load_slot

PROBE_ID = "perf.load"
MAX_ITEM_IDS = 5  # item paths are filled with up to this many real ids (a hot set, as real users make)
_NOT_DATA = re.compile(r"/(health\w*|ready\w*|live\w*|metrics|api-docs[^/]*|docs|swagger[^/]*|openapi[^/]*)$", re.I)
_OUR_MISTAKE = frozenset({400, 401, 403, 404, 405, 409, 410, 422})
_PARAM = re.compile(r"\{[^}/]+\}")
_PROBE_TIMEOUT_S = 200.0


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Cache lookups the service made during the load run, and where they were read."""

    hits: int
    misses: int
    source: str

    @property
    def hit_rate(self) -> float | None:
        """Hits per lookup (0-1), None when there was no lookup."""
        total = self.hits + self.misses
        return self.hits / total if total else None


@dataclass(frozen=True, slots=True)
class LoadFacts:
    """One load run: what was offered, what came back, and the cache's behaviour meanwhile."""

    result: LoadResult
    scenario: tuple[str, ...]  # e.g. ("GET /products", "GET /products/3")
    users: int
    cache: CacheStats | None
    cache_problem: str  # why there is no cache figure ("" when there is one)
    placement: str  # which CPUs the generator and the service ran on
    notes: tuple[str, ...] = ()


@probe(PROBE_ID, timeout_s=_PROBE_TIMEOUT_S)
def load(ctx: ProbeContext) -> LoadFacts:
    """Run the phase's load against the service and return the measurement."""
    live = live_service(ctx)
    config = ctx.config.load
    _wait_for_quiet(ctx)
    notes: list[str] = []
    requests = () if config.locustfile else _scenario(ctx, live, config, notes)
    with load_slot(), live.exclusive:
        before = _cache_counters(live)
        with _placement(live) as (generator_cpu, placement):
            result = _run(ctx, live, config, requests, generator_cpu)
        after = _cache_counters(live)
    cache, cache_problem = _cache_delta(before, after)
    scenario = tuple(f"{r.method} {r.path}" for r in requests) or (f"locustfile {config.locustfile}",)
    return LoadFacts(result, scenario, config.users, cache, cache_problem, placement, tuple(notes))


def _wait_for_quiet(ctx: ProbeContext) -> None:
    """Let every probe of an earlier stage (a test suite, a fuzzer, the N+1 probe) finish, so the machine is quiet."""
    own = SETTLE_STAGES[PROBE_ID]
    for probe_id in ctx.store.started():
        if probe_id != PROBE_ID and SETTLE_STAGES.get(probe_id, 0) < own:
            ctx.store.get(probe_id)


def _run(
    ctx: ProbeContext, live: LiveService, config: LoadConfig, requests: Sequence[Request], cpu: int | None
) -> LoadResult:
    if config.locustfile:
        locustfile = (ctx.target / config.locustfile).resolve()
        if not locustfile.is_file() or not locustfile.is_relative_to(ctx.target.resolve()):
            raise NotRunnable(f"[load] locustfile {config.locustfile} is not a file in the project")
        spawn_rate = max(config.users / max(config.warmup_s, 1.0), 1.0)  # all users spawned by the warm-up's end
        cell = Cell(ctx.isolation, (ctx.scratch / "locust",), network=True)  # the learner's code: confined
        return run_locustfile(locustfile, live.base_url, config.users, spawn_rate, config.duration_s, ctx.scratch, cell)
    plan = LoadPlan(
        base_url=live.base_url,
        requests=tuple(requests),
        users=config.users,
        pacing_s=config.pacing_s,
        warmup_s=config.warmup_s,
        duration_s=config.duration_s,
        timeout_s=config.timeout_s,
        cpu=cpu,
    )
    return run_load(plan)


def _scenario(ctx: ProbeContext, live: LiveService, config: LoadConfig, notes: list[str]) -> tuple[Request, ...]:
    """The requests to mix: from [load] requests, else the documented reads; each tried once first."""
    session = _session(ctx)
    api = ctx.fact("api", ApiMap)
    headers = session.headers if session else {}
    with live.client() as client:
        if config.requests:
            candidates = [Request(method, path, headers) for method, path in config.requests]
        else:
            candidates = _documented_reads(client, api, session, notes)
        kept = [r for r in candidates if _works(client, r, notes)]
    if not kept:
        raise NotRunnable(
            "no request to load the service with: document GET endpoints in an OpenAPI spec or list them in "
            "grade.toml [load] requests" + (f" ({'; '.join(notes)})" if notes else "")
        )
    return tuple(kept)


def _session(ctx: ProbeContext) -> Session | None:
    """The throwaway user's session, if the API has sign-up and log-in (None otherwise)."""
    try:
        session = ctx.fact("http.session", Session)
    except NotRunnable:
        return None
    return session if session.token else None


def _documented_reads(client: httpx.Client, api: ApiMap, session: Session | None, notes: list[str]) -> list[Request]:
    """GET operations of the API (not health, metrics or docs); item paths filled with real ids."""
    reads = [op for op in api.operations if op.method == "GET" and not _NOT_DATA.search(op.path)]
    requests: list[Request] = []
    for op in reads:
        if op.requires_auth and session is None:
            notes.append(f"left out GET {op.path}: it needs a logged-in user and the grader has none")
            continue
        headers = session.headers if (op.requires_auth and session) else {}
        paths = _filled_paths(client, api, op, headers) if _PARAM.search(op.path) else [op.path]
        if not paths:
            notes.append(f"left out GET {op.path}: no id to fill it with (no listing with ids, no example)")
        requests += [Request("GET", path, headers) for path in paths]
    return requests


def _filled_paths(client: httpx.Client, api: ApiMap, op: Operation, headers: Mapping[str, str]) -> list[str]:
    """`/items/{id}` with up to MAX_ITEM_IDS ids listed by `/items`, else with the spec's example value."""
    parent = op.path[: op.path.rfind("/")]
    if _PARAM.fullmatch(op.path[len(parent) + 1 :]) and not _PARAM.search(parent):
        ids = _listed_ids(client, parent, headers)
        if ids:
            return [f"{parent}/{item_id}" for item_id in ids]
    example = _examples(api, op)
    if example is None:
        return []
    return [_PARAM.sub(lambda m: example.get(m.group(0)[1:-1], m.group(0)), op.path)]


def _listed_ids(client: httpx.Client, path: str, headers: Mapping[str, str]) -> list[str]:
    """The ids of the first items a collection lists."""
    try:
        response = client.get(path, headers=dict(headers))
    except httpx.HTTPError:
        return []
    ok, body = parse_json(response)
    if not ok or response.status_code >= 400:
        return []
    items = body if isinstance(body, list) else _first_list(body)
    ids = [find_id(item) for item in items[: MAX_ITEM_IDS * 4]]
    return [str(i) for i in ids if i is not None][:MAX_ITEM_IDS]


def _first_list(body: Any) -> list[Any]:
    """The first list value of an envelope such as {"data": [...], "next": ...}."""
    if isinstance(body, dict):
        return next((v for v in body.values() if isinstance(v, list)), [])
    return []


def _examples(api: ApiMap, op: Operation) -> dict[str, str] | None:
    """Path parameter examples from the spec ({"id": "1"}), None when one is missing."""
    if api.spec is None:
        return None
    item = api.spec.get("paths", {}).get(op.path, {})
    params = [*item.get("parameters", []), *item.get("get", {}).get("parameters", [])]
    values = {}
    for param in params:
        if isinstance(param, dict) and param.get("in") == "path":
            example = param.get("example", param.get("schema", {}).get("example"))
            if example is not None:
                values[str(param.get("name"))] = str(example)
    names = [m.group(0)[1:-1] for m in _PARAM.finditer(op.path)]
    return values if all(n in values for n in names) else None


def _works(client: httpx.Client, request: Request, notes: list[str]) -> bool:
    """Send the request once: False (with a note) when the grader got it wrong, True otherwise."""
    try:
        response = client.request(request.method, request.path, headers=dict(request.headers))
    except httpx.HTTPError as exc:
        notes.append(f"{request.method} {request.path} failed before the load run: {type(exc).__name__}")
        return True  # the service's problem: the load run counts it
    if response.status_code in _OUR_MISTAKE:
        notes.append(f"left out {request.method} {request.path}: it answered {response.status_code} when tried")
        return False
    return True


@contextmanager
def _placement(live: LiveService) -> Iterator[tuple[int | None, str]]:
    """Pin the service to every CPU but the first and yield the first for the generator; undo afterwards."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pids = live.process_ids()
    if len(cpus) < 2 or not pids:
        why = "one CPU" if len(cpus) < 2 else "the grader did not start the service"
        yield None, f"generator and service share the CPUs ({why}): not pinned"
        return
    generator, service_cpus = cpus[0], set(cpus[1:])
    pinned = [pid for pid in pids if _set_affinity(pid, service_cpus)]
    try:
        yield (
            generator,
            f"generator on CPU {generator}, service ({len(pinned)} processes) on CPUs "
            + ",".join(map(str, sorted(service_cpus))),
        )
    finally:
        for pid in pinned:
            _set_affinity(pid, set(cpus))


def _set_affinity(pid: int, cpus: set[int]) -> bool:
    try:
        os.sched_setaffinity(pid, cpus)
    except OSError:  # the process ended, or it is not ours to pin
        return False
    return True


def _cache_counters(live: LiveService) -> tuple[RedisKeyspace | None, str]:
    """Redis keyspace hits/misses (or the service's own cache counters), and where they came from."""
    url = live.datastores.redis_url
    if url:
        return redis_keyspace(url), f"Redis INFO stats ({live.datastores.source})"
    counters = _metrics_cache_counters(live)
    if counters is None:
        return None, "no Redis the grader can read and no cache hit/miss counters on /metrics"
    return counters


def _metrics_cache_counters(live: LiveService) -> tuple[RedisKeyspace, str] | None:
    """Hit and miss counters the service exposes on /metrics (names or labels with 'hit'/'miss')."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with live.client(5.0) as client:
            text = client.get("/metrics").text
        families = list(text_string_to_metric_families(text))
    except (httpx.HTTPError, ValueError):
        return None
    hits = misses = 0.0
    names = set()
    for family in families:
        if "cache" not in family.name:
            continue
        for sample in family.samples:
            words = f"{sample.name} {' '.join(sample.labels.values())}".lower()
            if "hit" in words:
                hits += sample.value
                names.add(sample.name)
            elif "miss" in words:
                misses += sample.value
                names.add(sample.name)
    if not names:
        return None
    return RedisKeyspace(int(hits), int(misses)), f"the service's /metrics counters {', '.join(sorted(names))}"


def _cache_delta(
    before: tuple[RedisKeyspace | None, str], after: tuple[RedisKeyspace | None, str]
) -> tuple[CacheStats | None, str]:
    (start, source), (end, _) = before, after
    if start is None or end is None:
        return None, source
    delta = end - start
    return CacheStats(delta.hits, delta.misses, source), ""
