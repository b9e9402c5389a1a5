"""Reporters: turn a finished :class:`~grader.model.Report` into files people and tools read."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from grader.errors import ReporterError
from grader.model import Report
from grader.reporters.gradescope import GradescopeReporter
from grader.reporters.html import HtmlReporter
from grader.reporters.json_report import JsonReporter
from grader.reporters.junit import JunitReporter
from grader.reporters.markdown import MarkdownReporter
from grader.reporters.sarif import SarifReporter

__all__ = ["REPORTERS", "Reporter", "report_basename", "write_reports"]


class Reporter(Protocol):
    """Renders a whole report as the text of one file."""

    name: str  # the format name users pass, e.g. "json"
    suffix: str  # the file suffix, e.g. ".json"

    def render(self, report: Report) -> str:
        """The file's whole text."""
        ...


REPORTERS: Mapping[str, Reporter] = {
    r.name: r
    for r in (
        JsonReporter(),
        HtmlReporter(),
        MarkdownReporter(),
        JunitReporter(),
        SarifReporter(),
        GradescopeReporter(),
    )
}


def slugify(text: str, fallback: str = "project") -> str:
    """Lower-case ASCII words joined by '-', safe in a file name on any system."""
    ascii_text = unicodedata.normalize("NFKD", re.sub("['\u2019]", "", text)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].rstrip("-")
    return slug or fallback


def report_basename(report: Report) -> str:
    """The file name every format shares, before its suffix: ``grade-<project>-phase<N>``."""
    return f"grade-{slugify(report.target.name)}-phase{report.phase}"


def write_reports(report: Report, out_dir: Path, formats: Sequence[str]) -> list[Path]:
    """Write one file per format into ``out_dir`` (created if needed); return their paths."""
    reporters = [_reporter(name) for name in dict.fromkeys(formats)]
    base = report_basename(report)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReporterError(f"cannot create the report directory {out_dir}: {exc.strerror or exc}") from exc
    return [_write(out_dir / f"{base}{r.suffix}", r.render(report)) for r in reporters]


def _reporter(name: str) -> Reporter:
    """The built-in reporter called ``name``, or a ReporterError naming the known ones."""
    try:
        return REPORTERS[name]
    except KeyError:
        known = ", ".join(sorted(REPORTERS))
        raise ReporterError(f"unknown report format {name!r} (known formats: {known})") from None


def _write(path: Path, text: str) -> Path:
    """Write ``text`` as UTF-8, turning an OSError into a ReporterError."""
    try:
        path.write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise ReporterError(f"cannot write the report {path}: {exc.strerror or exc}") from exc
    return path
