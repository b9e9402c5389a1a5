"""Facts: what probes gathered, computed at most once per run and shared by checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from grader.errors import ProbeError
from grader.isolation import UNCONFINED, Isolation
from grader.plugin import ProbeSpec
from grader.project_config import ProjectConfig

T = TypeVar("T")
_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class FactError:
    """Stored in place of a fact whose probe failed; checks needing it become `error`."""

    probe_id: str
    message: str


class NotRunnable(Exception):
    """Raised by a probe whose fact cannot be gathered here (no service, no engine): its checks are 'not run'."""


@dataclass(frozen=True, slots=True)
class FactNotRun:
    """Stored in place of a fact that could not be gathered on this machine or run; says why."""

    probe_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """How to reach the learner's service: an already running URL, and environment for the one we start."""

    url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    live_url: str | None = None  # the deployed app (--live-url), reached only by the deploy probes


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What a probe may use: the target, the learner's config, a scratch dir and other facts."""

    target: Path
    config: ProjectConfig
    scratch: Path
    store: FactStore
    test_timeout_s: float
    live: LiveOptions = LiveOptions()
    defer: Callable[[Callable[[], None]], object] = lambda _callback: None  # run at the end of grading, always
    isolation: Isolation = field(default_factory=lambda: UNCONFINED)  # how learner processes are confined

    def fact(self, probe_id: str, kind: type[T]) -> T:
        """Another probe's fact; raises ProbeError if that probe failed."""
        value = self.store.get(probe_id)
        if isinstance(value, FactError):
            raise ProbeError(f"needs {probe_id!r}, which failed: {value.message}")
        if isinstance(value, FactNotRun):
            raise NotRunnable(value.reason)
        if not isinstance(value, kind):
            raise ProbeError(f"fact {probe_id!r} is a {type(value).__name__}, not a {kind.__name__}")
        return value


ProbeListener = Callable[[str, str, "ProbeOutcome | None"], None]


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """How one probe run went, for the report and the progress display."""

    probe_id: str
    duration_ms: float
    error: str | None


@dataclass
class FactStore:
    """Runs each probe at most once, each in its own thread with a timeout, and memoises the fact."""

    probes: Mapping[str, ProbeSpec]
    make_context: Callable[[FactStore], ProbeContext]
    listener: ProbeListener | None = None
    _futures: dict[str, Future[Any]] = field(default_factory=dict)
    _outcomes: dict[str, ProbeOutcome] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)  # which probe this thread runs
    _began: dict[str, float] = field(default_factory=dict)
    _waiting: dict[str, float] = field(default_factory=dict)  # seconds each probe spent waiting for others
    _wait_since: dict[str, float] = field(default_factory=dict)  # when a probe began its current wait

    def start(self, *probe_ids: str) -> Future[Any]:
        """Start probes in the background (each once); return the future of the first.

        All of them are registered before any begins, so a probe that waits for "every other
        probe of this run" (a burst, a restart) sees the whole set.
        """
        new: list[tuple[str, Future[Any]]] = []
        with self._lock:
            for probe_id in probe_ids:
                if probe_id not in self._futures:
                    self._futures[probe_id] = Future()
                    new.append((probe_id, self._futures[probe_id]))
            first = self._futures[probe_ids[0]]
        for probe_id, fut in new:
            spec = self.probes.get(probe_id)
            if spec is None:
                fut.set_result(FactError(probe_id, f"no probe provides {probe_id!r}"))
            else:
                threading.Thread(target=self._run, args=(spec, fut), name=f"probe:{spec.id}", daemon=True).start()
        return first

    def get(self, probe_id: str) -> Any:
        """The fact (or a FactError), waiting until the probe has spent its own timeout.

        Time a probe spends waiting for other facts does not count against it, so a probe that
        needs the started service is not timed out while the service installs.
        """
        fut = self.start(probe_id)
        spec = self.probes.get(probe_id)
        timeout = spec.timeout_s if spec else 0.0
        caller = getattr(self._local, "probe", None)
        waited_from = time.monotonic()
        if caller is not None:
            with self._lock:
                self._wait_since[caller] = waited_from
        try:
            while True:
                try:
                    return fut.result(timeout=_POLL_S)
                except TimeoutError:
                    if self._own_time(probe_id) > timeout:
                        return self._timed_out(probe_id, timeout)
        finally:
            if caller is not None:
                with self._lock:
                    del self._wait_since[caller]
                    self._waiting[caller] = self._waiting.get(caller, 0.0) + time.monotonic() - waited_from

    def _own_time(self, probe_id: str) -> float:
        """Seconds the probe has run, not counting its waits for other facts."""
        now = time.monotonic()
        with self._lock:
            began = self._began.get(probe_id)
            waiting = self._waiting.get(probe_id, 0.0) + now - self._wait_since.get(probe_id, now)
            return 0.0 if began is None else now - began - waiting

    def _timed_out(self, probe_id: str, timeout: float) -> FactError:
        error = FactError(probe_id, f"probe timed out after {timeout:.0f} s")
        fut = self._futures[probe_id]
        with self._lock:
            if not fut.done():
                fut.set_result(error)  # later readers get the error at once; the late value is dropped
        self._record(probe_id, timeout * 1000, error.message)
        return fut.result()

    def started(self) -> tuple[str, ...]:
        """The probes started so far in this run (the runner starts every needed one up front)."""
        with self._lock:
            return tuple(self._futures)

    def outcomes(self) -> tuple[ProbeOutcome, ...]:
        """Every probe that ran, in the order they finished."""
        return tuple(self._outcomes.values())

    def _run(self, spec: ProbeSpec, fut: Future[Any]) -> None:
        self._local.probe = spec.id
        with self._lock:
            self._began[spec.id] = time.monotonic()
        if self.listener:
            self.listener(spec.id, "start", None)
        began = time.perf_counter()
        try:
            value: Any = spec.func(self.make_context(self))
            error = None
        except NotRunnable as exc:
            value = FactNotRun(spec.id, str(exc))
            error = None
        except Exception as exc:  # the fact becomes the error; the run goes on
            error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ProbeError) else str(exc)
            value = FactError(spec.id, error)
        self._record(spec.id, (time.perf_counter() - began) * 1000, error)
        with self._lock:
            if not fut.done():
                fut.set_result(value)

    def _record(self, probe_id: str, duration_ms: float, error: str | None) -> None:
        with self._lock:
            if probe_id in self._outcomes:
                return
            outcome = ProbeOutcome(probe_id, duration_ms, error)
            self._outcomes[probe_id] = outcome
        if self.listener:
            self.listener(probe_id, "done", outcome)


@dataclass(frozen=True, slots=True)
class Facts:
    """The read-only view of facts a check receives: only the ones it declared."""

    values: Mapping[str, Any]

    def get(self, probe_id: str, kind: type[T]) -> T:
        """The fact gathered by `probe_id`, checked to be of type `kind`."""
        value = self.values[probe_id]
        if not isinstance(value, kind):
            raise TypeError(f"fact {probe_id!r} is a {type(value).__name__}, expected {kind.__name__}")
        return value
