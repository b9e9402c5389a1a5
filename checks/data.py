"""Data checks on the running service: query times and N+1 queries (pg_stat_statements), background jobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checks._evidence import capped
from checks.api import exchange_evidence
from grader.facts import Facts
from grader.model import Evidence, Outcome, Verdict
from grader.plugin import check
from grader.probes.datastores import Statement
from grader.probes.db_probes import ListMeasure, ListSample, NPlusOneFacts, QueryStats
from grader.probes.jobs import JobsFacts, QueueCounts

SHOWN_STATEMENTS = 5
STATEMENT_CHARS = 160
CLOSE = 0.8  # a value above this share of its threshold is said to be close to it


@check(
    "perf.query_time",
    title="Every database query runs in under {max_ms} ms on average",
    requires=("perf.queries",),
    defaults={"max_ms": 100},
    threshold="max_ms",
    remediation="Find the slow statement in the evidence and run it with `EXPLAIN (ANALYZE, BUFFERS)` in psql: a "
    "`Seq Scan` over a large table under a WHERE, JOIN or ORDER BY usually wants an index (`CREATE INDEX ... ON "
    "products (category_id)`; for `lower(name) LIKE 'abc%'` an expression index with `text_pattern_ops`; a leading "
    "`%` wildcard needs a trigram index, pg_trgm). Put the index in a migration. Fetch only the rows a page needs "
    "(LIMIT with keyset pagination, not a large OFFSET) and only the columns you use.",
)
def query_time(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Reads pg_stat_statements before and after the other live probes and its own reads of each documented GET,
    and judges the mean execution time of every statement the service ran meanwhile."""
    stats = facts.get("perf.queries", QueryStats)
    max_ms = float(options["max_ms"])
    statements = stats.statements
    source = Evidence(f"read from pg_stat_statements ({stats.source})")
    if not statements:
        return Verdict.not_run(
            "the service ran no SQL statement on the grader's PostgreSQL while it was graded: does it connect "
            "with DATABASE_URL?",
            evidence=(source, *capped((exchange_evidence(e) for e in stats.requests), len(stats.requests), "reads")),
        )
    slow = [s for s in statements if s.mean_ms >= max_ms]
    spiky = [s for s in statements if s.mean_ms < max_ms and s.max_ms is not None and s.max_ms >= max_ms]
    calls = sum(s.calls for s in statements)
    slowest = statements[0]
    kw: dict[str, Any] = {"value": round(slowest.mean_ms, 1), "threshold": max_ms, "unit": "ms"}
    counted = f"{len(statements)} statement(s), {calls} call(s)"
    if slow:
        evidence = (*capped(map(_statement, slow), len(slow), "slow statements"), source)
        return Verdict.failed(
            f"{len(slow)} of {len(statements)} statement(s) took {max_ms:g} ms or more on average; the slowest "
            f"{slowest.mean_ms:.1f} ms: {_one_line(slowest.query, 80)}",
            score=1 - len(slow) / len(statements),
            evidence=evidence,
            **kw,
        )
    shown = (*map(_statement, statements[:SHOWN_STATEMENTS]), source)
    if spiky:
        return Verdict.warned(
            f"every statement's mean is under {max_ms:g} ms ({counted}), but {len(spiky)} took longer at least once",
            evidence=(*capped(map(_statement, spiky), len(spiky), "statements"), *shown),
            **kw,
        )
    close = " (close to the threshold)" if slowest.mean_ms >= CLOSE * max_ms else ""
    return Verdict.passed(
        f"every statement ran in under {max_ms:g} ms on average ({counted}); the slowest mean "
        f"{slowest.mean_ms:.1f} ms{close}",
        evidence=shown,
        **kw,
    )


def _statement(statement: Statement) -> Evidence:
    peak = f", slowest {statement.max_ms:.1f} ms" if statement.max_ms is not None else ""
    return Evidence(
        f"mean {statement.mean_ms:.1f} ms{peak} over {statement.calls} call(s): "
        f"{_one_line(statement.query, STATEMENT_CHARS)}",
        detail=statement.query[:2000],
    )


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


@check(
    "perf.n_plus_one",
    title="List endpoints run the same number of queries whatever the number of items",
    requires=("perf.n_plus_one",),
    defaults={"max_growth": 0.2},
    threshold="max_growth",
    remediation="A statement whose calls grow with the items listed is run once per item (N+1): load the related "
    "rows with the list in one statement, with a JOIN (`SELECT p.*, c.name FROM products p JOIN categories c ON "
    "c.id = p.category_id`), or in a second statement for all of them (`WHERE id = ANY($1)` with the ids of the "
    "page). With an ORM, eager-load the relation (Prisma `include`, TypeORM `relations`/`leftJoinAndSelect`, "
    "Sequelize `include`, Django `select_related`/`prefetch_related`).",
)
def n_plus_one(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Requests each list endpoint at a small and a large page (creating items when there are too few) and counts
    the statements PostgreSQL ran for each request; the count must not grow with the items returned. `max_growth`
    is the extra statements allowed per extra item."""
    found = facts.get("perf.n_plus_one", NPlusOneFacts)
    max_growth = float(options["max_growth"])
    measured = [m for m in found.lists if not m.problem and len(m.samples) == 2]
    unmeasured = [_unmeasured(m) for m in found.lists if m not in measured]
    notes = tuple(Evidence(f"note: {n}") for n in found.notes)
    if not measured:
        reason = found.reason or "; ".join(f"{m.path}: {m.problem}" for m in found.lists) or "no list endpoint"
        return Verdict.not_run(f"no list endpoint could be measured: {reason}", evidence=(*unmeasured, *notes))
    growths = {m.path: _growth(*m.samples) for m in measured}
    growing = [m for m in measured if growths[m.path] > max_growth]
    worst = max(measured, key=lambda m: growths[m.path])
    kw: dict[str, Any] = {"value": round(growths[worst.path], 2), "threshold": max_growth, "unit": "queries per item"}
    evidence = tuple(e for m in growing or measured for e in _measure_evidence(m, growths[m.path]))
    evidence += (*unmeasured, *notes)
    if growing:
        small, large = worst.samples
        return Verdict.failed(
            f"GET {worst.path} ran {small.queries} statement(s) for {small.items} item(s) and {large.queries} for "
            f"{large.items}: about {growths[worst.path]:.2f} more per item (N+1 queries)",
            score=1 - len(growing) / len(measured),
            evidence=evidence,
            **kw,
        )
    counts = "; ".join(
        f"GET {m.path}: {m.samples[0].queries} then {m.samples[1].queries} statement(s) for "
        f"{m.samples[0].items} then {m.samples[1].items} items"
        for m in measured
    )
    return Verdict.passed(counts, evidence=evidence, **kw)


def _growth(small: ListSample, large: ListSample) -> float:
    return (large.queries - small.queries) / (large.items - small.items)


def _measure_evidence(measure: ListMeasure, growth: float) -> list[Evidence]:
    small, large = measure.samples
    evidence = [
        Evidence(
            f"GET {s.path}: {s.items} item(s), {s.queries} statement(s) (the median of 3 requests)",
            detail=s.exchange.detail,
        )
        for s in (small, large)
    ]
    before = dict(small.statements)
    grew = sorted(
        ((text, before.get(text, 0), calls) for text, calls in large.statements if calls > before.get(text, 0)),
        key=lambda grown: grown[1] - grown[2],  # the most extra calls first
    )
    evidence += [
        Evidence(f"called {was} then {now} time(s) per request: {_one_line(text, STATEMENT_CHARS)}", detail=text)
        for text, was, now in grew[:3]
    ]
    if measure.created:
        evidence.append(Evidence(f"the grader created {measure.created} item(s) so the list would return more"))
    evidence.append(Evidence(f"{growth:+.2f} statement(s) per extra item"))
    return evidence


def _unmeasured(measure: ListMeasure) -> Evidence:
    detail = "\n\n".join(e.detail for e in measure.exchanges) or None
    return Evidence(f"GET {measure.path} not measured: {measure.problem or 'no samples'}", detail=detail)


@check(
    "jobs.background",
    title="Jobs enqueued through the API are processed in the background",
    requires=("jobs.background",),
    remediation="Put slow work on a queue and process it in a worker: with BullMQ, `new Queue('emails', { "
    "connection })` and `queue.add(...)` in the route, and a `new Worker('emails', handler, { connection })` that "
    "runs whenever the service runs (started by the same start command, or a process your grade.toml `[service] "
    "start` also launches). Connect both with REDIS_URL. With another job system, expose the job's state and "
    'describe it in grade.toml: `[jobs] enqueue = "POST /reports"`, `status = "/jobs/{id}"`.',
)
def background_jobs(facts: Facts, options: Mapping[str, Any]) -> Verdict:
    """Enqueues work through the API and checks it is processed: on the `[jobs] status` path of grade.toml, or by
    watching the BullMQ/Bull queues in Redis until nothing is waiting."""
    jobs = facts.get("jobs.background", JobsFacts)
    triggered = tuple(exchange_evidence(e, "sent to enqueue work") for e in jobs.triggered)
    if jobs.status is not None:
        return _status_verdict(jobs, triggered)
    read = Evidence(f"queues read in the service's Redis ({jobs.source})")
    notes = (*(Evidence(f"note: {n}") for n in jobs.notes), read)
    seen = [q for q in jobs.after if q.seen]
    if not jobs.after:
        return Verdict.failed(
            "no job queue found in Redis (looked for BullMQ/Bull keys such as bull:<queue>:wait, :events, :meta)",
            evidence=(*triggered, *notes),
        )
    evidence = (*(_queue_evidence(q) for q in jobs.after), *triggered, *notes)
    if not seen:
        names = ", ".join(q.name for q in jobs.after)
        return Verdict.failed(f"queue(s) {names} exist but no job was ever added to them", evidence=evidence)
    verdicts = [_queue_verdict(q, jobs.waited_s) for q in seen]
    worst = min(verdicts, key=lambda v: (v.outcome is not Outcome.FAIL, v.outcome is not Outcome.WARN))
    return Verdict(worst.outcome, worst.score, worst.summary, evidence=evidence)


def _queue_verdict(queue: QueueCounts, waited_s: float) -> Verdict:
    name, pending, done = queue.name, queue.pending, queue.processed
    if done and not pending:
        return Verdict.passed(f"{name}: {done} job(s) completed, none left waiting")
    if done:
        return Verdict.warned(
            f"{name}: {done} job(s) completed, but {pending} still waiting or active after {waited_s:.0f} s", score=0.5
        )
    if queue.failures:
        reason = f": {queue.last_failure}" if queue.last_failure else ""
        return Verdict.failed(f"{name}: jobs are picked up but every one failed{reason}", score=0.5)
    if pending:
        return Verdict.failed(f"{name}: {pending} job(s) waiting, none processed after {waited_s:.0f} s (no worker?)")
    if queue.delayed:
        return Verdict.warned(f"{name}: {queue.delayed} job(s) delayed, none processed yet", score=0.5)
    return Verdict.passed(f"{name}: {queue.seen} job(s) added and none left waiting (completed jobs are not kept)")


def _queue_evidence(queue: QueueCounts) -> Evidence:
    parts = (
        f"{queue.waiting} waiting, {queue.active} active, {queue.delayed} delayed, {queue.completed} completed, "
        f"{queue.failed} failed kept"
    )
    events = (
        f"; latest events: {queue.added_events} added, {queue.completed_events} completed, {queue.failed_events} failed"
    )
    failure = f"; last failure: {queue.last_failure}" if queue.last_failure else ""
    return Evidence(f"queue {queue.name}: {parts}{events}{failure}")


def _status_verdict(jobs: JobsFacts, triggered: Sequence[Evidence]) -> Verdict:
    status = jobs.status
    assert status is not None
    last = (exchange_evidence(status.last, f"status read {status.reads} time(s)"),) if status.last else ()
    evidence = (*triggered, *last)
    if status.job_id is None:
        return Verdict.failed("the enqueue request did not answer with a job id (id, jobId...)", evidence=evidence)
    if status.state == "completed":
        return Verdict.passed(f"job {status.job_id} {status.value} within {jobs.waited_s:.1f} s", evidence=evidence)
    if status.state == "failed":
        return Verdict.failed(f"job {status.job_id} {status.value}", score=0.5, evidence=evidence)
    if status.state == "pending":
        return Verdict.failed(
            f"job {status.job_id} was still {status.value!r} after {jobs.waited_s:.0f} s", evidence=evidence
        )
    return Verdict.failed(
        f"the status of job {status.job_id} could not be read (no status or state field)", evidence=evidence
    )
