"""The `jobs.background` probe: does a job enqueued through the API get processed?

With grade.toml `[jobs] status`, it sends `[jobs] enqueue`, takes the job id from the answer
and reads the status path until the job is completed or failed (or `timeout_s` passes).
Otherwise it reads the BullMQ (or Bull) queues in the service's Redis (`<prefix>:<queue>:wait`,
`:active`, `:delayed`, `:completed`, `:failed`, the `:events` stream and the `:id` counter),
enqueues work through the API (`[jobs] enqueue`, else one item created on each create
operation), and watches until no job is waiting or active, or the wait is over. It runs after
the other live probes have sent their requests (whose jobs count too) and holds the service
exclusively, so its Redis reads do not land in another probe's cache measurement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from grader.facts import NotRunnable, ProbeContext
from grader.plugin import probe
from grader.probes.api_requests import ApiCaller, create_operations, needs_token, new_item
from grader.probes.datastores import redis_client
from grader.probes.http_session import Session, dig, first_scalar, parse_json
from grader.probes.jobs_config import JobsConfig
from grader.probes.live import ApiMap, Exchange, Operation, live_service, settle_live_probes

MAX_CREATES = 3  # create operations triggered to enqueue jobs
MAX_KEYS = 50_000  # keys scanned for queues
EVENTS_READ = 2_000  # latest entries of a queue's event stream counted
POLL_S = 0.25
NO_QUEUE_WAIT_S = 2.0  # how long a queue may take to appear after the requests
JOB_ID_PATHS = ("jobId", "job_id", "job.id", "data.jobId", "data.id", "id", "_id")
STATE_PATHS = ("status", "state", "job.status", "job.state", "data.status", "data.state")
DONE = frozenset({"completed", "complete", "done", "succeeded", "success", "successful", "finished", "processed"})
FAILED = frozenset({"failed", "failure", "error", "errored"})
_PARTS = {  # queue key suffix -> the Redis type BullMQ/Bull give it
    "wait": "list", "paused": "list", "active": "list", "prioritized": "zset", "delayed": "zset",
    "completed": "zset", "failed": "zset", "events": "stream", "meta": "hash", "id": "string",
}  # fmt: skip
_COUNTED = ("wait", "paused", "prioritized", "active", "delayed", "completed", "failed")
# The size of each key whatever type its BullMQ/Bull version gives it, read in one atomic step.
_SIZES = """
local sizes = {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'list' then sizes[i] = redis.call('LLEN', key)
  elseif kind == 'zset' then sizes[i] = redis.call('ZCARD', key)
  elseif kind == 'set' then sizes[i] = redis.call('SCARD', key)
  else sizes[i] = 0 end
end
return sizes
"""


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """One job queue in Redis at one moment."""

    name: str  # the key prefix, e.g. "bull:notifications"
    waiting: int  # wait + paused + prioritized
    active: int
    delayed: int
    completed: int  # completed jobs kept
    failed: int  # failed jobs kept
    counter: int  # the :id counter (jobs added without a custom id)
    added_events: int  # among the latest events of the :events stream
    completed_events: int
    failed_events: int
    last_failure: str = ""  # failedReason of the latest failed job

    @property
    def pending(self) -> int:
        """Jobs waiting or being worked on."""
        return self.waiting + self.active

    @property
    def processed(self) -> int:
        """Jobs completed: those kept, or the completion events when completed jobs are removed."""
        return max(self.completed, self.completed_events)

    @property
    def failures(self) -> int:
        """Jobs that failed (kept, or their events)."""
        return max(self.failed, self.failed_events)

    @property
    def seen(self) -> int:
        """Jobs this queue ever had, as far as Redis tells."""
        now = self.pending + self.delayed + self.processed + self.failures
        return max(self.counter, self.added_events, now)


@dataclass(frozen=True, slots=True)
class JobStatus:
    """A job enqueued through `[jobs] enqueue` and followed on `[jobs] status`."""

    job_id: str | None
    state: str  # "completed" | "failed" | "pending" | "unknown" (no job id, or the status could not be read)
    value: str | None  # the last status value read, e.g. "active"
    last: Exchange | None  # the last status read
    reads: int = 0


@dataclass(frozen=True, slots=True)
class JobsFacts:
    """Jobs enqueued through the API and what became of them."""

    how: str  # "status" ([jobs] status) or "queues" (Redis)
    triggered: tuple[Exchange, ...]  # the requests that should have enqueued jobs
    waited_s: float
    before: tuple[QueueCounts, ...] = ()
    after: tuple[QueueCounts, ...] = ()
    status: JobStatus | None = None
    source: str = ""  # where Redis came from
    notes: tuple[str, ...] = ()


@probe("jobs.background", timeout_s=120)  # its own time: waiting for the other probes does not count
def background_jobs(ctx: ProbeContext) -> JobsFacts:
    """Enqueue work through the API and see it processed: on the [jobs] status path, or in Redis's job queues."""
    live = live_service(ctx)
    config = ctx.config.jobs
    redis_url = live.datastores.redis_url
    if config.status is None and redis_url is None:
        raise NotRunnable(
            f"no Redis the grader can read job queues from ({live.datastores.source}), and no [jobs] status "
            "path in grade.toml to follow a job on"
        )
    settle_live_probes(ctx, "jobs.background")
    api = ctx.fact("api", ApiMap)
    creates = create_operations(api)[:MAX_CREATES]
    with live.exclusive, live.client() as client:
        caller = ApiCaller(client, lambda: ctx.fact("http.session", Session), needs_token(creates))
        if config.status is not None:
            return _follow_status(caller, config)
        assert redis_url is not None
        with redis_client(redis_url) as store:
            return _watch_queues(store, caller, api, config, creates, live.datastores.source)


def _follow_status(caller: ApiCaller, config: JobsConfig) -> JobsFacts:
    assert config.enqueue is not None and config.status is not None
    began = time.monotonic()
    response, enqueued = caller.send(*config.enqueue, dict(config.body))
    data = parse_json(response)[1] if response is not None and response.is_success else None
    job_id = first_scalar(data, JOB_ID_PATHS)
    status = JobStatus(job_id, "unknown", None, None)
    while job_id is not None:
        answer, exchange = caller.send("GET", config.status.replace("{id}", job_id))
        value = _state_value(parse_json(answer)[1]) if answer is not None and answer.is_success else None
        state = _state(value) if answer is not None and answer.is_success else "unknown"
        status = JobStatus(job_id, state, value, exchange, status.reads + 1)
        if state in ("completed", "failed") or time.monotonic() - began > config.wait_s:
            break
        time.sleep(POLL_S)
    return JobsFacts("status", (enqueued,), time.monotonic() - began, status=status, notes=tuple(caller.notes))


def _state_value(data: Any) -> str | None:
    value = next((v for p in STATE_PATHS if isinstance(v := dig(data, p), str | bool)), None)
    return None if value is None else str(value)


def _state(value: str | None) -> str:
    word = (value or "").strip().lower()
    return "completed" if word in DONE else "failed" if word in FAILED else "pending" if word else "unknown"


def _watch_queues(
    store: redis.Redis, caller: ApiCaller, api: ApiMap, config: JobsConfig, creates: list[Operation], source: str
) -> JobsFacts:
    before = read_queues(store)
    if config.enqueue is not None:
        triggered = [caller.send(*config.enqueue, dict(config.body))[1]]
    else:
        triggered = [caller.send("POST", op.path, new_item(api, op.path, None, caller.notes))[1] for op in creates]
    began = time.monotonic()
    while True:
        after = read_queues(store)
        waited = time.monotonic() - began
        if after and not any(q.pending for q in after):
            break
        if waited > config.wait_s or (not after and waited > NO_QUEUE_WAIT_S):
            break
        time.sleep(POLL_S)
    return JobsFacts("queues", tuple(triggered), waited, before, after, source=source, notes=tuple(caller.notes))


def read_queues(store: redis.Redis) -> tuple[QueueCounts, ...]:
    """Every BullMQ/Bull queue in the current database, with its counts."""
    return tuple(_counts(store, name, kinds) for name, kinds in _queues(store).items())


def _queues(store: redis.Redis) -> dict[str, dict[str, str]]:
    """Key prefixes (e.g. 'bull:notifications') that have queue keys of the right types, with those keys' types."""
    candidates: dict[str, set[str]] = {}
    for number, raw in enumerate(store.scan_iter(count=1000)):
        if number >= MAX_KEYS:
            break
        prefix, _, suffix = _text(raw).rpartition(":")
        if prefix and suffix in _PARTS:
            candidates.setdefault(prefix, set()).add(suffix)
    queues = {}
    for prefix, suffixes in sorted(candidates.items()):
        kinds = dict(zip(_PARTS, _types(store, [f"{prefix}:{s}" for s in _PARTS]), strict=True))
        right = {s for s in suffixes if kinds[s] == _PARTS[s]}
        if right & {"events", "meta"} or ("id" in right and len(right) > 1):
            queues[prefix] = kinds
    return queues


def _types(store: redis.Redis, keys: list[str]) -> list[str]:
    pipe = store.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    return [_text(kind) for kind in pipe.execute()]


def _counts(store: redis.Redis, name: str, kinds: dict[str, str]) -> QueueCounts:
    """The size of each part of a queue (all at one instant), its counter, and its latest events."""
    counted = store.eval(_SIZES, len(_COUNTED), *(f"{name}:{part}" for part in _COUNTED))
    sizes = dict(zip(_COUNTED, map(int, counted), strict=True))
    counter = _text(store.get(f"{name}:id") or b"") if kinds["id"] == "string" else ""
    events = store.xrevrange(f"{name}:events", count=EVENTS_READ) if kinds["events"] == "stream" else []
    said = [_text(fields.get(b"event", b"")) for _, fields in events or () if fields]
    return QueueCounts(
        name=name,
        waiting=sizes["wait"] + sizes["paused"] + sizes["prioritized"],
        active=sizes["active"],
        delayed=sizes["delayed"],
        completed=sizes["completed"],
        failed=sizes["failed"],
        counter=int(counter) if counter.isdigit() else 0,
        added_events=said.count("added"),
        completed_events=said.count("completed"),
        failed_events=said.count("failed"),
        last_failure=_last_failure(store, name) if kinds["failed"] == "zset" else "",
    )


def _last_failure(store: redis.Redis, name: str) -> str:
    """The failedReason of the most recently failed job, trimmed."""
    latest = store.zrevrange(f"{name}:failed", 0, 0)
    reason = store.hget(f"{name}:{_text(latest[0])}", "failedReason") if latest else None
    return _text(reason or b"")[:300]


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
