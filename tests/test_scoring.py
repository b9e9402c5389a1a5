"""Scoring is pure: criteria combine their checks; errors make a phase incomplete, never zero."""

from __future__ import annotations

from grader.model import CheckResult, CriterionResult, Outcome
from grader.scoring import combine_checks, phase_score, ratio_credit


def result(outcome: Outcome, score: float | None, weight: float = 1.0) -> CheckResult:
    return CheckResult("x", "x", outcome, score, "", weight)


def criterion(outcome: Outcome, score: float | None, weight: float = 1.0) -> CriterionResult:
    return CriterionResult("c", "s", "completion", outcome, score, weight, False)


def test_a_criterion_takes_the_weighted_mean_and_the_worst_outcome() -> None:
    outcome, score = combine_checks([result(Outcome.PASS, 1.0, 3), result(Outcome.FAIL, 0.5, 1)])
    assert (outcome, score) == (Outcome.FAIL, 0.875)


def test_an_error_in_any_check_makes_the_criterion_an_error_without_score() -> None:
    assert combine_checks([result(Outcome.PASS, 1.0), result(Outcome.ERROR, None)]) == (Outcome.ERROR, None)


def test_checks_planned_for_later_do_not_dilute_the_score() -> None:
    outcome, score = combine_checks([result(Outcome.PASS, 1.0), result(Outcome.NOT_RUN, None, weight=0)])
    assert (outcome, score) == (Outcome.PASS, 1.0)
    assert combine_checks([result(Outcome.NOT_RUN, None)]) == (Outcome.NOT_RUN, None)


def test_a_check_that_could_not_run_leaves_a_passing_criterion_unjudged_but_not_a_failing_one() -> None:
    # e.g. the service started (pass) but the rate limiter blocked the refresh-rotation check (not run)
    assert combine_checks([result(Outcome.PASS, 1.0), result(Outcome.NOT_RUN, None)]) == (Outcome.NOT_RUN, None)
    # e.g. the service did not start (fail): its other checks are not run, the criterion fails
    assert combine_checks([result(Outcome.FAIL, 0.0), result(Outcome.NOT_RUN, None)]) == (Outcome.FAIL, 0.0)


def test_phase_score_ignores_manual_not_run_and_zero_weight() -> None:
    criteria = [
        criterion(Outcome.PASS, 1.0, 2),
        criterion(Outcome.FAIL, 0.25, 2),
        criterion(Outcome.MANUAL, None, 5),
        criterion(Outcome.NOT_RUN, None, 5),
        criterion(Outcome.FAIL, 0.0, 0),
    ]
    assert phase_score(criteria) == (62.5, False)


def test_an_errored_criterion_makes_the_phase_incomplete() -> None:
    assert phase_score([criterion(Outcome.PASS, 1.0), criterion(Outcome.ERROR, None)]) == (100.0, True)


def test_nothing_scored_gives_no_score() -> None:
    assert phase_score([criterion(Outcome.NOT_RUN, None)]) == (None, False)


def test_ratio_credit_is_capped() -> None:
    assert (ratio_credit(40, 50), ratio_credit(80, 50), ratio_credit(-1, 50), ratio_credit(3, 0)) == (
        0.8,
        1.0,
        0.0,
        1.0,
    )


def test_a_zero_weight_gate_adds_no_credit_but_alone_still_decides() -> None:
    # service.start passed but the auth checks failed: the criterion is worth what auth earned
    assert combine_checks([result(Outcome.PASS, 1.0, 0), result(Outcome.FAIL, 0.0, 1)]) == (Outcome.FAIL, 0.0)
    # service.start failed: its other checks could not run, and the criterion scores 0, not nothing
    gate_failed = combine_checks([result(Outcome.FAIL, 0.0, 0), result(Outcome.NOT_RUN, None, 1)])
    assert gate_failed == (Outcome.FAIL, 0.0)
