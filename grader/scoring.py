"""Pure scoring: how check results combine into a criterion, and criteria into a phase score."""

from __future__ import annotations

from collections.abc import Sequence

from grader.model import OUTCOME_SEVERITY, CheckResult, CriterionResult, Outcome


def worst(outcomes: Sequence[Outcome]) -> Outcome:
    """The most severe outcome (error, then fail, warn, not run, pass, manual, not applicable)."""
    return min(outcomes, key=OUTCOME_SEVERITY.index)


def weighted_mean(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Mean of (score, weight) pairs; None when the weights sum to zero."""
    total = sum(w for _, w in pairs)
    return sum(s * w for s, w in pairs) / total if total > 0 else None


def combine_checks(results: Sequence[CheckResult]) -> tuple[Outcome, float | None]:
    """A criterion's outcome and score from its checks: an error anywhere makes it an error."""
    if not results:
        return Outcome.NOT_RUN, None
    if any(r.outcome is Outcome.ERROR for r in results):
        return Outcome.ERROR, None
    scored = [r for r in results if r.outcome.scored]
    if not scored:
        return worst([r.outcome for r in results]), None
    outcome = worst([r.outcome for r in scored])
    # A weighted check that could not run leaves the criterion unjudged, unless another one already fails it
    # (checks planned for a later release carry no weight and do not hold a criterion back).
    if outcome is Outcome.PASS and any(r.outcome is Outcome.NOT_RUN and r.weight > 0 for r in results):
        return Outcome.NOT_RUN, None
    pairs = [(r.score or 0.0, r.weight) for r in scored]
    # Zero-weight checks are gates (e.g. service.start): they add no credit, but alone they still decide.
    mean = weighted_mean(pairs)
    return outcome, mean if mean is not None else sum(score for score, _ in pairs) / len(pairs)


def phase_score(criteria: Sequence[CriterionResult]) -> tuple[float | None, bool]:
    """(score 0-100 or None when nothing was scored, incomplete) for a phase."""
    weighted = [c for c in criteria if c.weight > 0]
    incomplete = any(c.outcome is Outcome.ERROR for c in weighted)
    pairs = [(c.score, c.weight) for c in weighted if c.outcome.scored and c.score is not None]
    mean = weighted_mean(pairs)
    return (None if mean is None else round(mean * 100, 1)), incomplete


def ratio_credit(value: float, threshold: float) -> float:
    """Linear partial credit: the share of the threshold reached, capped at 1."""
    if threshold <= 0:
        return 1.0
    return max(0.0, min(1.0, value / threshold))
