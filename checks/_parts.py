"""Partial credit by sub-criteria: each part is judged on its own and the check's score is their weighted mean."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from grader.model import Evidence, Verdict
from grader.scoring import weighted_mean


@dataclass(frozen=True, slots=True)
class Part:
    """One sub-criterion: a score in 0..1 (None when it could not be judged), its weight, what was seen."""

    name: str
    score: float | None
    note: str  # e.g. "2 of 3 DTOs validated", shown in the summary
    weight: float = 1.0

    @property
    def full(self) -> bool:
        """Fully met."""
        return self.score is not None and self.score >= 1.0


def ratio(good: int, total: int) -> float:
    """good / total, 1.0 for nothing to judge."""
    return good / total if total else 1.0


def unmet(parts: Iterable[tuple[str, bool]]) -> tuple[list[str], float]:
    """(the names of the parts not met, in order; the share of parts met) from (name, met) pairs."""
    judged = list(parts)
    missing = [name for name, met in judged if not met]
    return missing, ratio(len(judged) - len(missing), len(judged))


def combine(parts: Sequence[Part], evidence: Sequence[Evidence]) -> Verdict:
    """The verdict of a check from its parts, scored by the weighted mean of the judged ones.

    Pass when every part is fully met; warn when the judged ones are but some could not be judged; not run
    when none could be; else fail. The summary names every part and what was seen.
    """
    judged = [p for p in parts if p.score is not None]
    score = round(weighted_mean([(p.score or 0.0, p.weight) for p in judged]) or 0.0, 3)
    summary = "; ".join(f"{p.name}: {p.note}" for p in parts)
    if not judged:
        return Verdict.not_run(summary, evidence=tuple(evidence))
    if all(p.full for p in judged):
        if len(judged) < len(parts):
            return Verdict.warned(summary, score=score, evidence=tuple(evidence))
        return Verdict.passed(summary, evidence=tuple(evidence))
    return Verdict.failed(summary, score=score, evidence=tuple(evidence))
