"""GitHub Actions integration: job summary, annotations and step outputs for a finished report.

Everything reads the environment from the mapping it is given (never ``os.environ`` directly),
so the helpers are pure enough to test without GitHub.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from grader.model import Location, Outcome, Report
from grader.reporters import REPORTERS

__all__ = [
    "MAX_ANNOTATIONS",
    "annotation_lines",
    "escape_data",
    "escape_property",
    "in_github_actions",
    "publish",
    "report_path",
    "step_outputs",
    "workspace_path",
    "write_outputs",
    "write_summary",
]

#: GitHub shows at most 10 error and 10 warning annotations per step; more just clutter the log.
MAX_ANNOTATIONS = 50

_COMMANDS = {Outcome.FAIL: "error", Outcome.WARN: "warning"}


def in_github_actions(environ: Mapping[str, str]) -> bool:
    """Whether this process runs as a GitHub Actions step."""
    return environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """Escape a workflow command's message (the part after ``::``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (``file=``, ``title=``...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workspace_path(target_path: str, location: Location, workspace: str) -> str | None:
    """The location's file relative to ``workspace`` (POSIX separators), or None when outside it."""
    base = Path(target_path)
    full = (base / location.path).resolve()
    root = Path(workspace).resolve()
    try:
        relative = full.relative_to(root)
    except ValueError:
        return None
    return relative.as_posix() if relative.parts else None


def _all_annotations(report: Report, workspace: str) -> Iterator[str]:
    """Every annotation for the report's failing and warning evidence, worst first, without duplicates."""
    seen: set[str] = set()
    for outcome in (Outcome.FAIL, Outcome.WARN):
        for criterion in report.criteria:
            for check in criterion.checks:
                if check.outcome is not outcome:
                    continue
                for evidence in check.evidence:
                    if evidence.location is None:
                        continue
                    path = workspace_path(report.target.path, evidence.location, workspace)
                    if path is None:
                        continue
                    props = [f"file={escape_property(path)}"]
                    if evidence.location.line is not None:
                        props.append(f"line={evidence.location.line}")
                    props.append(f"title={escape_property(f'{check.check_id}: {check.title}')}")
                    line = f"::{_COMMANDS[outcome]} {','.join(props)}::{escape_data(evidence.message)}"
                    if line not in seen:
                        seen.add(line)
                        yield line


def annotation_lines(report: Report, workspace: str, limit: int = MAX_ANNOTATIONS) -> list[str]:
    """Workflow-command lines, capped at ``limit`` plus one notice saying how many were left out."""
    lines = list(_all_annotations(report, workspace))
    if len(lines) <= limit:
        return lines
    more = len(lines) - limit
    notice = f"{more} more annotation(s) not shown: see the full report"
    return [*lines[:limit], f"::notice title={escape_property('grade')}::{escape_data(notice)}"]


def report_path(paths: Sequence[Path]) -> Path | None:
    """The HTML report if one was written, else the first report, else None."""
    for path in paths:
        if path.suffix == ".html":
            return path
    return paths[0] if paths else None


def step_outputs(report: Report, paths: Sequence[Path]) -> dict[str, str]:
    """The step outputs: ``score``, ``passed`` and ``report-path``."""
    chosen = report_path(paths)
    return {
        "score": "" if report.score is None else f"{report.score:.1f}",
        "passed": "true" if report.passed and not report.incomplete else "false",
        "report-path": "" if chosen is None else str(chosen),
    }


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    """Append ``key=value`` lines to a ``$GITHUB_OUTPUT`` file (heredoc form for multi-line values)."""
    chunks = []
    for key, value in outputs.items():
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
            chunks.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            chunks.append(f"{key}={value}\n")
    with path.open("a", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(chunks))


def write_summary(path: Path, report: Report) -> None:
    """Append the Markdown report to a ``$GITHUB_STEP_SUMMARY`` file."""
    text = REPORTERS["md"].render(report)
    with path.open("a", encoding="utf-8", newline="\n") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


def publish(report: Report, paths: Sequence[Path], environ: Mapping[str, str], stream: TextIO | None = None) -> None:
    """In GitHub Actions: write the job summary, print annotations and write the step outputs; else nothing."""
    if not in_github_actions(environ):
        return
    out = sys.stdout if stream is None else stream
    workspace = environ.get("GITHUB_WORKSPACE") or os.getcwd()
    for line in annotation_lines(report, workspace):
        print(line, file=out)
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"):
        target = environ.get(name)
        if not target:
            continue
        try:
            if name == "GITHUB_STEP_SUMMARY":
                write_summary(Path(target), report)
            else:
                write_outputs(Path(target), step_outputs(report, paths))
        except OSError as exc:
            print(f"::warning title=grade::{escape_data(f'cannot write ${name} ({target}): {exc}')}", file=out)
    out.flush()
