"""The child process that grades one submission: `python -m grader.batch.worker JOB.json OUT_DIR`.

It makes the fresh copy in a temporary folder, grades it with :func:`grader.api.grade`, writes
the reports into OUT_DIR and then `outcome.json` (written last: its absence means the worker
died). It is a child subreaper, and before it exits it kills whatever learner process is still
alive below it. SIGTERM unwinds normally, so the services the grader started are stopped.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.api import grade
from grader.batch.model import Job, Status, grade_request, job_from, to_json
from grader.batch.procs import become_subreaper, kill_tree, reap_children
from grader.batch.snapshot import SnapshotError, materialize
from grader.errors import UsageError
from grader.model import Report
from grader.reporters import write_reports

OUTCOME_FILE = "outcome.json"


def main(argv: Sequence[str] | None = None) -> int:
    """Grade the job in argv[0], writing into argv[1]; 0 when an outcome was written."""
    job_path, out = (Path(a) for a in (sys.argv[1:] if argv is None else argv))
    signal.signal(signal.SIGTERM, _terminated)
    become_subreaper()
    job = job_from(json.loads(job_path.read_text(encoding="utf-8")))
    outcome = run_job(job, out)
    tmp = out / f".{OUTCOME_FILE}.tmp"
    tmp.write_text(json.dumps(outcome, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, out / OUTCOME_FILE)
    return 0


def run_job(job: Job, out: Path) -> dict[str, Any]:
    """Copy, grade, write the reports; the outcome as JSON data ({"status", "reason", "reports"})."""
    with tempfile.TemporaryDirectory(prefix="grade-batch-", ignore_cleanup_errors=True) as tmp:
        copy = Path(tmp) / job.submission.slug
        try:
            materialize(job.snapshot, copy, job.timeout_s)
            report = _as_submitted(grade(grade_request(job.request, copy)), job)
            paths = write_reports(report, out, job.formats)
            names = [p.name for p in paths]
            return {"status": Status.GRADED, "reason": "", "reports": names, "json_report": _json_name(names)}
        except (SnapshotError, UsageError) as exc:  # e.g. the learner's grade.toml is malformed
            reason = str(exc).replace(str(copy), job.submission.source)  # name the submission, not the copy
            return {"status": Status.FAILED, "reason": reason, "reports": []}
        except Exception as exc:  # a grader bug: this submission is lost, the batch goes on
            traceback.print_exc()
            return {"status": Status.CRASHED, "reason": f"internal error: {type(exc).__name__}: {exc}", "reports": []}
        finally:
            kill_tree(os.getpid(), include_root=False)  # whatever learner process outlived the grading
            reap_children()


def _json_name(names: list[str]) -> str | None:
    return next((n for n in names if n.endswith(".json")), None)


def _as_submitted(report: Report, job: Job) -> Report:
    """The report naming the submission (not the temporary copy) and what the batch graded."""
    submission, snapshot = job.submission, job.snapshot
    batch = {
        "student": submission.student,
        "source": submission.source,
        "deadline": job.deadline,
        "note": snapshot.note,
        "late_total": snapshot.late_total,
        "late_commits": [to_json(c) for c in snapshot.late_commits],
    }
    target = replace(report.target, path=submission.source)
    return replace(report, target=target, options={**report.options, "batch": batch})


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
