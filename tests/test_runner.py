"""The runner: probes run once and in parallel, failures become `error`, never a learner's fail."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from grader.curriculum import CheckRef, Criterion, Phase
from grader.errors import UsageError
from grader.facts import FactStore, ProbeContext
from grader.model import Outcome, Verdict
from grader.plugin import Registry, check, probe
from grader.project_config import ProjectConfig
from grader.runner import judge_phase, select

CALLS: dict[str, int] = {}
_lock = threading.Lock()


def _count(name: str) -> None:
    with _lock:
        CALLS[name] = CALLS.get(name, 0) + 1


@probe("numbers", timeout_s=5)
def numbers(ctx: ProbeContext) -> list[int]:
    """A list of numbers, counted every time it is gathered."""
    _count("numbers")
    time.sleep(0.05)
    return [1, 2, 3]


@probe("broken", timeout_s=5)
def broken(ctx: ProbeContext) -> int:
    """A probe that fails."""
    raise RuntimeError("disk on fire")


@probe("slow", timeout_s=0.2)
def slow(ctx: ProbeContext) -> int:
    """A probe that outlives its timeout."""
    time.sleep(2)
    return 1


@probe("patient", timeout_s=0.5)
def patient(ctx: ProbeContext) -> int:
    """Quick itself, but needs a slower fact first: its wait must not count against its timeout."""
    ctx.fact("slowish", int)
    return 2


@probe("slowish", timeout_s=5)
def slowish(ctx: ProbeContext) -> int:
    """Takes longer than `patient` may take on its own."""
    time.sleep(1.0)
    return 1


@check("t.patient", title="patient", requires=("patient",), remediation="-")
def uses_patient(facts: Any, options: Mapping[str, Any]) -> Verdict:
    """Passes once its fact arrives."""
    return Verdict.passed("ok")


@check("t.sum", title="sum at least {min}", requires=("numbers",), remediation="add numbers", defaults={"min": 5})
def total(facts: Any, options: Mapping[str, Any]) -> Verdict:
    """Sums the numbers."""
    value = sum(facts.get("numbers", list))
    if value >= options["min"]:
        return Verdict.passed(f"sum {value}", value=value)
    return Verdict.failed(f"sum {value}", score=value / options["min"])


@check("t.len", title="three numbers", requires=("numbers",), remediation="three")
def length(facts: Any, options: Mapping[str, Any]) -> Verdict:
    """Counts the numbers."""
    return Verdict.passed("3") if len(facts.get("numbers", list)) == 3 else Verdict.failed("not 3")


@check("t.broken", title="uses the broken fact", requires=("broken",), remediation="-")
def uses_broken(facts: Any, options: Mapping[str, Any]) -> Verdict:
    """Never called."""
    raise AssertionError("must not be called when its fact failed")


@check("t.slow", title="uses the slow fact", requires=("slow",), remediation="-")
def uses_slow(facts: Any, options: Mapping[str, Any]) -> Verdict:
    """Never called in time."""
    return Verdict.passed("late")


@check("t.crash", title="crashes", requires=("numbers",), remediation="-")
def crash(facts: Any, options: Mapping[str, Any]) -> Verdict:
    """A check with a bug."""
    return Verdict.failed("bad", score=1.5)


def registry() -> Registry:
    reg = Registry()
    reg.add_module(sys.modules[__name__])
    return reg


def store(reg: Registry, tmp_path: Path) -> FactStore:
    return FactStore(reg.probes, lambda s: ProbeContext(tmp_path, ProjectConfig(), tmp_path, s, 10.0))


def phase(*criteria: Criterion) -> Phase:
    return Phase(1, "Test", 70, criteria)


def crit(text: str, *refs: CheckRef, planned: tuple[str, ...] = (), manual: str | None = None) -> Criterion:
    return Criterion(text, "s", "completion", 1.0, False, refs, planned, manual)


def ref(check_id: str, **options: Any) -> CheckRef:
    return CheckRef(check_id, 1.0, options)


def test_each_probe_runs_once_however_many_checks_need_it(tmp_path: Path) -> None:
    reg = registry()
    CALLS.clear()
    results = judge_phase(
        phase(crit("a", ref("t.sum", min=5), ref("t.len")), crit("b", ref("t.sum", min=10))),
        reg.checks,
        store(reg, tmp_path),
    )
    assert CALLS == {"numbers": 1}
    assert [r.outcome for r in results] == [Outcome.PASS, Outcome.FAIL]
    assert results[1].score == pytest.approx(0.6)
    assert results[1].checks[0].title == "sum at least 10"
    assert results[1].checks[0].remediation == "add numbers"
    assert results[0].checks[0].remediation is None


def test_a_failed_probe_makes_its_checks_errors_and_the_rest_still_run(tmp_path: Path) -> None:
    reg = registry()
    results = judge_phase(phase(crit("a", ref("t.broken")), crit("b", ref("t.len"))), reg.checks, store(reg, tmp_path))
    assert results[0].outcome is Outcome.ERROR
    assert "disk on fire" in results[0].checks[0].summary
    assert results[1].outcome is Outcome.PASS


def test_a_probe_that_times_out_is_an_error(tmp_path: Path) -> None:
    reg = registry()
    began = time.perf_counter()
    results = judge_phase(phase(crit("a", ref("t.slow"))), reg.checks, store(reg, tmp_path))
    assert results[0].outcome is Outcome.ERROR
    assert "timed out" in results[0].checks[0].summary
    assert time.perf_counter() - began < 1.5


def test_a_check_returning_an_invalid_score_is_an_error(tmp_path: Path) -> None:
    reg = registry()
    results = judge_phase(phase(crit("a", ref("t.crash"))), reg.checks, store(reg, tmp_path))
    assert results[0].outcome is Outcome.ERROR
    assert "outside 0..1" in results[0].checks[0].summary


def test_manual_and_planned_criteria_are_shown_never_scored(tmp_path: Path) -> None:
    reg = registry()
    results = judge_phase(
        phase(crit("m", manual="ask them"), crit("p", planned=("api.crud",))), reg.checks, store(reg, tmp_path)
    )
    assert [(r.outcome, r.score) for r in results] == [(Outcome.MANUAL, None), (Outcome.NOT_RUN, None)]
    assert "not yet automated" in results[1].checks[0].summary


def test_only_and_skip_select_checks_and_reject_unknown_ids() -> None:
    reg = registry()
    p = phase(crit("a", ref("t.sum"), ref("t.len")), crit("b", ref("t.len")), crit("m", manual="x"))
    assert [c.text for c in select(p, reg.checks, ["t.sum"], []).criteria] == ["a"]
    assert [len(c.checks) for c in select(p, reg.checks, [], ["t.sum"]).criteria] == [1, 1]
    with pytest.raises(UsageError, match=r"unknown check id 't\.nope'"):
        select(p, reg.checks, ["t.nope"], [])


def test_duplicate_ids_from_another_module_are_reported_not_registered() -> None:
    reg = registry()
    other = ModuleType("other_plugin")

    def impostor(facts: Any, options: Mapping[str, Any]) -> Verdict:
        """Claims an existing id."""
        return Verdict.passed("x")

    impostor.__module__ = "other_plugin"
    other.impostor = check("t.sum", title="impostor", requires=("numbers",), remediation="-")(impostor)  # type: ignore[attr-defined]
    reg.add_module(other)
    assert reg.checks["t.sum"].title == "sum at least {min}"
    assert any("already defined" in e for e in reg.load_errors)


def test_a_partly_automated_criterion_is_judged_by_its_checks_and_shows_the_rest(tmp_path: Path) -> None:
    reg = registry()
    (result,) = judge_phase(
        phase(crit("mixed", ref("t.len"), planned=("obs.dashboards",))), reg.checks, store(reg, tmp_path)
    )
    assert (result.outcome, result.score) == (Outcome.PASS, 1.0)
    assert [c.outcome for c in result.checks] == [Outcome.PASS, Outcome.NOT_RUN]


def test_time_spent_waiting_for_another_fact_does_not_count_against_a_probe(tmp_path: Path) -> None:
    reg = registry()
    (result,) = judge_phase(phase(crit("p", ref("t.patient"))), reg.checks, store(reg, tmp_path))
    assert result.outcome is Outcome.PASS, result.checks[0].summary
