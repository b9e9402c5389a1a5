"""Compare two reports (`grade diff OLD.json NEW.json`): pure functions, no I/O.

Each report's checks are collapsed by check id (a check judging several criteria keeps its
worst occurrence), then compared: the outcome first (error < fail < warn < not run < pass,
with manual and not applicable counting as pass), then the score, then the measured value
(whose direction is unknown, so a value-only change is just "changed").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from grader.model import OUTCOME_SEVERITY, CheckResult, Outcome, Report

# How good an outcome is, for comparing two runs: higher is better.
_GOODNESS: dict[Outcome, int] = {
    Outcome.ERROR: 0,
    Outcome.FAIL: 1,
    Outcome.WARN: 2,
    Outcome.NOT_RUN: 3,
    Outcome.PASS: 4,
    Outcome.MANUAL: 4,
    Outcome.NOT_APPLICABLE: 4,
}

# The order changes are listed in: worst first.
CHANGE_KINDS = ("worse", "gone", "new", "changed", "better")


@dataclass(frozen=True, slots=True)
class CheckChange:
    """How one check id differs between the old and the new report."""

    check_id: str
    title: str
    kind: str  # one of CHANGE_KINDS
    old: CheckResult | None
    new: CheckResult | None


@dataclass(frozen=True, slots=True)
class ReportDiff:
    """The whole comparison: score, verdict, warnings about comparability, and the changed checks."""

    old_score: float | None
    new_score: float | None
    old_passed: bool
    new_passed: bool
    warnings: tuple[str, ...]
    changes: tuple[CheckChange, ...]  # worst first; unchanged checks are left out

    @property
    def score_delta(self) -> float | None:
        """New minus old score (0-100), or None when either run has no score."""
        if self.old_score is None or self.new_score is None:
            return None
        return round(self.new_score - self.old_score, 1)


def checks_by_id(report: Report) -> dict[str, CheckResult]:
    """Every check of the report by id, keeping its worst occurrence (the first among equals)."""
    out: dict[str, CheckResult] = {}
    for criterion in report.criteria:
        for check in criterion.checks:
            seen = out.get(check.check_id)
            if seen is None or OUTCOME_SEVERITY.index(check.outcome) < OUTCOME_SEVERITY.index(seen.outcome):
                out[check.check_id] = check
    return out


def compatibility_warnings(old: Report, new: Report) -> tuple[str, ...]:
    """What makes the two runs less comparable (a different phase or curriculum); empty when none."""
    warnings = []
    if old.phase != new.phase:
        warnings.append(f"the reports grade different phases ({old.phase} and {new.phase})")
    if old.curriculum_sha256 != new.curriculum_sha256:
        warnings.append(f"the curricula differ ({old.curriculum!r} and {new.curriculum!r}, different sha256)")
    return tuple(warnings)


def classify(old: CheckResult | None, new: CheckResult | None) -> str | None:
    """'better', 'worse', 'new', 'gone', 'changed' (value only), or None when nothing changed."""
    if old is None and new is None:
        return None
    if old is None:
        return "new"
    if new is None:
        return "gone"
    step = _GOODNESS[new.outcome] - _GOODNESS[old.outcome]
    if step:
        return "better" if step > 0 else "worse"
    if old.score is not None and new.score is not None and not _close(old.score, new.score):
        return "better" if new.score > old.score else "worse"
    if old.outcome is not new.outcome or old.value != new.value or (old.score is None) != (new.score is None):
        return "changed"
    return None


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-9


def _sort_key(change: CheckChange) -> tuple[int, int, float, int, str]:
    old, new = change.old, change.new
    step = _GOODNESS[new.outcome] - _GOODNESS[old.outcome] if old and new else 0
    score_step = (new.score or 0.0) - (old.score or 0.0) if old and new else 0.0
    present = new or old
    severity = OUTCOME_SEVERITY.index(present.outcome) if present else 0
    return CHANGE_KINDS.index(change.kind), step, score_step, severity, change.check_id


def check_changes(old: Report, new: Report) -> tuple[CheckChange, ...]:
    """The checks that changed between the two reports, worst first."""
    before, after = checks_by_id(old), checks_by_id(new)
    changes = []
    for check_id in dict.fromkeys((*before, *after)):
        kind = classify(before.get(check_id), after.get(check_id))
        if kind is not None:
            current = after.get(check_id) or before[check_id]
            changes.append(CheckChange(check_id, current.title, kind, before.get(check_id), after.get(check_id)))
    return tuple(sorted(changes, key=_sort_key))


def diff_reports(old: Report, new: Report) -> ReportDiff:
    """Compare two reports of (ideally) the same phase and curriculum."""
    return ReportDiff(
        old_score=old.score,
        new_score=new.score,
        old_passed=old.passed,
        new_passed=new.passed,
        warnings=compatibility_warnings(old, new),
        changes=check_changes(old, new),
    )


def count_kinds(changes: Iterable[CheckChange]) -> dict[str, int]:
    """How many changes of each kind, in CHANGE_KINDS order."""
    counts = dict.fromkeys(CHANGE_KINDS, 0)
    for change in changes:
        counts[change.kind] += 1
    return counts
