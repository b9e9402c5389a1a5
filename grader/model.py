"""The typed vocabulary shared by the engine, the checks and the reporters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "1.0"


class Outcome(StrEnum):
    """What a check concluded about one criterion."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    NOT_APPLICABLE = "not_applicable"
    ERROR = "error"  # the grader's fault: never counted against the learner
    MANUAL = "manual"  # no program can judge it: shown, never scored
    NOT_RUN = "not_run"  # could not run here (not yet automated, tool missing): never scored

    @property
    def scored(self) -> bool:
        """Whether a result with this outcome counts towards the score."""
        return self in (Outcome.PASS, Outcome.FAIL, Outcome.WARN)

    @property
    def label(self) -> str:
        """Human label, e.g. 'not run'."""
        return self.value.replace("_", " ")


# Worst first: the order a criterion's several checks are combined in, and the order reports list them.
OUTCOME_SEVERITY: tuple[Outcome, ...] = (
    Outcome.ERROR,
    Outcome.FAIL,
    Outcome.WARN,
    Outcome.NOT_RUN,
    Outcome.PASS,
    Outcome.MANUAL,
    Outcome.NOT_APPLICABLE,
)


@dataclass(frozen=True, slots=True)
class Location:
    """Where evidence points: a file and line, optionally in a given commit."""

    path: str
    line: int | None = None
    commit: str | None = None

    def __str__(self) -> str:
        text = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{text} @ {self.commit[:10]}" if self.commit else text


@dataclass(frozen=True, slots=True)
class Distribution:
    """A measured cumulative distribution to draw (e.g. latencies): (value, fraction of samples <= value)."""

    unit: str
    points: tuple[tuple[float, float], ...]
    threshold: float | None = None  # marked on the chart
    quantile: float | None = None  # the fraction the threshold applies to (e.g. 0.95 for a p95 limit)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation that supports a verdict (redacted before it is stored)."""

    message: str
    location: Location | None = None
    detail: str | None = None  # e.g. a log tail or a trimmed response
    distribution: Distribution | None = None  # drawn as a chart in the HTML report


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a check function returns: the runner turns it into a CheckResult."""

    outcome: Outcome
    score: float | None
    summary: str
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    evidence: tuple[Evidence, ...] = ()

    @classmethod
    def passed(cls, summary: str, **kw: Any) -> Verdict:
        """A full-marks verdict."""
        return cls(Outcome.PASS, 1.0, summary, **kw)

    @classmethod
    def failed(cls, summary: str, score: float = 0.0, **kw: Any) -> Verdict:
        """A failing verdict, with optional partial credit."""
        return cls(Outcome.FAIL, score, summary, **kw)

    @classmethod
    def warned(cls, summary: str, score: float = 1.0, **kw: Any) -> Verdict:
        """Good enough to count, but worth a look."""
        return cls(Outcome.WARN, score, summary, **kw)

    @classmethod
    def not_applicable(cls, summary: str, **kw: Any) -> Verdict:
        """The criterion does not apply to this project."""
        return cls(Outcome.NOT_APPLICABLE, None, summary, **kw)

    @classmethod
    def not_run(cls, summary: str, **kw: Any) -> Verdict:
        """The check could not run on this machine; says why."""
        return cls(Outcome.NOT_RUN, None, summary, **kw)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The judged result of one check on one criterion."""

    check_id: str
    title: str
    outcome: Outcome
    score: float | None
    summary: str
    weight: float
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    evidence: tuple[Evidence, ...] = ()
    remediation: str | None = None
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """One completion criterion of the phase and the checks that judged it."""

    text: str
    section: str
    kind: str  # "completion" (the roadmap's own list), "carried" or "feature"
    outcome: Outcome
    score: float | None
    weight: float
    required: bool
    checks: tuple[CheckResult, ...] = ()
    manual_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """What was graded."""

    path: str
    name: str
    commit: str | None
    branch: str | None
    dirty: bool


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """How one probe went: shown in the report so the grader's work is visible."""

    probe_id: str
    ok: bool
    duration_ms: float
    error: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AssertionResult:
    """One asserted check re-judged as a gate; it never changes a score or a criterion's outcome."""

    check_id: str
    level: str  # "error" (fails the run unless the check passes) or "warn" (reported only)
    outcome: Outcome  # the check's outcome with the asserted options
    summary: str
    source: str  # "curriculum" or "grade.toml"

    @property
    def failed(self) -> bool:
        """The asserted check did not pass (not applicable counts as passing)."""
        return self.outcome not in (Outcome.PASS, Outcome.NOT_APPLICABLE)

    @property
    def blocking(self) -> bool:
        """A failed error-level assertion: the run fails whatever the score."""
        return self.failed and self.level == "error"


@dataclass(frozen=True, slots=True)
class Report:
    """The whole outcome of one grading run; every reporter renders only this."""

    schema_version: str
    grader_version: str
    curriculum: str
    curriculum_sha256: str
    phase: int
    phase_title: str
    target: Target
    started_at: str
    duration_s: float
    score: float | None  # 0-100, None when nothing could be scored
    pass_mark: float
    passed: bool
    incomplete: bool
    criteria: tuple[CriterionResult, ...]
    probes: tuple[ProbeRecord, ...] = ()
    plugin_errors: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    assertions: tuple[AssertionResult, ...] = ()

    def counts(self) -> dict[str, int]:
        """How many criteria ended in each outcome."""
        out = {o.value: 0 for o in Outcome}
        for c in self.criteria:
            out[c.outcome.value] += 1
        return out


@dataclass(frozen=True, slots=True)
class GradeRequest:
    """Everything `api.grade` needs; the CLI only builds one of these."""

    path: Path
    phase: int
    curriculum: Path | None = None
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    min_score: float | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_timeout_s: float | None = None
    load_plugins: bool = True
    url: str | None = None  # grade this already running service; never start or stop anything
    live_url: str | None = None  # the deployed app (HTTPS, live demo checks); only the deploy probes reach it
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the service the grader starts
    isolation: str = "auto"  # how learner processes are confined: auto | process | bwrap | docker (grader.isolation)
