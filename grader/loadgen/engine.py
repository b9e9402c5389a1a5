"""The open-model schedule, run on one asyncio loop in this process, and the generator watching itself.

User i sends its k-th request at origin + i * pacing / users + k * pacing. If its previous request
is still in flight then, it sends as soon as its connection is free, and the latency is still
timed from the intended time: a stalled service cannot hide its stall by slowing the generator
down (no coordinated omission). A request not answered within timeout_s of its intended time is
a timeout. Requests intended during the warm-up are sent but not recorded.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import itertools
import random
import socket
import time
from dataclasses import dataclass

from grader.loadgen import clock
from grader.loadgen.client import HttpConnection, encode_request, error_kind
from grader.loadgen.plan import LoadPlan, loopback_address
from grader.loadgen.result import LoadResult, Records, new_histogram, summarise

_NS = 1_000_000_000
_LEAD_NS = 100_000_000  # the schedule starts this long after the users are created
_TICK_S = 0.01  # period of the event-loop lag ticker


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    payload: bytes
    head_request: bool


class Generator:
    """Runs one LoadPlan; :meth:`run` returns its LoadResult."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        host, self.port = loopback_address(plan.base_url)
        self.address = str(socket.getaddrinfo(host, self.port, type=socket.SOCK_STREAM)[0][4][0])
        authority = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.entries = [
            _Entry(r.name, encode_request(r.method, r.path, authority, dict(r.headers), r.body), r.method == "HEAD")
            for r in plan.requests
        ]
        self.cum_weights = list(itertools.accumulate(r.weight for r in plan.requests))
        self.total_weight = self.cum_weights[-1]
        self.pacing_ns = round(plan.pacing_s * _NS)
        self.timeout_ns = round(plan.timeout_s * _NS)
        self.records = Records()
        for entry in self.entries:
            self.records.per_request.setdefault(entry.name, new_histogram())
        self.origin_ns = 0
        self.measure_ns = 0
        self.end_ns = 0
        self.users_done = False

    def run(self) -> LoadResult:
        """Run the whole plan (warm-up, measured window, in-flight requests up to their timeout)."""
        gc.collect()
        gc.disable()  # a collection pause would show up as latency
        try:
            clock.run(self._main())
        finally:
            gc.enable()
        return summarise(self.plan, self.records)

    async def _main(self) -> None:
        self.origin_ns = time.perf_counter_ns() + _LEAD_NS
        self.measure_ns = self.origin_ns + round(self.plan.warmup_s * _NS)
        self.end_ns = self.measure_ns + round(self.plan.duration_s * _NS)
        ticker = asyncio.create_task(self._watch())
        await asyncio.gather(*(self._user(i) for i in range(self.plan.users)))
        self.users_done = True
        await ticker

    async def _watch(self) -> None:
        """Measure event-loop lag and CPU use over the measured window."""
        await _sleep_until(self.measure_ns)
        cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
        expected = wall0
        lag = self.records.loop_lag
        while expected < self.end_ns and not self.users_done:
            expected += round(_TICK_S * _NS)
            await _sleep_until(expected)
            lag.record_value(max((time.perf_counter_ns() - expected) // 1000, 1))
        cpu1, wall1 = time.process_time_ns(), time.perf_counter_ns()
        self.records.cpu_fraction = (cpu1 - cpu0) / max(wall1 - wall0, 1)

    async def _user(self, index: int) -> None:
        plan, records = self.plan, self.records
        rng = random.Random(plan.seed * 1_000_003 + index)
        connection: HttpConnection | None = None
        intended = self.origin_ns + index * self.pacing_ns // plan.users
        while intended < self.end_ns:
            now = time.perf_counter_ns()
            if now > self.end_ns + self.timeout_ns:
                break  # so far behind that the run would overrun: only an overloaded generator gets here
            was_free = now < intended
            if was_free:
                await _sleep_until(intended)
                now = time.perf_counter_ns()
            if records.sent_total >= plan.max_requests:
                if records.capped_at_s is None:
                    records.capped_at_s = (intended - self.measure_ns) / _NS
                break
            recorded = intended >= self.measure_ns
            records.sent_total += 1
            records.sent += recorded
            if recorded and was_free:
                records.send_lag.record_value(max((now - intended) // 1000, 1))
            entry = self._pick(rng)
            status, error, connection = await self._exchange(connection, entry, intended)
            if recorded:
                elapsed_ns = self.timeout_ns if error == "timeout" else time.perf_counter_ns() - intended
                records.record(entry.name, elapsed_ns // 1000, status, error)
            intended += self.pacing_ns
        if connection is not None:
            connection.close()

    def _pick(self, rng: random.Random) -> _Entry:
        """An entry of the mix, by weight."""
        if len(self.entries) == 1:
            return self.entries[0]
        index = bisect.bisect_right(self.cum_weights, rng.random() * self.total_weight)
        return self.entries[min(index, len(self.entries) - 1)]

    async def _exchange(
        self, connection: HttpConnection | None, entry: _Entry, intended: int
    ) -> tuple[int, str, HttpConnection | None]:
        """Send one request by its deadline (intended + timeout): (status, "", connection) or (0, error kind, None)."""
        remaining_s = (intended + self.timeout_ns - time.perf_counter_ns()) / _NS
        if remaining_s <= 0:  # it waited for its connection longer than the timeout
            return 0, "timeout", connection
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(loop.time() + remaining_s):
                reused = connection is not None and not connection.closed
                if not reused:
                    connection = await HttpConnection.open(self.address, self.port)
                assert connection is not None
                try:
                    return await connection.request(entry.payload, head_request=entry.head_request), "", connection
                except ConnectionError:
                    if not reused or connection.received:
                        raise
                # the server closed the idle keep-alive connection as we reused it: one retry on a new one
                connection = await HttpConnection.open(self.address, self.port)
                return await connection.request(entry.payload, head_request=entry.head_request), "", connection
        except Exception as exc:  # every failure is counted, never raised
            if connection is not None:
                connection.abort()
            return 0, error_kind(exc), None


async def _sleep_until(deadline_ns: int) -> None:
    delay = deadline_ns - time.perf_counter_ns()
    if delay > 0:
        await asyncio.sleep(delay / _NS)
