"""The progress line: done/total, failures so far, ETA at the pace of the submissions really graded."""

from __future__ import annotations

import io
from dataclasses import replace

from grader.batch.model import Status, SubmissionResult
from grader.batch.progress import BatchProgress

GRADED = SubmissionResult("ana", "ana", "/s/ana", Status.GRADED, "", "k", score=85.25, passed=True)
TIMED_OUT = SubmissionResult("bo", "bo", "/s/bo", Status.TIMED_OUT, "over the 900 s limit", "k")


def test_each_finished_submission_is_one_line_with_the_counts() -> None:
    stream = io.StringIO()
    progress = BatchProgress(3, stream)
    progress.finished(replace(GRADED, cached=True))
    assert progress.eta_s() is None  # nothing graded yet: no pace to go by
    progress.finished(TIMED_OUT)
    eta = progress.eta_s()
    assert eta is not None and eta >= 0
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[1/3] ana: passed, 85.2/100 (cached) · 1/3 done, 0 not graded, 1 from cache, ETA —"
    assert lines[1].startswith("[2/3] bo: timed out: over the 900 s limit · 2/3 done, 1 not graded, 1 from cache, ETA ")


def test_quiet_progress_prints_nothing() -> None:
    stream = io.StringIO()
    progress = BatchProgress(1, stream, enabled=False)
    progress.finished(GRADED)
    progress.close()
    assert stream.getvalue() == "" and progress.eta_s() == 0.0
