"""Python suites: a fresh venv, the project's requirements plus pytest and coverage, pytest under coverage.py.

coverage.py runs with an rc file the grader writes (so a learner's `omit` or `fail_under`
cannot shape the measurement), its data and JSON report go to the workspace's `out`
directory, and pytest writes JUnit XML (xunit1, with file and line) there too.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader.probes.coverage_data import coveragepy_lines, only_sources
from grader.probes.custom_command import run_custom_command
from grader.probes.result_files import ResultFileError, parse_junit
from grader.probes.suite_run import FileCoverage, SuiteWorkspace, TestRun

_TEST_NAME = re.compile(r"^(test_.*|.*_test)\.py$")
_TEST_DIRS = frozenset({"test", "tests"})
_NOT_SOURCE_DIRS = frozenset({"venv", ".venv", "env", "build", "dist", "docs", "site-packages"})
_NOT_SOURCE_FILES = frozenset({"setup.py", "conftest.py", "noxfile.py", "tasks.py"})
_REQUIREMENT_FILES = (
    "requirements.txt", "requirements-dev.txt", "requirements-test.txt", "requirements_dev.txt",
    "dev-requirements.txt", "test-requirements.txt", "requirements/dev.txt", "requirements/test.txt",
)  # fmt: skip
_TEST_EXTRAS = ("dev", "test", "tests", "testing")
PYTHON_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "Pipfile")


def is_python_test(path: str) -> bool:
    """pytest's default test files, and anything under a tests/ directory."""
    parts = path.split("/")
    return bool(_TEST_NAME.match(parts[-1])) or any(p in _TEST_DIRS for p in parts[:-1])


def python_sources(files: Sequence[str]) -> list[str]:
    """The project's own modules: not tests, conftest, setup scripts or virtualenvs."""
    return [
        f
        for f in files
        if f.endswith(".py")
        and not is_python_test(f)
        and f.rsplit("/", 1)[-1] not in _NOT_SOURCE_FILES
        and not any(p in _NOT_SOURCE_DIRS for p in f.split("/")[:-1])
    ]


def requirement_args(ws: SuiteWorkspace) -> list[str]:
    """pip arguments for the project's dependencies: requirement files, then the project itself."""
    args = [arg for name in _REQUIREMENT_FILES if ws.repo.has(name) for arg in ("-r", name)]
    pyproject = ws.repo.pyproject or {}
    project = _table(pyproject.get("project"))
    extras_table = _table(project.get("optional-dependencies"))
    extras = [e for e in _TEST_EXTRAS if e in extras_table]
    if ws.repo.has("setup.py") or "build-system" in pyproject:
        args += ["-e", f".[{','.join(extras)}]" if extras else "."]
    elif project:  # a [project] table without a build system: install what it lists, not the project
        args += [str(d) for d in project.get("dependencies") or []]
        args += [str(d) for e in extras for d in extras_table[e] or []]
    if "poetry" in _table(pyproject.get("tool")):
        ws.notes.append("Poetry dependency groups are not installed (only the project and its main dependencies)")
    return args


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def run_python_suite(ws: SuiteWorkspace, *, timeout_s: float, install_timeout_s: float, command: str | None) -> TestRun:
    """Create a venv, install, run pytest under coverage, parse JUnit XML and coverage JSON."""
    ws.language = "python"
    if command is None and not any(f.endswith(".py") and is_python_test(f) for f in ws.repo.files):
        return ws.finish("no_tests", "no test files (test_*.py or *_test.py) were found")
    env = install_python_project(ws, [*requirement_args(ws), "pytest", "coverage"], install_timeout_s)
    if isinstance(env, TestRun):
        return env
    if command is not None:
        return run_custom_command(ws, command, timeout_s=timeout_s, env=env, coverage=lambda: None)
    return _run_pytest(ws, str(ws.root / "venv" / "bin" / "python"), env, timeout_s)


def install_python_project(ws: SuiteWorkspace, deps: Sequence[str], timeout_s: float) -> dict[str, str] | TestRun:
    """A fresh venv at `ws.root/venv` with `deps` pip-installed: the env to run in, or a TestRun saying what failed."""
    venv = ws.root / "venv"
    made = ws.run([sys.executable, "-m", "venv", "--clear", str(venv)], timeout_s=timeout_s, cwd=ws.root)
    if not made.ok:
        return ws.failed_step("install_failed", "creating the virtualenv", made)
    ws.package_manager = "pip"
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--progress-bar", "off", *deps]
    installed = ws.run(pip, timeout_s=timeout_s, network=True)
    if not installed.ok:
        return ws.failed_step("install_failed", "pip install", installed)
    ws.notes.append(f"pip install took {installed.duration_s:.1f} s")
    return {"PATH": f"{venv / 'bin'}{os.pathsep}{ws.env()['PATH']}", "VIRTUAL_ENV": str(venv)}


def _run_pytest(ws: SuiteWorkspace, python: str, env: dict[str, str], timeout_s: float) -> TestRun:
    ws.runner = "pytest"
    rc = _write_rcfile(ws)
    junit = ws.out / "junit.xml"
    no_cov = ["--no-cov"] if any((ws.root / "venv").glob("lib/python*/site-packages/pytest_cov")) else []
    result = ws.run(
        [python, "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--junitxml={junit}", "-o", "junit_family=xunit1", *no_cov],
        timeout_s=timeout_s, env=env,
    )  # fmt: skip
    if result.timed_out:
        return ws.failed_step("timed_out", "pytest", result)
    try:
        tally = parse_junit(junit, ws.src)
    except ResultFileError:
        return ws.failed_step("crashed", "pytest wrote no results", result)
    return ws.outcome("pytest", tally, result, _coverage(ws, python, rc, env))


def _write_rcfile(ws: SuiteWorkspace) -> Path:
    """The grader's coverage.py configuration: measure the whole copy, data kept outside it."""
    rc = ws.out / "coveragerc"
    rc.write_text(f"[run]\ndata_file = {ws.out / '.coverage'}\nsource =\n    {ws.src}\n", encoding="utf-8")
    return rc


def _coverage(ws: SuiteWorkspace, python: str, rc: Path, env: dict[str, str]) -> tuple[FileCoverage, ...] | None:
    report = ws.out / "coverage.json"
    result = ws.run([python, "-m", "coverage", "json", f"--rcfile={rc}", "-o", str(report)], timeout_s=300, env=env)
    if not result.ok or not report.is_file():
        ws.notes.append(f"coverage json failed (exit {result.returncode}): coverage not measured")
        return None
    return only_sources(coveragepy_lines(report, ws.src), python_sources(ws.repo.files))
