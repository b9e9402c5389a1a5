"""Plan, collect and judge: run a phase's checks over facts gathered once."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from grader.assertions import Assertion
from grader.curriculum import CheckRef, Criterion, Phase
from grader.errors import UsageError
from grader.facts import FactError, FactNotRun, Facts, FactStore
from grader.model import AssertionResult, CheckResult, CriterionResult, Outcome, Verdict
from grader.plugin import CheckSpec
from grader.scoring import combine_checks


def select(phase: Phase, checks: Mapping[str, CheckSpec], only: Iterable[str], skip: Iterable[str]) -> Phase:
    """The phase restricted by --only / --skip (check ids); unknown ids are a usage error."""
    only, skip = tuple(only), tuple(skip)
    for check_id in only + skip:
        if check_id not in checks:
            raise UsageError(f"unknown check id {check_id!r} (see `grade checks`)")
    if not only and not skip:
        return phase
    kept = []
    for criterion in phase.criteria:
        refs = tuple(r for r in criterion.checks if (not only or r.id in only) and r.id not in skip)
        if refs:
            kept.append(_with_checks(criterion, refs))
    return Phase(phase.id, phase.title, phase.pass_mark, tuple(kept))


def _with_checks(criterion: Criterion, refs: tuple[CheckRef, ...]) -> Criterion:
    return Criterion(
        criterion.text, criterion.section, criterion.kind, criterion.weight, criterion.required, refs, (), None
    )


def judge_phase(
    phase: Phase, checks: Mapping[str, CheckSpec], store: FactStore, also: Iterable[str] = ()
) -> tuple[CriterionResult, ...]:
    """Start every needed probe at once (also those of the checks in `also`), then judge each criterion."""
    start_facts((*phase.check_ids(), *also), checks, store)
    return tuple(judge_criterion(c, checks, store) for c in phase.criteria)


def start_facts(check_ids: Iterable[str], checks: Mapping[str, CheckSpec], store: FactStore) -> None:
    """Start, in the background, every probe these checks need."""
    needed = [fact for check_id in check_ids for fact in checks[check_id].requires]
    if needed:
        store.start(*dict.fromkeys(needed))


def judge_assertions(
    assertions: Iterable[Assertion],
    phase: Phase,
    checks: Mapping[str, CheckSpec],
    store: FactStore,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[AssertionResult, ...]:
    """Re-judge each asserted check with its asserted options over the curriculum's; `off` ones are skipped.

    The options under the asserted ones are those of the check's first use in the phase, or, for a
    check the phase does not run, its defaults with `defaults` (the run's --set overrides) applied.
    Checks are pure and facts memoised, so a gate on a check the phase already ran costs no I/O.
    """
    active = [a for a in assertions if a.level != "off"]
    start_facts((a.check_id for a in active), checks, store)
    used: dict[str, CheckRef] = {}
    for criterion in phase.criteria:
        for ref in criterion.checks:
            used.setdefault(ref.id, ref)
    results: list[AssertionResult] = []
    for assertion in active:
        spec = checks[assertion.check_id]
        base = used.get(assertion.check_id)
        options = dict(base.options) if base else {**spec.defaults, **(defaults or {}).get(assertion.check_id, {})}
        options.update(assertion.options)
        result = run_check(spec, CheckRef(spec.id, base.weight if base else 1.0, options), store)
        results.append(
            AssertionResult(assertion.check_id, assertion.level, result.outcome, result.summary, assertion.source)
        )
    return tuple(results)


def judge_criterion(criterion: Criterion, checks: Mapping[str, CheckSpec], store: FactStore) -> CriterionResult:
    """One criterion: manual, not yet automated, or the combination of its checks."""
    common: dict[str, Any] = {
        "text": criterion.text,
        "section": criterion.section,
        "kind": criterion.kind,
        "weight": criterion.weight,
        "required": criterion.required,
    }
    if criterion.manual is not None:
        return CriterionResult(outcome=Outcome.MANUAL, score=None, manual_reason=criterion.manual, **common)
    results = tuple(run_check(checks[ref.id], ref, store) for ref in criterion.checks)
    results += tuple(_not_yet_automated(check_id) for check_id in criterion.planned)
    outcome, score = combine_checks(results)
    return CriterionResult(outcome=outcome, score=score, checks=results, **common)


def _not_yet_automated(check_id: str) -> CheckResult:
    return CheckResult(
        check_id=check_id,
        title=check_id,
        outcome=Outcome.NOT_RUN,
        score=None,
        summary="not yet automated: a later release of grade will judge this",
        weight=0.0,
    )


def run_check(spec: CheckSpec, ref: CheckRef, store: FactStore) -> CheckResult:
    """Run one pure check on its declared facts; a failed fact or a crash is an `error`."""
    title = _title(spec, ref.options)
    began = time.perf_counter()
    values = {fact: store.get(fact) for fact in spec.requires}
    failed = [v for v in values.values() if isinstance(v, FactError)]
    not_run = [v for v in values.values() if isinstance(v, FactNotRun)]
    if not_run and not failed:
        return CheckResult(
            check_id=spec.id,
            title=title,
            outcome=Outcome.NOT_RUN,
            score=None,
            summary=f"not run: {not_run[0].reason}",
            weight=ref.weight,
        )
    if failed:
        reason = "; ".join(f"probe {f.probe_id!r} failed: {f.message}" for f in failed)
        return _error(spec, ref, title, f"could not gather facts: {reason}")
    try:
        verdict = spec.func(Facts(values), ref.options)
        _validate(verdict)
    except Exception as exc:  # a broken check is the grader's fault, never the learner's
        return _error(spec, ref, title, f"check crashed: {type(exc).__name__}: {exc}")
    failing = verdict.outcome in (Outcome.FAIL, Outcome.WARN)
    return CheckResult(
        check_id=spec.id,
        title=title,
        outcome=verdict.outcome,
        score=verdict.score,
        summary=verdict.summary,
        weight=ref.weight,
        value=verdict.value,
        threshold=verdict.threshold,
        unit=verdict.unit,
        evidence=verdict.evidence,
        remediation=spec.remediation if failing else None,
        duration_ms=(time.perf_counter() - began) * 1000,
    )


def _title(spec: CheckSpec, options: Mapping[str, Any]) -> str:
    try:
        return spec.title.format(**options)
    except (KeyError, IndexError, ValueError):
        return spec.title


def _validate(verdict: Verdict) -> None:
    if not isinstance(verdict, Verdict):
        raise TypeError(f"a check must return a Verdict, not {type(verdict).__name__}")
    if verdict.outcome.scored:
        if verdict.score is None or not 0.0 <= verdict.score <= 1.0:
            raise ValueError(f"score {verdict.score!r} is outside 0..1")
    elif verdict.score is not None:
        raise ValueError(f"an unscored outcome ({verdict.outcome.label}) cannot carry a score")
    if verdict.outcome in (Outcome.ERROR, Outcome.MANUAL):
        raise ValueError(f"a check cannot return {verdict.outcome.label}; raise or use the curriculum")


def _error(spec: CheckSpec, ref: CheckRef, title: str, message: str) -> CheckResult:
    return CheckResult(
        check_id=spec.id, title=title, outcome=Outcome.ERROR, score=None, summary=message, weight=ref.weight
    )
