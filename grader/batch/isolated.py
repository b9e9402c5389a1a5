"""One submission graded by a child process: `python -m grader.batch.worker` under a wall limit.

The child runs in its own process group, its output going to `worker.log`. On timeout or when
cancelled it gets SIGTERM, so the grader unwinds and stops the services it started; whatever is
still alive after a grace period (the worker and every process below it, found through parent
links, see :mod:`grader.batch.procs`) is stopped and killed. Used as is on a Dask worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grader
from grader.batch.cache import RESULT_FILE
from grader.batch.model import Job, Status, SubmissionResult, to_json, utc_now
from grader.batch.procs import kill_tree
from grader.batch.worker import OUTCOME_FILE
from grader.model import Report
from grader.reporters.json_report import from_dict
from grader.sandbox import spawn

STOP_GRACE_S = 10.0  # after SIGTERM, how long the worker may take to stop its services
JOB_FILE, LOG_FILE = "job.json", "worker.log"
_POLL_S = 0.2


def clear_folder(folder: Path) -> None:
    """Remove what an earlier run left in a submission's folder (only the batch's own files)."""
    folder.mkdir(parents=True, exist_ok=True)
    ours = (RESULT_FILE, OUTCOME_FILE, JOB_FILE, LOG_FILE)
    for entry in folder.iterdir():
        if entry.is_file() and (entry.name in ours or entry.name.startswith("grade-")):
            entry.unlink()


def run_isolated(job: Job, folder: Path, cancelled: Callable[[], bool]) -> SubmissionResult | None:
    """Grade `job` in a child process writing into `folder`; None if `cancelled()` became true first."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / JOB_FILE).write_text(json.dumps(to_json(job), indent=2, ensure_ascii=False), encoding="utf-8")
    began = time.monotonic()
    argv = [sys.executable, "-m", "grader.batch.worker", str(folder / JOB_FILE), str(folder)]
    with (folder / LOG_FILE).open("wb") as log:
        proc = spawn(argv, cwd=folder, env=_worker_env(), stdout=log)
    try:
        timed_out = _wait(proc, began + job.timeout_s, cancelled)
    except BaseException:
        _stop(proc)
        raise
    if timed_out is None:
        return None
    duration = round(time.monotonic() - began, 2)
    if timed_out:
        reason = f"over the {job.timeout_s:g} s limit: the grading and every process it started were killed"
        return _result(job, Status.TIMED_OUT, reason, duration)
    return _read_outcome(job, folder, proc.returncode, duration)


def _wait(proc: subprocess.Popen[bytes], deadline: float, cancelled: Callable[[], bool]) -> bool | None:
    """Wait for the worker: False when it ended, True on timeout, None when cancelled (both killed)."""
    while True:
        try:
            proc.wait(timeout=_POLL_S)
            return False
        except subprocess.TimeoutExpired:
            pass
        if cancelled():
            _stop(proc)
            return None
        if time.monotonic() > deadline:
            _stop(proc)
            return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker so it stops its services; after the grace period kill its whole tree."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE_S)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
    proc.wait()


def _worker_env() -> dict[str, str]:
    """The grader's own environment, able to import this very grader."""
    root = str(Path(grader.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def _read_outcome(job: Job, folder: Path, returncode: int | None, duration: float) -> SubmissionResult:
    try:
        outcome = json.loads((folder / OUTCOME_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        how = f"was killed by signal {-returncode}" if returncode and returncode < 0 else f"exited {returncode}"
        return _result(job, Status.CRASHED, f"the grading process {how} without a result{_log_tail(folder)}", duration)
    status = Status(outcome["status"])
    if status is not Status.GRADED:
        return _result(job, status, outcome["reason"], duration)
    try:
        report = from_dict(json.loads((folder / outcome["json_report"]).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return _result(job, Status.CRASHED, f"its JSON report is unreadable: {exc}", duration)
    return _result(job, Status.GRADED, "", duration, report, tuple(outcome["reports"]), outcome["json_report"])


def _log_tail(folder: Path) -> str:
    try:
        lines = (folder / LOG_FILE).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f": {lines[-1][:300]}" if lines else ""


def _result(
    job: Job,
    status: Status,
    reason: str,
    duration: float,
    report: Report | None = None,
    reports: tuple[str, ...] = (),
    json_report: str | None = None,
) -> SubmissionResult:
    snapshot = job.snapshot
    return SubmissionResult(
        student=job.submission.student,
        slug=job.submission.slug,
        source=job.submission.source,
        status=status,
        reason=reason,
        key=job.key,
        commit=snapshot.commit,
        branch=snapshot.branch,
        content_hash=snapshot.content_hash,
        deadline=job.deadline,
        note=snapshot.note,
        late_commits=snapshot.late_commits,
        late_total=snapshot.late_total,
        score=report.score if report else None,
        passed=report.passed if report else None,
        incomplete=report.incomplete if report else False,
        reports=reports,
        json_report=json_report,
        duration_s=duration,
        finished_at=utc_now(),
    )
