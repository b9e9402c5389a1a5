"""Grade many submissions of one phase: snapshot, reuse cached results, grade the rest in parallel.

Each submission is graded by its own child process under a wall limit (:mod:`grader.batch.isolated`),
so a crash or hang of one submission never affects another. On Ctrl-C no further submission
starts, the running ones are killed, finished results stay, and the outputs are written for
what finished; a re-run resumes from the cache.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol, TextIO

from grader.api import prepare
from grader.batch.cache import cache_key, cached_result, grader_fingerprint, store_result
from grader.batch.isolated import clear_folder, run_isolated
from grader.batch.model import Job, Status, Submission, SubmissionResult, grade_settings, utc_now
from grader.batch.overview import BatchMeta, write_outputs
from grader.batch.progress import BatchProgress
from grader.batch.snapshot import SnapshotError, take_snapshot
from grader.errors import UsageError
from grader.model import GradeRequest
from grader.runner import select

LOAD_PROBE = "perf.load"
DEFAULT_TIMEOUT_S = 900.0


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """How to grade the batch (`request.path` is ignored: each submission gets its own copy)."""

    request: GradeRequest
    out: Path
    jobs: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    force: bool = False
    deadline: datetime | None = None
    formats: tuple[str, ...] = ("html", "json")


@dataclass(slots=True)
class BatchRun:
    """What a batch did: results in roster order, and whether it was interrupted."""

    results: list[SubmissionResult]
    pending: list[Submission]  # not finished (interrupted)
    outputs: list[Path] = field(default_factory=list)
    interrupted: bool = False

    @property
    def all_graded(self) -> bool:
        """Every submission was graded (whatever its score)."""
        return not self.pending and all(r.status is Status.GRADED for r in self.results)


class Backend(Protocol):
    """Where jobs run: child processes here, or a Dask cluster."""

    slots: int  # how many submissions are handled at once

    def ready(self, needs_load_slot: bool) -> None:
        """Raise UsageError if this backend cannot run the phase (e.g. no worker for load tests)."""
        ...

    def grade(self, job: Job, folder: Path, stop: threading.Event) -> SubmissionResult | None:
        """Grade one job, its reports landing in `folder`; None when stopped before it finished."""
        ...

    def stop(self) -> None:
        """Stop the running jobs (called once, on interrupt)."""
        ...


class LocalBackend:
    """Each job in a child process on this machine, `jobs` at a time."""

    def __init__(self, jobs: int) -> None:
        self.slots = max(1, jobs)

    def ready(self, needs_load_slot: bool) -> None:
        """Always ready: load runs take the machine-wide slot of grader.slots themselves."""

    def grade(self, job: Job, folder: Path, stop: threading.Event) -> SubmissionResult | None:
        """Run the worker for `job` in a child process."""
        return run_isolated(job, folder, stop.is_set)

    def stop(self) -> None:
        """Nothing to do: every running child sees the stop event and is killed."""


def run_batch(
    submissions: Sequence[Submission],
    settings: BatchSettings,
    *,
    backend: Backend | None = None,
    stream: TextIO | None = None,
    quiet: bool = False,
) -> BatchRun:
    """Grade every submission (reusing cached results) and write the class outputs.

    UsageError for a bad request (unknown phase or check), or when another batch writes to `settings.out`.
    """
    plan = _Plan(settings, backend or LocalBackend(settings.jobs))
    progress = BatchProgress(len(submissions), stream or sys.stderr, enabled=not quiet)
    settings.out.mkdir(parents=True, exist_ok=True)
    with _only_batch_in(settings.out):
        run = plan.run(submissions, progress)
        run.outputs = write_outputs(settings.out, run.results, plan.meta(run.pending))
    return run


class _Plan:
    """One batch: the checks and the cache key settings, fixed before any submission starts."""

    def __init__(self, settings: BatchSettings, backend: Backend) -> None:
        template = settings.request
        registry, self.curriculum = prepare(template)
        self.phase = select(self.curriculum.phase(template.phase), registry.checks, template.only, template.skip)
        self.needs_slot = any(LOAD_PROBE in registry.checks[c].requires for c in self.phase.check_ids())
        backend.ready(self.needs_slot)
        self.settings, self.backend = settings, backend
        self.request = grade_settings(template)
        self.formats = tuple(dict.fromkeys((*settings.formats, "json")))
        self.deadline = settings.deadline.isoformat() if settings.deadline else None
        self.key_settings = {"request": self.request, "formats": self.formats, "deadline": self.deadline}
        self.stop = threading.Event()

    def run(self, submissions: Sequence[Submission], progress: BatchProgress) -> BatchRun:
        """Grade them `backend.slots` at a time; on Ctrl-C (or SIGTERM) stop and keep what finished."""
        finished: dict[str, SubmissionResult] = {}
        interrupted = False
        with ThreadPoolExecutor(self.backend.slots, thread_name_prefix="grade-batch") as pool:
            futures = {pool.submit(self.grade, s): s for s in submissions}
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                    for future in done:
                        _collect(future, futures[future], finished, progress)
                    progress.tick()
            except (KeyboardInterrupt, SystemExit):
                interrupted = True
                self.stop.set()
                self.backend.stop()
                for future in pending:
                    future.cancel()
                for future in wait(pending).done:  # the running ones end quickly once stopped
                    if not future.cancelled():
                        _collect(future, futures[future], finished, progress)
            finally:
                progress.close()
        return BatchRun(
            results=[finished[s.slug] for s in submissions if s.slug in finished],
            pending=[s for s in submissions if s.slug not in finished],
            interrupted=interrupted,
        )

    def grade(self, submission: Submission) -> SubmissionResult | None:
        """Snapshot one submission, reuse its cached result or grade it; None if stopped first."""
        if self.stop.is_set():
            return None
        folder = self.settings.out / submission.slug
        try:
            snapshot = take_snapshot(submission, self.settings.deadline, self.settings.out / ".sources")
        except SnapshotError as exc:
            return _stored(folder, _not_graded(submission, Status.FAILED, str(exc), self.deadline))
        if snapshot.identity == "":
            failed = _not_graded(submission, Status.FAILED, snapshot.note, self.deadline)
            return _stored(folder, replace(failed, late_commits=snapshot.late_commits, late_total=snapshot.late_total))
        key = cache_key(snapshot.identity, self.curriculum.sha256, self.phase.id, self.key_settings)
        cached = None if self.settings.force else cached_result(folder, key)
        if cached is not None:
            return replace(cached, cached=True)
        if self.stop.is_set():
            return None
        timeout_s = self.settings.timeout_s
        job = Job(submission, snapshot, self.request, self.formats, key, timeout_s, self.deadline, self.needs_slot)
        clear_folder(folder)
        result = self.backend.grade(job, folder, self.stop)
        return None if result is None else _stored(folder, result)

    def meta(self, pending: Sequence[Submission]) -> BatchMeta:
        """What the class outputs say about the batch."""
        return BatchMeta(
            curriculum=self.curriculum.name,
            curriculum_sha256=self.curriculum.sha256,
            phase=self.phase.id,
            phase_title=self.phase.title,
            deadline=self.deadline,
            grader=grader_fingerprint(),
            generated_at=utc_now(),
            settings=self.key_settings,
            pending=tuple(s.student for s in pending),
        )


@contextmanager
def _only_batch_in(out: Path) -> Iterator[None]:
    """Hold `<out>/.batch.lock`; UsageError if another batch is writing there."""
    with (out / ".batch.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another `grade batch` is writing to {out}: wait for it, or use another --out") from None
        yield


def default_jobs() -> int:
    """Half the CPUs this process may use (grading one submission keeps more than one busy), at least 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cpus // 2)


def summary_line(run: BatchRun) -> str:
    """'20 submissions: 18 graded (15 passed, 2 failed, 1 incomplete), 2 not graded; class overview: ...'."""
    graded = [r for r in run.results if r.status is Status.GRADED]
    verdicts = ", ".join(f"{sum(r.verdict == v for r in graded)} {v}" for v in ("passed", "failed", "incomplete"))
    total = len(run.results) + len(run.pending)
    text = f"{total} submissions: {len(graded)} graded ({verdicts}), {len(run.results) - len(graded)} not graded"
    if run.pending:
        text += f", {len(run.pending)} interrupted (run again to resume)"
    return f"{text}; outputs: {', '.join(str(p) for p in run.outputs)}"


def _collect(
    future: Future[SubmissionResult | None],
    submission: Submission,
    finished: dict[str, SubmissionResult],
    progress: BatchProgress,
) -> None:
    try:
        result = future.result()
    except Exception as exc:  # a bug in the batch itself: this submission only
        result = _not_graded(submission, Status.CRASHED, f"batch error: {type(exc).__name__}: {exc}", None)
    if result is not None:
        finished[submission.slug] = result
        progress.finished(result)


def _stored(folder: Path, result: SubmissionResult) -> SubmissionResult:
    store_result(folder, result)
    return result


def _not_graded(submission: Submission, status: Status, reason: str, deadline: str | None) -> SubmissionResult:
    return SubmissionResult(
        student=submission.student,
        slug=submission.slug,
        source=submission.source,
        status=status,
        reason=reason,
        key="",
        deadline=deadline,
        finished_at=utc_now(),
    )
