"""Terminal output with rich: progress while probes run, the results table, the check catalogue."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from grader.curriculum import Criterion, Curriculum
from grader.diff import ReportDiff, count_kinds
from grader.errors import UsageError
from grader.facts import ProbeOutcome
from grader.model import OUTCOME_SEVERITY, CheckResult, Outcome, Report
from grader.plugin import Registry

STYLE = {
    Outcome.PASS: "green",
    Outcome.FAIL: "red",
    Outcome.WARN: "yellow",
    Outcome.ERROR: "magenta",
    Outcome.NOT_RUN: "blue",
    Outcome.MANUAL: "cyan",
    Outcome.NOT_APPLICABLE: "dim",
}


class Progress:
    """A live line listing the probes still running (stderr, only on a terminal)."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self._console = console
        self._running: dict[str, None] = {}
        self._done = 0
        self._lock = threading.Lock()
        self._live = Live(self._render(), console=console, transient=True) if enabled and console.is_terminal else None
        self._log = enabled and not console.is_terminal

    def __enter__(self) -> Progress:
        if self._live:
            self._live.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._live:
            self._live.stop()

    def on_probe(self, probe_id: str, event: str, outcome: ProbeOutcome | None) -> None:
        """FactStore listener: track which probes run and report each as it finishes."""
        with self._lock:
            if event == "start":
                self._running[probe_id] = None
            else:
                self._running.pop(probe_id, None)
                self._done += 1
        if self._live:
            self._live.update(self._render())
        elif self._log and outcome is not None:
            state = "ok" if outcome.error is None else f"error: {outcome.error}"
            self._console.print(f"probe {probe_id}: {state} ({outcome.duration_ms / 1000:.1f} s)", markup=False)

    def _render(self) -> Spinner:
        running = ", ".join(self._running) or "starting"
        return Spinner("dots", text=Text(f"gathering facts ({self._done} done): {running}"))


def print_report(console: Console, report: Report) -> None:
    """The results table, failures first."""
    table = Table(title=f"{report.phase_title} — {report.target.name}", title_justify="left")
    for column in ("outcome", "criterion", "score", "summary"):
        table.add_column(column)
    for criterion in sorted(report.criteria, key=lambda c: OUTCOME_SEVERITY.index(c.outcome)):
        summary = criterion.manual_reason or "; ".join(f"{r.check_id}: {r.summary}" for r in criterion.checks)
        score = "—" if criterion.score is None else f"{criterion.score * 100:.0f}"
        table.add_row(
            Text(criterion.outcome.label, style=STYLE[criterion.outcome]), Text(criterion.text), score, Text(summary)
        )
    console.print(table)
    for error in report.plugin_errors:
        console.print(Text(f"plug-in: {error}", style="magenta"))


def print_catalogue(console: Console, registry: Registry, curriculum: Curriculum, phase_id: int | None) -> None:
    """Registered checks, and how every criterion of one phase (or all) is judged."""
    if phase_id is None:
        checks = Table(title="Checks")
        for column in ("check id", "title", "facts", "from"):
            checks.add_column(column)
        for spec in sorted(registry.checks.values(), key=lambda s: s.id):
            checks.add_row(spec.id, Text(spec.title), ", ".join(spec.requires), spec.origin)
        console.print(checks)
    phases = [curriculum.phase(phase_id)] if phase_id is not None else list(curriculum.phases.values())
    for phase in phases:
        table = Table(title=f"{phase.title} (pass mark {phase.pass_mark:g})", title_justify="left")
        for column in ("criterion", "kind", "weight", "judged by"):
            table.add_column(column)
        for c in phase.criteria:
            table.add_row(Text(c.text), c.kind, f"{c.weight:g}" + (" required" if c.required else ""), _judged_by(c))
        console.print(table)
    for error in registry.load_errors:
        console.print(Text(f"plug-in: {error}", style="magenta"))


def _judged_by(criterion: Criterion) -> Text:
    if criterion.manual is not None:
        return Text("manual: " + criterion.manual, style="cyan")
    if criterion.planned:
        return Text("not yet automated: " + ", ".join(criterion.planned), style="blue")
    parts = []
    for ref in criterion.checks:
        opts = ", ".join(f"{k}={v}" for k, v in ref.options.items())
        parts.append(ref.id + (f" ({opts})" if opts else ""))
    return Text("; ".join(parts))


def print_explain(console: Console, registry: Registry, curriculum: Curriculum, check_id: str) -> None:
    """What a check looks at, its threshold, the facts it needs and how to fix a failure."""
    used_by = [
        f"phase {p.id}: {c.text}"
        for p in curriculum.phases.values()
        for c in p.criteria
        if check_id in c.planned or any(r.id == check_id for r in c.checks)
    ]
    spec = registry.checks.get(check_id)
    if spec is None:
        if not used_by:
            raise UsageError(f"unknown check id {check_id!r} (see `grade checks`)")
        console.print(Text(f"{check_id}: not yet automated; a later release of grade will judge it."))
    else:
        console.print(Text(f"{spec.id}: {spec.title}", style="bold"))
        console.print(Text(spec.description))
        console.print(Text("Facts: " + ", ".join(f"{r} ({registry.probes[r].description})" for r in spec.requires)))
        if spec.defaults:
            threshold = f"; threshold option: {spec.threshold}" if spec.threshold else ""
            console.print(Text("Options: " + ", ".join(f"{k}={v!r}" for k, v in spec.defaults.items()) + threshold))
        console.print(Text("How to fix a failure: " + spec.remediation))
    console.print(Text("Used by: " + ("; ".join(used_by) or "no criterion of this curriculum")))


def print_diff(console: Console, diff: ReportDiff) -> None:
    """The score change, then one row per changed check, worst first."""
    old = "no score" if diff.old_score is None else f"{diff.old_score:.1f}"
    new = "no score" if diff.new_score is None else f"{diff.new_score:.1f}"
    delta = diff.score_delta
    change = "" if delta is None else f" ({delta:+.1f})"
    style = "" if not delta else "green" if delta > 0 else "red"
    line = Text("Score: ")
    line.append(f"{old} -> {new}{change}", style=style)
    if diff.old_passed != diff.new_passed:
        line.append(f"; now {'PASSED' if diff.new_passed else 'FAILED'}", style="green" if diff.new_passed else "red")
    console.print(line)
    if not diff.changes:
        console.print("No check changed.")
        return
    table = Table(show_lines=False)
    for column in ("Change", "Check", "Outcome", "Score", "Value"):
        table.add_column(column)
    for c in diff.changes:
        table.add_row(
            Text(c.kind, style=_KIND_STYLE[c.kind]),
            c.check_id,
            _pair(c.old.outcome.label if c.old else None, c.new.outcome.label if c.new else None),
            _pair(_score(c.old), _score(c.new)),
            _pair(_value(c.old), _value(c.new)),
        )
    console.print(table)
    counts = ", ".join(f"{n} {kind}" for kind, n in count_kinds(diff.changes).items() if n)
    console.print(counts)


_KIND_STYLE = {"worse": "red", "gone": "yellow", "new": "blue", "changed": "", "better": "green"}


def _pair(old: str | None, new: str | None) -> str:
    if old == new:
        return old or "—"
    return f"{old or '—'} -> {new or '—'}"


def _score(check: CheckResult | None) -> str | None:
    return None if check is None or check.score is None else f"{check.score * 100:.1f}"


def _value(check: CheckResult | None) -> str | None:
    if check is None or check.value is None:
        return None
    return f"{check.value:g} {check.unit}".rstrip()
