"""Writing reports to disk: file names, formats, and errors the CLI can show."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from grader.errors import ReporterError
from grader.reporters import REPORTERS, report_basename, write_reports
from tests.reporters.sample import sample_report


def test_built_in_reporters_are_registered_by_name() -> None:
    assert {name: r.suffix for name, r in REPORTERS.items()} == {
        "json": ".json",
        "html": ".html",
        "md": ".md",
        "junit": ".xml",
        "sarif": ".sarif",
        "gradescope": ".gradescope.json",
    }
    assert all(r.name == name for name, r in REPORTERS.items())


@pytest.mark.parametrize(
    ("name", "basename"),
    [
        ("Ada's Task API", "grade-adas-task-api-phase1"),
        ("Café Ünïcode / API!!", "grade-cafe-unicode-api-phase1"),
        ("../../etc/passwd", "grade-etc-passwd-phase1"),
        ("タスク", "grade-project-phase1"),
        ("x" * 200, f"grade-{'x' * 60}-phase1"),
    ],
)
def test_basename_is_a_safe_slug(name: str, basename: str) -> None:
    report = sample_report()
    assert report_basename(replace(report, target=replace(report.target, name=name))) == basename


def test_writes_each_format_into_a_created_directory(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "reports"
    paths = write_reports(sample_report(), out, ["json", "html", "md", "json"])
    assert [p.name for p in paths] == [f"grade-adas-task-api-phase1{s}" for s in (".json", ".html", ".md")]
    assert json.loads(paths[0].read_text(encoding="utf-8"))["score"] == 85.8
    assert paths[1].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_unknown_format_is_an_error_before_anything_is_written(tmp_path: Path) -> None:
    known = "gradescope, html, json, junit, md, sarif"
    with pytest.raises(ReporterError, match=rf"unknown report format 'pdf' \(known formats: {known}\)"):
        write_reports(sample_report(), tmp_path / "out", ["json", "pdf"])
    assert not (tmp_path / "out").exists()


def test_an_os_error_becomes_a_reporter_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ReporterError, match="cannot create the report directory"):
        write_reports(sample_report(), blocker / "out", ["json"])


def test_an_unwritable_file_becomes_a_reporter_error(tmp_path: Path) -> None:
    (tmp_path / "grade-adas-task-api-phase1.md").mkdir()
    with pytest.raises(ReporterError, match=r"cannot write the report .*phase1\.md"):
        write_reports(sample_report(), tmp_path, ["md"])


def test_undecodable_file_names_never_crash_any_format(tmp_path: Path) -> None:
    report = sample_report()
    odd = b"/home/ada/caf\xe9".decode("utf-8", "surrogateescape")
    paths = write_reports(replace(report, target=replace(report.target, path=odd)), tmp_path, list(REPORTERS))
    assert len(set(paths)) == len(REPORTERS)  # no two formats share a file name
    assert all("caf\ufffd" in p.read_text(encoding="utf-8") for p in paths)
