"""The batch's class outputs, all read from the per-student JSON reports: overview page, gradebook, index.

- `class-overview.html`: one self-contained page (strict CSP, autoescaped): a table of students
  x criteria, sortable by any column with a tiny inline script that the CSP admits by its
  sha256 (without JavaScript the table stays in roster order); the pass rate per criterion
  and the score distribution as inline SVG; who could not be built, started or graded, and
  why; commits after the deadline; a link to every student's report.
- `gradebook.csv`: one row per student: status, score, passed, problems, per-criterion scores (0-100).
  Cells that a spreadsheet would run as a formula (= + - @, tab, CR first) get a leading '.
- `index.json`: every submission's batch record, its report paths, and the class figures.

Scores are rounded down to one decimal everywhere, as in the student's own report.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from grader.batch.model import Status, SubmissionResult, to_json
from grader.model import Outcome, Report
from grader.reporters.html import floor_to, number, template_environment
from grader.reporters.json_report import from_dict, scrub_surrogates

OVERVIEW_FILE, GRADEBOOK_FILE, INDEX_FILE = "class-overview.html", "gradebook.csv", "index.json"
INDEX_SCHEMA = "grade-batch-index/1"
START_CHECKS = ("service.start", "docker.build", "code.typescript")  # "could not build or start" when they fail
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Sorts the table by the clicked column's data-sort values (numbers numerically); the CSP admits it by hash.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable thead button").forEach(function (button) {
  button.addEventListener("click", function () {
    var th = button.closest("th"), table = th.closest("table"), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentElement.children, th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-sort"), y = b.cells[index].getAttribute("data-sort");
      var nx = parseFloat(x), ny = parseFloat(y);
      var order = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


@dataclass(frozen=True, slots=True)
class BatchMeta:
    """What the whole batch graded, and how."""

    curriculum: str
    curriculum_sha256: str
    phase: int
    phase_title: str
    deadline: str | None
    grader: str
    generated_at: str
    settings: dict[str, Any]
    pending: tuple[str, ...] = ()  # students not graded yet (the run was interrupted)


@dataclass(frozen=True, slots=True)
class Column:
    """One criterion of the phase, numbered C1..Cn, with how the class did on it."""

    number: int
    text: str
    section: str
    required: bool
    passed: int  # pass or warn
    scored: int  # pass, warn or fail

    @property
    def rate(self) -> float | None:
        """Share of the students it was judged for who passed it (0-1)."""
        return self.passed / self.scored if self.scored else None


@dataclass(frozen=True, slots=True)
class Cell:
    """One student's result on one criterion (None when they were not graded)."""

    outcome: Outcome | None
    score: float | None  # 0-1


@dataclass(frozen=True, slots=True)
class Row:
    """One student: the batch record, their report, their cells and problems."""

    result: SubmissionResult
    report: Report | None
    cells: tuple[Cell, ...]
    problems: tuple[str, ...]  # could not be graded, built or started, and why
    html_report: str | None  # link relative to the batch folder
    json_report: str | None


@dataclass(frozen=True, slots=True)
class Bin:
    """A bar of the score histogram, laid out in its SVG."""

    label: str
    count: int
    x: float
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class ClassView:
    """Everything the three outputs show."""

    meta: BatchMeta
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    bins: tuple[Bin, ...]
    pass_mark: float | None

    def count(self, verdict: str) -> int:
        """How many students ended with this verdict ('passed', 'failed', 'timed_out'...)."""
        return sum(r.result.verdict == verdict for r in self.rows)

    @property
    def not_graded(self) -> int:
        """Students with no grade (failed, timed out, crashed)."""
        return sum(r.result.status is not Status.GRADED for r in self.rows)


def write_outputs(out: Path, results: Sequence[SubmissionResult], meta: BatchMeta) -> list[Path]:
    """Write the overview page, the gradebook and the index into `out`; return their paths."""
    view = class_view(out, results, meta)
    written = {
        OVERVIEW_FILE: render_overview(view),
        GRADEBOOK_FILE: render_gradebook(view),
        INDEX_FILE: json.dumps(index_data(view), indent=2, ensure_ascii=False) + "\n",
    }
    for name, text in written.items():
        newline = "" if name == GRADEBOOK_FILE else "\n"  # the CSV writer ends its lines itself (CRLF)
        (out / name).write_text(scrub_surrogates(text), encoding="utf-8", newline=newline)
    return [out / name for name in written]


def class_view(out: Path, results: Sequence[SubmissionResult], meta: BatchMeta) -> ClassView:
    """Read every graded student's JSON report and lay out the class."""
    reports = [(r, _read_report(out, r)) for r in results]
    first = next((rep for _, rep in reports if rep is not None), None)
    keys = [(c.section, c.text) for c in first.criteria] if first else []
    rows = tuple(_row(result, report, keys) for result, report in reports)
    columns = tuple(
        Column(i + 1, c.text, c.section, c.required, *_tally([r.cells[i].outcome for r in rows]))
        for i, c in enumerate(first.criteria if first else ())
    )
    scores = [r.result.score for r in rows if r.result.status is Status.GRADED and r.result.score is not None]
    return ClassView(meta, columns, rows, histogram(scores), first.pass_mark if first else None)


def _tally(outcomes: Sequence[Outcome | None]) -> tuple[int, int]:
    """(passed, scored) of one criterion across the class: pass and warn count as passed."""
    scored = [o for o in outcomes if o is not None and o.scored]
    return sum(o in (Outcome.PASS, Outcome.WARN) for o in scored), len(scored)


def _read_report(out: Path, result: SubmissionResult) -> Report | None:
    if result.status is not Status.GRADED or not result.json_report:
        return None
    try:
        return from_dict(json.loads((out / result.slug / result.json_report).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _row(result: SubmissionResult, report: Report | None, keys: Sequence[tuple[str, str]]) -> Row:
    by_key = {(c.section, c.text): c for c in report.criteria} if report else {}
    cells = tuple(Cell(c.outcome, c.score) if (c := by_key.get(key)) is not None else Cell(None, None) for key in keys)
    html = next((name for name in result.reports if name.endswith(".html")), None)
    return Row(
        result=result,
        report=report,
        cells=cells,
        problems=problems(result, report),
        html_report=f"{result.slug}/{html}" if html else None,
        json_report=f"{result.slug}/{result.json_report}" if result.json_report else None,
    )


def problems(result: SubmissionResult, report: Report | None) -> tuple[str, ...]:
    """Why a student could not be graded, or their project could not be built or started."""
    if result.status is not Status.GRADED:
        return (f"{result.status.label}: {result.reason}",)
    if report is None:
        return ("its JSON report cannot be read",)
    found: dict[str, None] = {}
    for criterion in report.criteria:
        for check in criterion.checks:
            if check.check_id in START_CHECKS and check.outcome in (Outcome.FAIL, Outcome.ERROR):
                found[f"{check.title}: {check.outcome.label}: {check.summary}"] = None
    errors = sum(k.outcome is Outcome.ERROR for c in report.criteria for k in c.checks)
    if report.incomplete:
        found[f"incomplete: {errors} check(s) could not run because of the grader"] = None
    return tuple(found)


# The histogram's drawing area inside its SVG viewBox (0 0 HIST_W HIST_H).
HIST_W, HIST_H, HIST_LEFT, HIST_BOTTOM, HIST_TOP = 600, 170, 30, 140, 14


def histogram(scores: Sequence[float]) -> tuple[Bin, ...]:
    """Ten bins of ten points (the last holds 100), laid out as SVG bars."""
    counts = [0] * 10
    for score in scores:
        counts[min(int(score // 10), 9)] += 1
    tallest = max(counts) or 1
    width = (HIST_W - HIST_LEFT - 10) / 10
    return tuple(
        Bin(
            label=f"{i * 10}-{i * 10 + 10}",
            count=count,
            x=round(HIST_LEFT + i * width + 2, 1),
            y=round(HIST_BOTTOM - count / tallest * (HIST_BOTTOM - HIST_TOP), 1),
            height=round(count / tallest * (HIST_BOTTOM - HIST_TOP), 1),
        )
        for i, count in enumerate(counts)
    )


def pass_mark_x(pass_mark: float) -> float:
    """Where the pass mark sits on the histogram's x axis."""
    return round(HIST_LEFT + pass_mark / 100 * (HIST_W - HIST_LEFT - 10), 1)


def render_overview(view: ClassView) -> str:
    """The overview page."""
    script = Markup(SORT_SCRIPT)  # a constant: its hash goes in the CSP
    digest = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
    template = template_environment().get_template("class_overview.html.j2")
    return template.render(view=view, script=script, script_hash=f"sha256-{digest}", pass_mark_x=pass_mark_x)


def render_gradebook(view: ClassView) -> str:
    """The gradebook CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    head = ["student", "source", "status", "verdict", "score", "passed", "commit", "late_commits", "problems"]
    writer.writerow(head + [f"C{c.number} {c.text}" for c in view.columns])
    for row in view.rows:
        r = row.result
        passed = "" if r.passed is None else ("yes" if r.passed else "no")
        cells = [_score(cell.score * 100 if cell.score is not None else None) for cell in row.cells]
        values = [r.student, r.source, r.status.value, r.verdict, _score(r.score), passed, r.commit or "", r.late_total]
        writer.writerow([_safe(v) for v in [*values, "; ".join(row.problems), *cells]])
    return buffer.getvalue()


def _score(value: float | None) -> str:
    return "" if value is None else number(floor_to(value, 1))


def _safe(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def index_data(view: ClassView) -> dict[str, Any]:
    """The JSON index: the batch, the class figures, every submission with its report paths."""
    meta = view.meta
    return {
        "schema": INDEX_SCHEMA,
        "curriculum": meta.curriculum,
        "curriculum_sha256": meta.curriculum_sha256,
        "phase": meta.phase,
        "phase_title": meta.phase_title,
        "deadline": meta.deadline,
        "grader": meta.grader,
        "generated_at": meta.generated_at,
        "settings": meta.settings,
        "counts": {
            "submissions": len(view.rows) + len(meta.pending),
            "graded": len(view.rows) - view.not_graded,
            "passed": view.count("passed"),
            "failed": view.count("failed"),
            "incomplete": view.count("incomplete"),
            "not_graded": view.not_graded,
            "pending": len(meta.pending),
        },
        "criteria": [
            {"number": c.number, "text": c.text, "section": c.section, "passed": c.passed, "scored": c.scored}
            for c in view.columns
        ],
        "submissions": [
            {
                **to_json(row.result),
                "report_html": row.html_report,
                "report_json": row.json_report,
                "problems": list(row.problems),
            }
            for row in view.rows
        ],
        "pending": list(meta.pending),
    }
