"""GitHub Actions integration: helpers on a hand-built report, then the action's grade step run for real."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.build import build_repo
from grader.github import (
    annotation_lines,
    escape_data,
    escape_property,
    publish,
    report_path,
    step_outputs,
    workspace_path,
    write_outputs,
)
from grader.model import CheckResult, CriterionResult, Evidence, Location, Outcome
from grader.reporters import REPORTERS
from tests.reporters.sample import sample_report

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"


# --- unit ---------------------------------------------------------------------------------------


def test_escaping() -> None:
    assert escape_data("100% a\r\nb: c, d") == "100%25 a%0D%0Ab: c, d"
    assert escape_property("100% a\r\nb: c, d") == "100%25 a%0D%0Ab%3A c%2C d"


def test_workspace_path(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert workspace_path(str(ws / "app"), Location("src/a.js", 3), str(ws)) == "app/src/a.js"
    assert workspace_path(str(ws), Location("src/a.js"), str(ws)) == "src/a.js"
    assert workspace_path(str(ws / "app"), Location("../lib/b.js"), str(ws)) == "lib/b.js"
    assert workspace_path(str(tmp_path / "elsewhere"), Location("a.js"), str(ws)) is None
    assert workspace_path(str(ws), Location("../../x.js"), str(ws)) is None


def test_annotations_for_failing_and_warning_evidence() -> None:
    report = sample_report()
    ws = str(Path(report.target.path).parent)
    lines = annotation_lines(report, ws)
    assert lines[0] == (
        "::error file=task-api/tests/tasks.test.js,line=42,"
        "title=tests.pass%3A The test suite runs and every test passes::failed: POST /tasks rejects an empty title"
    )
    # a location without a line still annotates the file
    no_line = "::error file=task-api/src/routes/auth.js,title=tests.coverage%3A Line coverage is at least 80%25"
    assert f"{no_line}::12/41 lines (29%25)" in lines
    warnings = [line for line in lines if line.startswith("::warning ")]
    assert warnings == [
        "::warning file=task-api/src/config.js,line=9,title=repo.env_example%3A Configuration is documented in "
        ".env.example::process.env.JWT_SECRET is read but not documented"
    ]
    # passing checks (README found) are never annotated
    assert not any("README.md" in line for line in lines)
    assert len(lines) == 9


def test_annotations_are_capped_with_a_notice() -> None:
    report = sample_report()
    evidence = tuple(Evidence(f"problem {i}", Location("src/x.js", i)) for i in range(1, 61))
    check = CheckResult("lint.x", "Lint", Outcome.FAIL, 0.0, "60 problems", 1.0, evidence=evidence)
    report = replace(
        report, criteria=(CriterionResult("Lint", "", "feature", Outcome.FAIL, 0.0, 1.0, False, (check,)),)
    )
    lines = annotation_lines(report, report.target.path, limit=50)
    assert len(lines) == 51
    assert lines[49].endswith("::problem 50")
    assert lines[50] == "::notice title=grade::10 more annotation(s) not shown: see the full report"


def test_annotations_escape_learner_text_and_skip_outside_workspace() -> None:
    report = sample_report()
    evidence = (Evidence("a\nb%", Location("src/a,b:c.js", 1)), Evidence("outside", Location("../../etc/x", 1)))
    check = CheckResult("x.y", "T, with: colon", Outcome.FAIL, 0.0, "s", 1.0, evidence=evidence)
    report = replace(report, criteria=(CriterionResult("X", "", "feature", Outcome.FAIL, 0.0, 1.0, False, (check,)),))
    assert annotation_lines(report, report.target.path) == [
        "::error file=src/a%2Cb%3Ac.js,line=1,title=x.y%3A T%2C with%3A colon::a%0Ab%25"
    ]


def test_report_path_and_outputs(tmp_path: Path) -> None:
    paths = [Path("out/r.json"), Path("out/r.html"), Path("out/r.md")]
    assert report_path(paths) == Path("out/r.html")
    assert report_path(paths[2:]) == Path("out/r.md")
    assert report_path([]) is None
    outputs = step_outputs(sample_report(), paths)
    assert outputs == {"score": "85.8", "passed": "false", "report-path": "out/r.html"}
    target = tmp_path / "output"
    target.write_text("earlier=1\n", encoding="utf-8")
    write_outputs(target, {**outputs, "multi": "a\nb"})
    text = target.read_text(encoding="utf-8")
    assert text.startswith("earlier=1\nscore=85.8\npassed=false\nreport-path=out/r.html\nmulti<<ghadelimiter_")
    assert re.search(r"multi<<(ghadelimiter_\w+)\na\nb\n\1\n$", text)


def test_publish_writes_summary_annotations_and_outputs(tmp_path: Path) -> None:
    report = sample_report()
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    environ = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": report.target.path,
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    stream = io.StringIO()
    publish(report, [Path("r/a.html")], environ, stream)
    assert REPORTERS["md"].render(report).strip() in summary.read_text(encoding="utf-8")
    assert "::error file=tests/tasks.test.js,line=42," in stream.getvalue()
    assert output.read_text(encoding="utf-8") == "score=85.8\npassed=false\nreport-path=r/a.html\n"


def test_publish_does_nothing_outside_github(tmp_path: Path) -> None:
    stream = io.StringIO()
    publish(sample_report(), [], {"GITHUB_ACTIONS": "false", "GITHUB_OUTPUT": str(tmp_path / "o")}, stream)
    assert stream.getvalue() == "" and not (tmp_path / "o").exists()


# --- integration: the action's grade step, run with bash -----------------------------------------


def _grade_step() -> dict[str, Any]:
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "grade"]
    assert step["shell"] == "bash" and "${{" not in step["run"], "inputs must reach the script through env"
    return {"step": step, "inputs": action["inputs"]}


def _render_env(inputs: dict[str, str]) -> dict[str, str]:
    """The step's env: with ``${{ inputs.X }}`` replaced by the given input or the action's default."""
    meta = _grade_step()
    declared: dict[str, Any] = meta["inputs"]

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in declared, f"undeclared input {name}"
        return inputs.get(name, str(declared[name].get("default", "")))

    env = meta["step"]["env"]
    return {key: re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", value, str(raw)) for key, raw in env.items()}


def _run_step(
    tmp_path: Path, repo: Path, inputs: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """Run the grade step's script in ``repo`` as GitHub would; `grade` is this checkout's CLI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "grade"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m grader "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    summary, output = tmp_path / "step_summary.md", tmp_path / "github_output"
    summary.touch()
    output.touch()
    env = {
        "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PYTHONPATH": str(ROOT),
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(repo),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        **_render_env(inputs),
    }
    script = _grade_step()["step"]["run"]
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc, summary, output


@pytest.mark.slow
def test_action_step_fails_below_min_score_with_annotations(tmp_path: Path) -> None:
    repo = build_repo("express-flawed", tmp_path / "repo")
    only = "--only secrets.history --only repo.env_example --only repo.readme"
    proc, summary, output = _run_step(
        tmp_path, repo, {"phase": "1", "min-score": "80", "formats": "json,md", "args": only}
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    reports = sorted((repo / "grade-reports").iterdir())
    assert [p.suffix for p in reports] == [".json", ".md"]
    md = next(p for p in reports if p.suffix == ".md").read_text(encoding="utf-8")
    assert md.strip() and md.strip() in summary.read_text(encoding="utf-8")
    secret = re.search(
        r"^::error file=src/config/aws\.js,line=(\d+),title=secrets\.history%3A [^\n]*$", proc.stdout, re.M
    )
    assert secret, proc.stdout
    assert "deleted later" in secret.group(0)
    assert "::error title=grade::below the pass mark" in proc.stdout
    outputs = output.read_text(encoding="utf-8")
    assert re.search(r"^score=\d+(\.\d)?$", outputs, re.M)
    assert "passed=false\n" in outputs
    assert f"report-path=grade-reports/{next(p for p in reports if p.suffix == '.json').name}\n" in outputs


@pytest.mark.slow
def test_action_step_passes(tmp_path: Path) -> None:
    repo = build_repo("express-good", tmp_path / "repo")
    proc, summary, output = _run_step(
        tmp_path, repo, {"phase": "1", "min-score": "80", "formats": "json,md", "args": "--only repo.readme"}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = output.read_text(encoding="utf-8")
    assert "passed=true\n" in outputs and "score=100.0\n" in outputs and "report-path=grade-reports/" in outputs
    assert summary.read_text(encoding="utf-8").strip()
    assert "::error" not in proc.stdout
