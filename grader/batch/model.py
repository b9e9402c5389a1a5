"""The batch's vocabulary: a roster entry, the snapshot graded, the job sent to a worker, its result.

Everything here is plain data that survives a JSON round trip (the child process reads its job
from a file; results are stored next to each submission's reports and cached there).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from grader.model import GradeRequest


class Status(StrEnum):
    """How grading one submission ended (its score, if any, is in its report)."""

    GRADED = "graded"
    FAILED = "failed_to_grade"  # could not be graded: no commit before the deadline, clone failed, bad grade.toml...
    TIMED_OUT = "timed_out"  # over the per-submission wall limit; its processes were killed
    CRASHED = "crashed"  # the grader process died or hit an internal error

    @property
    def label(self) -> str:
        """Human label, e.g. 'timed out'."""
        return self.value.replace("_", " ")


@dataclass(frozen=True, slots=True)
class Submission:
    """One roster entry: who, and where their work is (a folder, a git repository or a git URL)."""

    student: str
    source: str  # as given: a path (made absolute) or a git URL
    slug: str  # unique in the batch, safe as a folder name: the submission's output folder


@dataclass(frozen=True, slots=True)
class LateCommit:
    """A commit on the graded branch made after the deadline (not graded)."""

    sha: str
    committed_at: str  # ISO 8601, the committer date
    subject: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Exactly what is graded for a submission, decided before any grading starts."""

    kind: str  # "git" (a commit of a repository) or "folder" (a plain directory as found)
    origin: str  # the local copy to clone or copy from: a bare mirror of the repository, or the folder
    commit: str | None  # the commit graded (git), None for a folder or when no commit qualifies
    branch: str | None  # the default branch the commit was taken from (None: detached HEAD)
    content_hash: str | None  # sha256 of a folder's files (folders only)
    note: str  # one line for people: which commit and why, or why there is none
    late_commits: tuple[LateCommit, ...] = ()  # after the deadline, newest first (at most MAX_LATE listed)
    late_total: int = 0  # how many commits came after the deadline

    @property
    def identity(self) -> str:
        """What the cache keys on: the commit, or the folder's content hash."""
        return self.commit or self.content_hash or ""


@dataclass(frozen=True, slots=True)
class Job:
    """Everything a worker needs to grade one submission, anywhere."""

    submission: Submission
    snapshot: Snapshot
    request: dict[str, Any]  # GradeRequest fields except `path`, JSON-safe
    formats: tuple[str, ...]  # report formats; always includes json
    key: str  # the cache key of the result
    timeout_s: float  # the wall limit of the whole job (copy and grade)
    deadline: str | None = None  # ISO 8601, as given
    needs_load_slot: bool = False  # the phase runs load tests (perf.load): one at a time per machine


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    """The batch's record of one submission, stored as `<out>/<slug>/result.json`."""

    student: str
    slug: str
    source: str
    status: Status
    reason: str  # why it was not graded ("" when graded)
    key: str  # the cache key it was graded under ("" when there was no snapshot)
    commit: str | None = None
    branch: str | None = None
    content_hash: str | None = None
    deadline: str | None = None
    note: str = ""
    late_commits: tuple[LateCommit, ...] = ()
    late_total: int = 0
    score: float | None = None
    passed: bool | None = None
    incomplete: bool = False
    reports: tuple[str, ...] = ()  # file names in the submission's folder
    json_report: str | None = None  # the JSON report among them
    duration_s: float = 0.0
    finished_at: str = ""
    cached: bool = field(default=False, compare=False)  # reused from an earlier run (not stored)

    @property
    def verdict(self) -> str:
        """'passed', 'failed', 'incomplete', or the status when it was not graded."""
        if self.status is not Status.GRADED:
            return self.status.value
        if self.incomplete:
            return "incomplete"
        return "passed" if self.passed else "failed"


def utc_now() -> str:
    """The time now, UTC, to the second, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def to_json(obj: Submission | Snapshot | Job | SubmissionResult | LateCommit) -> dict[str, Any]:
    """Plain JSON data (tuples become lists; the transient `cached` flag is dropped)."""
    data = asdict(obj)
    data.pop("cached", None)
    return data


def submission_from(data: dict[str, Any]) -> Submission:
    """Rebuild a Submission."""
    return Submission(**data)


def snapshot_from(data: dict[str, Any]) -> Snapshot:
    """Rebuild a Snapshot."""
    late = tuple(LateCommit(**c) for c in data.get("late_commits", ()))
    return Snapshot(**{**data, "late_commits": late})


def job_from(data: dict[str, Any]) -> Job:
    """Rebuild a Job."""
    return Job(
        **{
            **data,
            "submission": submission_from(data["submission"]),
            "snapshot": snapshot_from(data["snapshot"]),
            "formats": tuple(data["formats"]),
        }
    )


def result_from(data: dict[str, Any]) -> SubmissionResult:
    """Rebuild a SubmissionResult (KeyError/TypeError/ValueError when it is not one)."""
    return SubmissionResult(
        **{
            **data,
            "status": Status(data["status"]),
            "late_commits": tuple(LateCommit(**c) for c in data.get("late_commits", ())),
            "reports": tuple(data.get("reports", ())),
        }
    )


def grade_settings(request: GradeRequest) -> dict[str, Any]:
    """A GradeRequest's fields but `path`, as JSON data (the curriculum path made absolute)."""
    settings = {f.name: getattr(request, f.name) for f in fields(request) if f.name != "path"}
    settings["curriculum"] = str(request.curriculum.resolve()) if request.curriculum else None
    return json.loads(json.dumps(settings))


def grade_request(settings: dict[str, Any], path: Path) -> GradeRequest:
    """The GradeRequest that :func:`grade_settings` describes, for the project at `path`."""
    curriculum = settings.get("curriculum")
    return GradeRequest(
        path=path,
        **{
            **settings,
            "curriculum": Path(curriculum) if curriculum else None,
            "only": tuple(settings.get("only", ())),
            "skip": tuple(settings.get("skip", ())),
        },
    )
